"""OpenTelemetry traces: on when an OTLP endpoint is configured, nothing at all otherwise.

`setup()` (every process, from the site's AppConfig) installs the SDK, the OTLP/HTTP
exporter and the Django and Celery instrumentations when `HKUBE_TRACING_ENDPOINT` or
`OTEL_EXPORTER_OTLP_ENDPOINT` is set. When neither is, it returns at once and every
function here is a check of one global: no SDK object, no thread, no span.

A job's spans come from several processes (the engine, each algorithm worker) at
different times, so their identities are derived, not passed around: the trace id and the
job's span id from the job id, a node's span id from (job id, node name). A worker can
then open a task span under its node, and the job and node spans are written when the job
ends, with the start and end times of their rows. The job's trace id is thus known from
its id alone (`job_trace_id`). Celery's own spans (publish, run) nest under the node
because its messages are sent inside the node's context (the instrumentation puts the
context in the message headers).

Spans: `job <pipeline>` -> `node <name>` -> `task <name>` (one batch item) ->
`algorithm <name>` (the algorithm process running it) -> the algorithm's own
`startSpan`/`finishSpan` spans, nested as it opens them. All carry `hkube.job_id`.
"""

from __future__ import annotations

import contextvars
import hashlib
import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext, Status, StatusCode, TraceFlags

log = logging.getLogger(__name__)

_tracer: trace.Tracer | None = None
_provider: TracerProvider | None = None
# The span id the next span gets, for spans written after the fact (job, node).
_preset_span_id: contextvars.ContextVar[int | None] = contextvars.ContextVar("hkube_span_id", default=None)
# The trace id the next root span gets: a job's span is a root with its job's trace id.
_preset_trace_id: contextvars.ContextVar[int | None] = contextvars.ContextVar("hkube_trace_id", default=None)

Attributes = Mapping[str, str | int | float | bool]


class _DerivedIds(IdGenerator):
    """Random ids, except a span written for a job or node gets its derived ids."""

    def __init__(self) -> None:
        self._random = RandomIdGenerator()

    def generate_span_id(self) -> int:
        preset = _preset_span_id.get()
        return preset if preset is not None else self._random.generate_span_id()

    def generate_trace_id(self) -> int:
        preset = _preset_trace_id.get()
        return preset if preset is not None else self._random.generate_trace_id()


def endpoint() -> str:
    """Where traces go (OTLP over HTTP, the `/v1/traces` path added to a base URL), or ''."""
    base = str(getattr(settings, "HKUBE_TRACING_ENDPOINT", "") or "")
    if not base:
        return ""
    return base if base.rstrip("/").endswith("/v1/traces") else base.rstrip("/") + "/v1/traces"


def setup(service_name: str = "hkube") -> bool:
    """Install tracing in this process if an endpoint is configured; True when on."""
    global _tracer, _provider
    url = endpoint()
    if not url or _tracer is not None:
        return _tracer is not None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    name = os.environ.get("OTEL_SERVICE_NAME") or service_name
    _provider = TracerProvider(resource=Resource.create({"service.name": name}), id_generator=_DerivedIds())
    _provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=url)))
    trace.set_tracer_provider(_provider)
    _tracer = _provider.get_tracer("hkube")
    DjangoInstrumentor().instrument(tracer_provider=_provider)
    CeleryInstrumentor().instrument(tracer_provider=_provider)  # type: ignore[no-untyped-call]
    log.info("tracing to %s", url)
    return True


def enabled() -> bool:
    return _tracer is not None


def flush() -> None:
    """Export what is buffered (a worker about to exit, a test about to read)."""
    if _provider is not None:
        _provider.force_flush()


# --- identities ----------------------------------------------------------------------------------


