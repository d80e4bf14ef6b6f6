"""Without an endpoint, tracing is off: no provider, no span objects, no traceId."""

from __future__ import annotations

from django.test import Client

from hkube_site import tracing
from pipelines.models import Job, JobStatus

PIPELINE = {"name": "p", "nodes": [{"nodeName": "a", "algorithmName": "green-alg", "input": []}]}


def test_no_endpoint_means_no_tracer_and_no_spans() -> None:
    assert tracing.endpoint() == ""
    assert not tracing.enabled()
    with tracing.task_span("j", "a", "t", 0, "alg") as span:
        assert span is None
    spans = tracing.AlgorithmSpans(None, "j")
    spans.start({"name": "load"})
    spans.finish({})
    spans.close()
    assert tracing.job_trace_id("j") is None


def test_the_endpoint_gets_the_otlp_traces_path(settings: object) -> None:
    settings.HKUBE_TRACING_ENDPOINT = "http://collector:4318/"  # type: ignore[attr-defined]
    assert tracing.endpoint() == "http://collector:4318/v1/traces"
    settings.HKUBE_TRACING_ENDPOINT = "http://collector:4318/v1/traces"  # type: ignore[attr-defined]
    assert tracing.endpoint() == "http://collector:4318/v1/traces"


def test_status_has_no_trace_id_when_tracing_is_off(client: Client, db: None) -> None:
    Job.objects.create(
        job_id="offjob",
        pipeline_name="p",
        status=JobStatus.COMPLETED,
        pipeline=PIPELINE,
        user_pipeline=PIPELINE,
    )
    body = client.get("/api/v1/exec/status/offjob").json()
    assert body["jobId"] == "offjob" and "traceId" not in body
