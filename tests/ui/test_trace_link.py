"""The job page links its trace id to a trace viewer when HKUBE_TRACE_URL_TEMPLATE is set."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from hkube_site import tracing
from pipelines.ui import views
from tests.ui.test_pages import make_job

TRACE = "0af7651916cd43dd8448eb211c80319c"


@pytest.fixture
def traced(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tracing on, as far as the page can tell: the job's trace id is known."""
    monkeypatch.setattr(tracing, "job_trace_id", lambda job_id: TRACE)


def test_the_trace_id_links_to_the_viewer(client: Client, db: None, settings: Any, traced: None) -> None:
    settings.HKUBE_TRACE_URL_TEMPLATE = "http://jaeger:16686/trace/{traceId}"
    make_job("tracedjob01")
    page = client.get("/jobs/tracedjob01/").content.decode()
    assert f'<a href="http://jaeger:16686/trace/{TRACE}" target="_blank" rel="noopener">{TRACE}</a>' in page


def test_without_a_template_the_trace_id_is_plain_text(
    client: Client, db: None, settings: Any, traced: None
) -> None:
    settings.HKUBE_TRACE_URL_TEMPLATE = ""
    make_job("tracedjob02")
    page = client.get("/jobs/tracedjob02/").content.decode()
    assert f'id="job-trace">{TRACE}</dd>' in page and "/trace/" not in page


def test_no_trace_no_link_and_only_http_templates(settings: Any) -> None:
    settings.HKUBE_TRACE_URL_TEMPLATE = "https://jaeger.example/trace/{traceId}?uiEmbed=v0"
    assert views.trace_url(TRACE) == f"https://jaeger.example/trace/{TRACE}?uiEmbed=v0"
    assert views.trace_url(None) is None
    settings.HKUBE_TRACE_URL_TEMPLATE = "javascript:alert('{traceId}')"
    assert views.trace_url(TRACE) is None
