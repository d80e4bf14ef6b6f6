from django.contrib import admin
from django.utils.html import format_html, format_html_join

from hkube_site.object_store import get_storage
from pipelines import logs, services
from pipelines.models import Job, JobNode, Pipeline, Task, TriggerRun, WebhookDelivery


@admin.register(Pipeline)
class PipelineAdmin(admin.ModelAdmin[Pipeline]):
    list_display = ("name", "version", "modified")
    search_fields = ("name",)


class JobNodeInline(admin.TabularInline[JobNode, Job]):
    model = JobNode
    extra = 0
    fields = ("node_name", "algorithm_name", "status", "total", "succeed", "failed", "error")
    readonly_fields = fields
    can_delete = False


@admin.register(Job)
class JobAdmin(admin.ModelAdmin[Job]):
    list_display = ("job_id", "pipeline_name", "status", "priority", "start_time", "end_time")
    list_filter = ("status", "pipeline_name")
    search_fields = ("job_id", "pipeline_name", "external_id", "error")
    inlines = [JobNodeInline]


@admin.register(JobNode)
class JobNodeAdmin(admin.ModelAdmin[JobNode]):
    list_display = ("job", "node_name", "algorithm_name", "status", "total", "succeed", "failed")
    list_filter = ("status",)
    search_fields = ("job__job_id", "node_name", "algorithm_name")


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin[Task]):
    list_display = ("task_id", "job", "node_name", "batch_index", "status", "attempt", "worker")
    list_filter = ("status",)
    search_fields = ("task_id", "job__job_id", "node_name", "error")
    readonly_fields = ("algorithm_log",)

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
            '{}<pre style="max-height: 40em; overflow: auto; white-space: pre-wrap">{}</pre>', note, body
        )


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin[WebhookDelivery]):
    list_display = ("job_id", "kind", "pipeline_status", "response_status", "http_status_code", "attempts")
    list_filter = ("kind", "response_status")
    search_fields = ("job_id", "url")


@admin.register(TriggerRun)
class TriggerRunAdmin(admin.ModelAdmin[TriggerRun]):
    list_display = ("kind", "source", "pipeline_name", "job_id", "root_job_id", "error")
    list_filter = ("kind",)
    search_fields = ("source", "pipeline_name", "job_id", "root_job_id")
