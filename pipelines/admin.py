from django.contrib import admin

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
