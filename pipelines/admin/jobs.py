"""Jobs in the admin: filters and search, the job graph with live node states (the /jobs/
pages' drawing code), nodes, each task's log and result, downloads, and the actions stop /
pause / resume / rerun / re-run from a node. Every action calls a `pipelines.services`
function; nothing here writes a row."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, get_script_prefix, path, reverse
from django.utils.html import format_html, format_html_join

from hkube_site import tracing
from hkube_site.errors import ApiError
from hkube_site.object_store import get_storage
from hkube_site.validation_error import ValidationError
from pipelines import logs, services
from pipelines.models import FINAL_JOB_STATUSES, Job, JobNode, Task, now_ms
from storage.base import StorageError

HOUR_MS = 3600 * 1000
SHOW_LIMIT = 1_000_000  # bytes: a bigger stored output is only offered as a download
WINDOWS = {
    "1h": ("last hour", HOUR_MS),
    "24h": ("last 24 hours", 24 * HOUR_MS),
    "7d": ("last 7 days", 168 * HOUR_MS),
}

# What a service refuses with HKube's message: shown to the user, never a 500.
REFUSED = (ApiError, ValidationError)


def api_url(path_: str) -> str:
    return f"{get_script_prefix()}api/v1/{path_}"


class StartedWithin(admin.SimpleListFilter):
    """`start_time` is epoch milliseconds (HKube's), so Django's date filter does not apply."""

    title = "started"
    parameter_name = "started"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(key, label) for key, (label, _) in WINDOWS.items()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        window = WINDOWS.get(self.value() or "")
        return queryset.filter(start_time__gte=now_ms() - window[1]) if window else queryset


class JobNodeInline(admin.TabularInline[JobNode, Job]):
    model = JobNode
    extra = 0
    fields = ("node_name", "algorithm_name", "status", "total", "succeed", "failed", "error")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class RunFromNodeForm(forms.Form):
    node_name = forms.ChoiceField(label="re-run from node")


JobAction = Callable[[str], Any]


def _rerun(job_id: str) -> str:
    return f"job {services.rerun_job({'jobId': job_id}).job_id} started (rerun of {job_id})"


ACTIONS: dict[str, tuple[str, JobAction]] = {
    "stop": ("stopped", lambda job_id: services.stop_job(job_id)),
    "pause": ("paused", services.pause_job),
    "resume": ("resumed", services.resume_job),
    "rerun": ("", _rerun),
}


def _run_action(request: HttpRequest, name: str, job_id: str) -> None:
    done, action = ACTIONS[name]
    try:
        outcome = action(job_id)
    except REFUSED as exc:
        messages.error(request, f"{name} {job_id}: {exc.message}")
        return
    if isinstance(outcome, str):
        messages.success(request, outcome)
    elif outcome is False:
        messages.warning(request, f"job {job_id} was not running: nothing to stop")
    else:
        messages.success(request, f"job {job_id} {done}")


def _bulk(name: str) -> Callable[[Any, HttpRequest, QuerySet[Job]], None]:
    def action(model_admin: Any, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        for job_id in queryset.values_list("job_id", flat=True):
            _run_action(request, name, job_id)

    action.__name__ = f"{name}_jobs"
    return admin.action(description=f"{name.capitalize()} the selected jobs")(action)


@admin.register(Job)
class JobAdmin(admin.ModelAdmin[Job]):
    list_display = ("job_id", "pipeline_name", "experiment", "status", "progress", "priority", "started")
    list_filter = ("status", "pipeline_name", "experiment", StartedWithin)
    search_fields = ("job_id", "pipeline_name", "external_id", "error", "tags")
    ordering = ("-start_time",)
    inlines = [JobNodeInline]
    actions = [_bulk(name) for name in ACTIONS]
    change_form_template = "admin/pipelines/job/change_form.html"
    # The status is shown live above (admin-job.js); these are as the page was loaded.
    fields = ("job_id", "pipeline_name", "experiment", "types", "priority", "error", "reason")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # jobs start from a pipeline's "run" (or the API)

    def save_model(self, request: HttpRequest, obj: Job, form: Any, change: bool) -> None:
        """Every field is read-only: a job changes only through its actions (the services)."""

    @admin.display(description="progress")
    def progress(self, job: Job) -> str:
        if job.status in FINAL_JOB_STATUSES:
            return f"{(job.status_data or {}).get('progress', 0)}%"
        return f"{services.status_data(job)['progress']}%" if job.status != "pending" else "0%"

    @admin.display(description="started", ordering="start_time")
    def started(self, job: Job) -> str:
        return format_html('<time data-ms="{}">{}</time>', job.start_time, job.start_time)

    def get_urls(self) -> list[URLPattern]:
        act = self.admin_site.admin_view(self.action_view)
        from_node = self.admin_site.admin_view(self.from_node_view)
        return [
            path("<path:object_id>/do/<str:action>/", act, name="pipelines_job_action"),
            path("<path:object_id>/from-node/", from_node, name="pipelines_job_from_node"),
            *super().get_urls(),
        ]

    def action_view(self, request: HttpRequest, object_id: str, action: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        job = get_object_or_404(Job, pk=object_id)
        if action not in ACTIONS:
            messages.error(request, f"unknown action {action!r}")
        else:
            _run_action(request, action, job.job_id)
        return HttpResponseRedirect(reverse("admin:pipelines_job_change", args=[job.job_id]))

    def from_node_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        job = get_object_or_404(Job, pk=object_id)
        form = _from_node_form(job, request.POST)
        if not form.is_valid():
            messages.error(request, f"re-run from a node: {form.errors.as_text()}")
            return HttpResponseRedirect(reverse("admin:pipelines_job_change", args=[job.job_id]))
        try:
            new = services.run_from_node({"jobId": job.job_id, "nodeName": form.cleaned_data["node_name"]})
        except REFUSED as exc:
            messages.error(request, f"re-run from a node: {exc.message}")
            return HttpResponseRedirect(reverse("admin:pipelines_job_change", args=[job.job_id]))
        messages.success(request, f"job {new.job_id} started from node {form.cleaned_data['node_name']}")
        return HttpResponseRedirect(reverse("admin:pipelines_job_change", args=[new.job_id]))

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        job = Job.objects.filter(pk=object_id).first()
        context = dict(extra_context or {})
        if job is not None:
            context.update(job_context(request, job))
        return super().change_view(request, object_id, form_url, context)


def _from_node_form(job: Job, data: Any = None) -> RunFromNodeForm:
    form = RunFromNodeForm(data)
    names = [n["nodeName"] for n in (job.pipeline or {}).get("nodes", [])]
    form.fields["node_name"].choices = [(name, name) for name in names]  # type: ignore[attr-defined]
    return form


def flower_url(request: HttpRequest) -> str:
    """Flower runs beside the API (`up` starts it on HKUBE_FLOWER_PORT); its task list is
    searched by the job id, which every task of the job carries in its arguments."""
    host = request.get_host().rsplit(":", 1)[0]
    return f"{request.scheme}://{host}:{settings.HKUBE_FLOWER_PORT}/tasks"


def job_context(request: HttpRequest, job: Job) -> dict[str, Any]:
    job_id = job.job_id
    return {
        "hk_job": job,
        "hk_actions": [
            (name, reverse("admin:pipelines_job_action", args=[job_id, name])) for name in ACTIONS
        ],
        "hk_from_node_url": reverse("admin:pipelines_job_from_node", args=[job_id]),
        "hk_from_node_form": _from_node_form(job),
        "hk_links": {
            "page": reverse("jobs:detail", args=[job_id]),
            "results": api_url(f"exec/results/{job_id}"),
            "download": api_url(f"storage/download/pipeline/result/{job_id}"),
            "tasks": reverse("admin:pipelines_task_changelist") + f"?q={job_id}",
            "flower": flower_url(request),
        },
        "hk_trace_id": tracing.job_trace_id(job_id),
        "hk_config": {
            "jobId": job_id,
            "api": api_url(""),
            "finalStatuses": [str(s) for s in FINAL_JOB_STATUSES],
        },
    }


@admin.register(JobNode)
class JobNodeAdmin(admin.ModelAdmin[JobNode]):
    list_display = ("job", "node_name", "algorithm_name", "status", "total", "succeed", "failed")
    list_filter = ("status",)
    search_fields = ("job__job_id", "node_name", "algorithm_name")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # nodes are the driver's

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin[Task]):
    list_display = ("task_id", "job", "node_name", "batch_index", "status", "attempt", "worker")
    list_filter = ("status",)
    search_fields = ("task_id", "job__job_id", "node_name", "error")
    readonly_fields = (
        "task_id",
        "job",
        "node_name",
        "batch_index",
        "status",
        "error",
        "output",
        "algorithm_log",
    )
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="result")
    def output(self, task: Task) -> str:
        """The stored output: shown when small, downloadable always (big data stays in storage)."""
        info = (task.result or {}).get("storageInfo") or {}
        stored_path = info.get("path")
        if not stored_path:
            return "-"
        download = format_html(
            '<a href="{}" class="hk-download">download</a>', api_url(f"storage/download/{stored_path}")
        )
        size = int(info.get("size") or 0)
        if size > SHOW_LIMIT:
            return format_html("{} ({} bytes, too big to show)", download, size)
        try:
            value = get_storage().get(stored_path)
        except StorageError as exc:  # a missing or unreadable object is shown, not raised
            return format_html("{} (could not read it: {})", download, exc)
        return format_html('<pre class="hk-result">{}</pre>{}', _short_json(value), download)

    @admin.display(description="algorithm log")
    def algorithm_log(self, task: Task) -> str:
        """What the algorithm printed during this task (pipelines/logs.py), read from storage."""
        if not task.job_id or not task.task_id:
            return "-"
        document = logs.read_task_log(get_storage(), services.cluster(), task.job_id, task.task_id)
        if document is None:
            return "(the algorithm printed nothing during this task)"
        lines = document["lines"][-logs.DEFAULT_LIMIT :]
        hidden = document.get("truncated", 0) + len(document["lines"]) - len(lines)
        note = format_html("<p>{} earlier lines not shown</p>", hidden) if hidden else ""
        body = format_html_join("\n", "[{}] {}", ((line["stream"], line["message"]) for line in lines))
        return format_html(
            '{}<pre class="hk-log" style="max-height: 40em; overflow: auto; white-space: pre-wrap">{}</pre>',
            note,
            body,
        )


def _short_json(value: Any, limit: int = 20000) -> str:
    text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    return text if len(text) <= limit else f"{text[:limit]}\n… ({len(text) - limit} more characters)"
