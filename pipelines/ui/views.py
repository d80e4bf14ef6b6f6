"""The job pages: a list of recent jobs and one job with its pipeline graph.

Server-rendered, no build step and nothing from a CDN. The pages render their first state
here and then refresh themselves with small scripts: the list from `list.json`, a job from
the REST API (`exec/status`, `graph/parsed`). The scripts and the stylesheet are served by
`asset` from this app's static folder, so the pages work under gunicorn without a
collectstatic step or a static-file server in front.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.contrib.staticfiles import views as staticfiles_views
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.urls import get_script_prefix, reverse

from hkube_site import tracing
from pipelines import services
from pipelines.models import FINAL_JOB_STATUSES, Job, JobStatus, now_ms

LIST_LIMIT = 100
ITEMS_PAGE = 200
ASSET_NAME = re.compile(r"^[\w-]+\.(css|js)$")


def _api_base() -> str:
    return f"{get_script_prefix()}api/v1/"


def _time_text(ms: int | None) -> str:
    if not ms:
        return ""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _progress(job: Job) -> float:
    if job.status in FINAL_JOB_STATUSES and job.status_data:
        return float(job.status_data.get("progress", 0))
    if job.status == JobStatus.PENDING:
        return 0.0
    return float(services.status_data(job)["progress"])


def job_row(job: Job) -> dict[str, Any]:
    """One line of the job list, as the template and `list.json` both show it."""
    end = job.end_time if job.status in FINAL_JOB_STATUSES else None
    return {
        "jobId": job.job_id,
        "pipeline": job.pipeline_name,
        "status": job.status,
        "progress": _progress(job),
        "startTime": job.start_time,
        "startText": _time_text(job.start_time),
        "durationMs": (end or now_ms()) - job.start_time,
        "types": job.types,
    }


def _filtered_jobs(query: Any) -> tuple[QuerySet[Job], dict[str, str]]:
    status = query.get("status") or ""
    pipeline = (query.get("pipeline") or "").strip()
    jobs = Job.objects.order_by("-start_time")
    if status in JobStatus.values:
        jobs = jobs.filter(status=status)
    else:
        status = ""
    if pipeline:
        jobs = jobs.filter(pipeline_name__icontains=pipeline)
    return jobs, {"status": status, "pipeline": pipeline}


def job_list(request: HttpRequest) -> HttpResponse:
    jobs, filters = _filtered_jobs(request.GET)
    rows = [job_row(job) for job in jobs[:LIST_LIMIT]]
    context = {
        "rows": rows,
        "filters": filters,
        "statuses": JobStatus.values,
        "config": {"dataUrl": reverse("jobs:list-data"), "jobUrl": reverse("jobs:list"), "limit": LIST_LIMIT},
    }
    return render(request, "pipelines/ui/jobs.html", context)


def job_list_data(request: HttpRequest) -> JsonResponse:
    jobs, filters = _filtered_jobs(request.GET)
    return JsonResponse({"jobs": [job_row(job) for job in jobs[:LIST_LIMIT]], "filters": filters})


def trace_url(trace_id: str | None) -> str | None:
    """The trace viewer's page of a trace (`HKUBE_TRACE_URL_TEMPLATE`, `{traceId}` replaced),
    or None: no trace, no template, or a template that is not an http(s) URL."""
    template = str(getattr(settings, "HKUBE_TRACE_URL_TEMPLATE", "") or "")
    if not trace_id or not template.startswith(("http://", "https://")):
        return None
    return template.replace("{traceId}", trace_id)


def job_detail(request: HttpRequest, job_id: str) -> HttpResponse:
    job = Job.objects.filter(job_id=job_id).first()
    if job is None:
        raise Http404(f"job {job_id} Not Found")
    api = _api_base()
    status = services.status_object(job)
    trace_id = tracing.job_trace_id(job.job_id)
    context = {
        "job": job,
        "status": status,
        "start_text": _time_text(job.start_time),
        "end_text": _time_text(job.end_time),
        "trace_id": trace_id,
        "trace_url": trace_url(trace_id),
        "links": {
            "results": f"{api}exec/results/{job.job_id}",
            "pipeline": f"{api}exec/pipelines/{job.job_id}",
            "graph": f"{api}graph/raw/{job.job_id}",
            "admin": reverse("admin:pipelines_job_change", args=[job.job_id]),
        },
        "config": {
            "jobId": job.job_id,
            "api": api,
            "final": job.status in FINAL_JOB_STATUSES,
            "pageSize": ITEMS_PAGE,
            "finalStatuses": [str(s) for s in FINAL_JOB_STATUSES],
        },
    }
    return render(request, "pipelines/ui/job.html", context)


def asset(request: HttpRequest, name: str) -> HttpResponseBase:
    """A stylesheet or script of the job pages (only flat names under pipelines/ui/)."""
    if not ASSET_NAME.match(name):
        raise Http404(name)
    response: HttpResponseBase = staticfiles_views.serve(request, f"pipelines/ui/{name}", insecure=True)
    response["Cache-Control"] = "no-cache"
    return response
