"""Webhook deliveries and trigger runs, read-only lists for following what a job set off."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from pipelines.models import TriggerRun, WebhookDelivery


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin[WebhookDelivery]):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    list_display = ("job_id", "kind", "pipeline_status", "response_status", "http_status_code", "attempts")
    list_filter = ("kind", "response_status")
    search_fields = ("job_id", "url")


@admin.register(TriggerRun)
class TriggerRunAdmin(admin.ModelAdmin[TriggerRun]):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    list_display = ("kind", "source", "pipeline_name", "job_id", "root_job_id", "error")
    list_filter = ("kind",)
    search_fields = ("source", "pipeline_name", "job_id", "root_job_id")
