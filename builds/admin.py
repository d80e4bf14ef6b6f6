"""Builds in the admin: status, progress and a live log (refreshed from builds/status), and
the rebuild / stop actions, which call `builds.services` (nothing here writes a row)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, get_script_prefix, path, reverse

from builds import services
from builds.models import Build
from hkube_site.errors import ApiError
from hkube_site.validation_error import ValidationError

ACTIONS: dict[str, tuple[str, Callable[[str], None]]] = {
    "rerun": ("started again", services.rerun_build),
    "stop": ("stopped", services.stop_build),
}

# What a service refuses with HKube's message: shown to the user, never a 500.
REFUSED = (ApiError, ValidationError)


def _run_action(request: HttpRequest, name: str, build_id: str) -> None:
    done, action = ACTIONS[name]
    try:
        action(build_id)
    except REFUSED as exc:
        messages.error(request, f"{name} {build_id}: {exc.message}")
    else:
        messages.success(request, f"build {build_id} {done}")


@admin.action(description="Rebuild the selected builds")
def rerun_builds(model_admin: Any, request: HttpRequest, queryset: QuerySet[Build]) -> None:
    for build_id in queryset.values_list("build_id", flat=True):
        _run_action(request, "rerun", build_id)


@admin.action(description="Stop the selected builds")
def stop_builds(model_admin: Any, request: HttpRequest, queryset: QuerySet[Build]) -> None:
    for build_id in queryset.values_list("build_id", flat=True):
        _run_action(request, "stop", build_id)


@admin.register(Build)
class BuildAdmin(admin.ModelAdmin[Build]):
    list_display = ("build_id", "algorithm_name", "env", "status", "progress", "start_time")
    list_filter = ("status", "env", "algorithm_name")
    search_fields = ("build_id", "algorithm_name", "error", "log")
    ordering = ("-start_time",)
    actions = (rerun_builds, stop_builds)
    fields = ("build_id", "algorithm_name", "env", "version", "error")
    readonly_fields = fields
    change_form_template = "admin/builds/build/change_form.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # builds start from an algorithm's code upload

    def get_urls(self) -> list[URLPattern]:
        act = self.admin_site.admin_view(self.action_view)
        return [
            path("<path:object_id>/do/<str:action>/", act, name="builds_build_action"),
            *super().get_urls(),
        ]

    def action_view(self, request: HttpRequest, object_id: str, action: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        build = get_object_or_404(Build, pk=object_id)
        if action in ACTIONS:
            _run_action(request, action, build.build_id)
        else:
            messages.error(request, f"unknown action {action!r}")
        return HttpResponseRedirect(reverse("admin:builds_build_change", args=[build.build_id]))

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        build = Build.objects.filter(pk=object_id).first()
        context = dict(extra_context or {})
        if build is not None:
            context["hk_build"] = build
            context["hk_actions"] = [
                (name, reverse("admin:builds_build_action", args=[build.build_id, name])) for name in ACTIONS
            ]
            context["hk_config"] = {
                "statusUrl": f"{get_script_prefix()}api/v1/builds/status/{build.build_id}"
            }
        return super().change_view(request, object_id, form_url, context)
