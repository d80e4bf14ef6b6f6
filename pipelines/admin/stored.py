"""Stored pipelines in the admin: the descriptor as YAML or JSON, validated on the server by
the same service as `store/pipelines` (HKube's messages next to the field), a graph preview
drawn by the job pages' drawing code, "run" with a flowInput form, cron and pipeline triggers
on/off.

Nothing here writes a row: saving calls `services.store_pipeline`/`update_pipeline`, running
calls `services.submit_job`, cron goes through `triggers.set_cron`, pipeline triggers through
`services.set_pipeline_triggers`, deleting through
`services.delete_pipeline`."""

from __future__ import annotations

import json
from typing import Any

import yaml
from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from hkube_site.errors import ApiError
from hkube_site.validation_error import ValidationError
from pipelines import graph_preview, schema, services, triggers
from pipelines.models import Pipeline
from pipelines.stored_triggers import listens_to

NEW_PIPELINE = """\
name: my-pipeline
nodes:
  - nodeName: first
    algorithmName: my-algorithm
    input: ["@flowInput.data"]
flowInput:
  data: 42
"""

# What a service refuses with HKube's message: shown to the user, never a 500.
REFUSED = (ApiError, ValidationError)


def parse_descriptor(text: str) -> dict[str, Any]:
    """YAML or JSON (JSON is YAML) into a descriptor object; a ValueError says what is wrong."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"the descriptor is not valid YAML or JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise ValueError("the descriptor should be an object (a mapping of keys to values)")
    return value


def as_text(descriptor: dict[str, Any]) -> str:
    return json.dumps(descriptor, indent=2, ensure_ascii=False)


class PipelineForm(forms.ModelForm[Pipeline]):
    descriptor_text = forms.CharField(
        label="Descriptor",
        widget=forms.Textarea(attrs={"rows": 26, "cols": 100, "class": "hk-code", "spellcheck": "false"}),
        help_text="YAML or JSON. Validated as store/pipelines validates it: HKube's schema and "
        "defaults, the graph, the algorithms named.",
    )

    class Meta:
        model = Pipeline
        fields: list[str] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["descriptor_text"].initial = as_text(self.instance.descriptor)
        else:
            self.fields["descriptor_text"].initial = NEW_PIPELINE

    def clean(self) -> dict[str, Any] | None:
        cleaned = super().clean()
        text = (cleaned or {}).get("descriptor_text")
        if text is None:
            return cleaned
        try:
            descriptor = parse_descriptor(text)
        except ValueError as exc:
            self.add_error("descriptor_text", str(exc))
            return cleaned
        existing = self.instance.name if self.instance.pk else None
        if existing is not None and descriptor.get("name") != existing:
            self.add_error("descriptor_text", f"the name cannot change here: it is {existing!r}")
            return cleaned
        try:
            # The admin's change view runs in one transaction, so a later failure undoes this.
            stored = services.update_pipeline(descriptor) if existing else services.store_pipeline(descriptor)
        except REFUSED as exc:
            self.add_error("descriptor_text", exc.message)
            return cleaned
        self.instance = stored
        return cleaned


class RunForm(forms.Form):
    flow_input = forms.CharField(
        label="flowInput",
        required=False,
        widget=forms.Textarea(attrs={"rows": 12, "cols": 80, "class": "hk-code", "spellcheck": "false"}),
        help_text="YAML or JSON; replaces the stored flowInput. Empty keeps the stored one.",
    )

    def flow_input_value(self) -> tuple[bool, Any]:
        text = self.cleaned_data["flow_input"].strip()
        if not text:
            return False, None
        try:
            return True, yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ValueError(f"flowInput is not valid YAML or JSON: {exc}") from exc


def _cron(descriptor: dict[str, Any]) -> str:
    cron = (descriptor.get("triggers") or {}).get("cron") or {}
    if not cron:
        return "-"
    return f"{'on' if cron.get('enabled') else 'off'} ({cron.get('pattern', '')})"


@admin.register(Pipeline)
class PipelineAdmin(admin.ModelAdmin[Pipeline]):
    form = PipelineForm
    list_display = ("name", "version", "node_count", "cron", "pipeline_triggers", "modified")
    search_fields = ("name",)
    actions = ("cron_on", "cron_off", "pipeline_triggers_on", "pipeline_triggers_off")
    change_form_template = "admin/pipelines/pipeline/change_form.html"

    @admin.display(description="nodes")
    def node_count(self, pipeline: Pipeline) -> int:
        return len(pipeline.descriptor.get("nodes") or [])

    @admin.display(description="cron trigger")
    def cron(self, pipeline: Pipeline) -> str:
        return _cron(pipeline.descriptor)

    @admin.display(description="pipeline triggers")
    def pipeline_triggers(self, pipeline: Pipeline) -> str:
        parents = listens_to(pipeline.descriptor)
        if not parents:
            return "-"
        return f"{'on' if pipeline.triggers_enabled else 'off'} ({', '.join(parents)})"

    def save_model(self, request: HttpRequest, obj: Pipeline, form: Any, change: bool) -> None:
        """Stored by the form's clean() through the service; nothing to write here."""

    def delete_model(self, request: HttpRequest, obj: Pipeline) -> None:
        messages.info(request, services.delete_pipeline(obj.name))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Pipeline]) -> None:
        for pipeline in queryset:
            self.delete_model(request, pipeline)

    def _set_cron(self, request: HttpRequest, queryset: QuerySet[Pipeline], enabled: bool) -> None:
        for pipeline in queryset:
            try:
                triggers.set_cron(pipeline.name, enabled=enabled)
            except REFUSED as exc:
                messages.error(request, f"{pipeline.name}: {exc.message}")
            else:
                messages.success(request, f"{pipeline.name}: cron {'on' if enabled else 'off'}")

    @admin.action(description="Turn the cron trigger on")
    def cron_on(self, request: HttpRequest, queryset: QuerySet[Pipeline]) -> None:
        self._set_cron(request, queryset, True)

    @admin.action(description="Turn the cron trigger off")
    def cron_off(self, request: HttpRequest, queryset: QuerySet[Pipeline]) -> None:
        self._set_cron(request, queryset, False)

    def _set_pipeline_triggers(
        self, request: HttpRequest, queryset: QuerySet[Pipeline], enabled: bool
    ) -> None:
        for pipeline in queryset:
            services.set_pipeline_triggers(pipeline.name, enabled=enabled)
            messages.success(request, f"{pipeline.name}: pipeline triggers {'on' if enabled else 'off'}")

    @admin.action(description="Turn the pipeline triggers on")
    def pipeline_triggers_on(self, request: HttpRequest, queryset: QuerySet[Pipeline]) -> None:
        self._set_pipeline_triggers(request, queryset, True)

    @admin.action(description="Turn the pipeline triggers off (a completed parent starts nothing)")
    def pipeline_triggers_off(self, request: HttpRequest, queryset: QuerySet[Pipeline]) -> None:
        self._set_pipeline_triggers(request, queryset, False)

    def get_urls(self) -> list[URLPattern]:
        run = self.admin_site.admin_view(self.run_view)
        return [path("<path:object_id>/run/", run, name="pipelines_pipeline_run"), *super().get_urls()]

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        context = dict(extra_context or {})
        pipeline = Pipeline.objects.filter(pk=object_id).first()
        if pipeline is not None:
            context["hk_preview"] = _preview(pipeline.descriptor)
            context["hk_run_url"] = reverse("admin:pipelines_pipeline_run", args=[pipeline.pk])
        return super().change_view(request, object_id, form_url, context)

    def run_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        pipeline = get_object_or_404(Pipeline, pk=object_id)
        form = RunForm(request.POST or None, initial={"flow_input": _stored_flow_input(pipeline)})
        if request.method == "POST" and form.is_valid():
            try:
                given, flow_input = form.flow_input_value()
                overrides = schema.validate_exec_stored(
                    {"name": pipeline.name, **({"flowInput": flow_input} if given else {})}
                )
                job = services.submit_job(
                    services.merge_stored(pipeline.descriptor, overrides), types=["stored"]
                )
            except ValueError as exc:
                form.add_error("flow_input", str(exc))
            except REFUSED as exc:
                form.add_error("flow_input", exc.message)
            else:
                messages.success(request, f"job {job.job_id} started")
                return HttpResponseRedirect(reverse("admin:pipelines_job_change", args=[job.job_id]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": pipeline,
            "title": f"Run {pipeline.name}",
            "form": form,
            "preview": _preview(pipeline.descriptor),
        }
        return TemplateResponse(request, "admin/pipelines/pipeline/run.html", context)


def _stored_flow_input(pipeline: Pipeline) -> str:
    flow_input = pipeline.descriptor.get("flowInput")
    return "" if flow_input is None else json.dumps(flow_input, indent=2, ensure_ascii=False)


def _preview(descriptor: dict[str, Any]) -> dict[str, Any]:
    try:
        return graph_preview.graph_preview(descriptor)
    except REFUSED as exc:
        return {"nodes": [], "edges": [], "error": exc.message}