def _derive(text: str, bits: int) -> int:
    value = int.from_bytes(hashlib.sha256(text.encode()).digest()[: bits // 8], "big")
    return value or 1  # zero is the invalid id


def _trace_id(job_id: str) -> int:
    return _derive(f"trace:{job_id}", 128)


def job_trace_id(job_id: str) -> str | None:
    """The job's trace id (32 hex digits) when tracing is on."""
    return f"{_trace_id(job_id):032x}" if enabled() else None


def _context(job_id: str, span_id: int) -> otel_context.Context:
    parent = SpanContext(
        _trace_id(job_id), span_id, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED)
    )
    return trace.set_span_in_context(NonRecordingSpan(parent))


def _job_span_id(job_id: str) -> int:
    return _derive(f"job:{job_id}", 64)


def _node_span_id(job_id: str, node_name: str) -> int:
    return _derive(f"node:{job_id}/{node_name}", 64)


# --- spans ---------------------------------------------------------------------------------------


def _ns(ms: int) -> int:
    return ms * 1_000_000


def _write(
    name: str,
    span_id: int,
    parent: otel_context.Context,
    start_ms: int,
    end_ms: int,
    attrs: Attributes,
    error: str | None,
) -> None:
    assert _tracer is not None
    token = _preset_span_id.set(span_id)
    try:
        span = _tracer.start_span(name, context=parent, attributes=dict(attrs), start_time=_ns(start_ms))
    finally:
        _preset_span_id.reset(token)
    if error:
        span.set_status(Status(StatusCode.ERROR, error))
    span.end(end_time=_ns(max(end_ms, start_ms)))


def write_job(job_id: str, pipeline: str, start_ms: int, end_ms: int, status: str, error: str | None) -> None:
    """The job's span, written once it ended (its children point at its derived id)."""
    if _tracer is None:
        return
    attrs = {"hkube.job_id": job_id, "hkube.pipeline": pipeline, "hkube.status": status}
    token = _preset_trace_id.set(_trace_id(job_id))  # a root span: its trace id is generated
    try:
        _write(
            f"job {pipeline}", _job_span_id(job_id), otel_context.Context(), start_ms, end_ms, attrs, error
        )
    finally:
        _preset_trace_id.reset(token)


def write_node(
    job_id: str, node_name: str, algorithm: str, start_ms: int, end_ms: int, status: str, error: str | None
) -> None:
    """A node's span under its job, written once the job ended."""
    if _tracer is None:
        return
    attrs: dict[str, str | int] = {
        "hkube.job_id": job_id,
        "hkube.node": node_name,
        "hkube.algorithm": algorithm,
        "hkube.status": status,
    }
    parent = _context(job_id, _job_span_id(job_id))
    _write(f"node {node_name}", _node_span_id(job_id, node_name), parent, start_ms, end_ms, attrs, error)


@contextmanager
def in_node(job_id: str, node_name: str) -> Iterator[None]:
    """Make the node current, so what is sent meanwhile (Celery's publish span and the
    context in the message headers) belongs to the job's trace under this node."""
    if _tracer is None:
        yield
        return
    token = otel_context.attach(_context(job_id, _node_span_id(job_id, node_name)))
    try:
        yield
    finally:
        otel_context.detach(token)


@contextmanager
def task_span(
    job_id: str, node_name: str, task_id: str, batch_index: int, algorithm: str
) -> Iterator[Span | None]:
    """One task (a batch item) in a worker, under its node."""
    if _tracer is None:
        yield None
        return
    attrs: dict[str, str | int] = {
        "hkube.job_id": job_id,
        "hkube.node": node_name,
        "hkube.task_id": task_id,
        "hkube.batch_index": batch_index,
        "hkube.algorithm": algorithm,
    }
    parent = _context(job_id, _node_span_id(job_id, node_name))
    with _tracer.start_as_current_span(f"task {node_name}", context=parent, attributes=attrs) as span:
        yield span


@contextmanager
def child_span(name: str, attrs: Attributes) -> Iterator[Span | None]:
    """A span under the current one (the algorithm's run under its task)."""
    if _tracer is None:
        yield None
        return
    with _tracer.start_as_current_span(name, attributes=dict(attrs)) as span:
        yield span


def fail(span: Span | None, error: str) -> None:
    if span is not None:
        span.set_status(Status(StatusCode.ERROR, error))


class AlgorithmSpans:
    """The spans an algorithm opens with `startSpan {name, tags}` and closes with
    `finishSpan {tags, error}`, nested in the order it opens them, under `parent`.
    Spans it leaves open are closed when its task ends (`close`)."""

    def __init__(self, parent: Span | None, job_id: str) -> None:
        self._parent = parent
        self._job_id = job_id
        self._open: list[Span] = []

    def start(self, data: Any) -> None:
        if _tracer is None or self._parent is None:
            return
        data = data if isinstance(data, dict) else {}
        under = self._open[-1] if self._open else self._parent
        attrs: dict[str, Any] = {"hkube.job_id": self._job_id, **_tags(data.get("tags"))}
        span = _tracer.start_span(
            str(data.get("name") or "span"), context=trace.set_span_in_context(under), attributes=attrs
        )
        self._open.append(span)

    def finish(self, data: Any) -> None:
        if not self._open:
            return
        data = data if isinstance(data, dict) else {}
        span = self._open.pop()
        span.set_attributes(_tags(data.get("tags")))
        if data.get("error"):
            span.set_status(Status(StatusCode.ERROR, str(data["error"])))
        span.end()

    def close(self) -> None:
        while self._open:
            self._open.pop().end()


def _tags(tags: object) -> dict[str, str | int | float | bool]:
    """An algorithm's tags as span attributes (values that are not scalars become text)."""
    if not isinstance(tags, dict):
        return {}
    return {str(k): v if isinstance(v, str | int | float | bool) else str(v) for k, v in tags.items()}
