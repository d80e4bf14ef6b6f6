"""Algorithms in the admin: the descriptor (YAML or JSON, HKube's defaults shown, the API's
validation and messages), a code package upload or an image, versions with "make current",
and the algorithm's builds with their status and progress.

Saving calls `services.apply_algorithm` (as `store/algorithms/apply`), "make current" calls
`services.apply_version`, deleting calls `services.delete_algorithm`: nothing here writes a row."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.files.uploadedfile import UploadedFile
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join

from algorithms import resources, schema, services
from algorithms.admin import executor
from algorithms.models import Algorithm, AlgorithmVersion
from builds import services as builds
from hkube_site.errors import ApiError, InvalidData
from hkube_site.validation_error import ValidationError
from pipelines.admin.stored import parse_descriptor

NEW_ALGORITHM = {"name": "my-algorithm", "env": "python"}
BUILDS_SHOWN = 10

# What a service refuses with HKube's message: shown to the user, never a 500.
REFUSED = (ApiError, ValidationError)


def default_descriptor() -> str:
    """A new algorithm's descriptor with HKube's defaults filled in by the schema."""
    return json.dumps(schema.validate_algorithm(dict(NEW_ALGORITHM), use_defaults=True), indent=2)


class AlgorithmForm(forms.ModelForm[Algorithm]):
    descriptor_text = forms.CharField(
        label="Descriptor",
        widget=forms.Textarea(attrs={"rows": 20, "cols": 90, "class": "hk-code", "spellcheck": "false"}),
        help_text="YAML or JSON, with HKube's defaults; validated as store/algorithms/apply validates it.",
    )
    code = forms.FileField(
        label="Code package",
        required=False,
        help_text="A .tar.gz or .zip of the algorithm's code: starts a build (needs `env`).",
    )
    image = forms.CharField(
        label="Image",
        required=False,
        help_text="An algorithm image instead of code (sets `algorithmImage`).",
    )
    force_build = forms.BooleanField(label="Force a build", required=False)
    make_current = forms.BooleanField(
        label="Make the new version current",
        required=False,
        initial=True,
        help_text="HKube's forceUpdate: otherwise a new version waits beside the current one.",
    )

    class Meta:
        model = Algorithm
        fields: list[str] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.apply_result: services.ApplyResult | None = None
        if self.instance.pk:
            descriptor = {k: v for k, v in self.instance.descriptor.items() if k not in ("version", "errors")}
            self.fields["descriptor_text"].initial = json.dumps(descriptor, indent=2)
        else:
            self.fields["descriptor_text"].initial = default_descriptor()

    def clean(self) -> dict[str, Any] | None:
        cleaned = super().clean() or {}
        text = cleaned.get("descriptor_text")
        if text is None:
            return cleaned
        try:
            payload = parse_descriptor(text)
        except ValueError as exc:
            self.add_error("descriptor_text", str(exc))
            return cleaned
        if self.instance.pk and payload.get("name") != self.instance.name:
            self.add_error("descriptor_text", f"the name cannot change here: it is {self.instance.name!r}")
            return cleaned
        if cleaned.get("image"):
            payload["algorithmImage"] = cleaned["image"]
        options = {
            "forceBuild": bool(cleaned.get("force_build")),
            "forceUpdate": bool(cleaned.get("make_current")),
        }
        code = cleaned.get("code")
        try:
            self.apply_result = _apply(payload, code if isinstance(code, UploadedFile) else None, options)
        except REFUSED as exc:
            self.add_error("code" if code and "archive" in exc.message else "descriptor_text", exc.message)
            return cleaned
        stored = Algorithm.objects.filter(name=payload["name"]).first()
        if stored is None:  # a first code upload: the algorithm exists once its build completes
            stored = Algorithm(name=payload["name"], descriptor=payload)
        self.instance = stored
        return cleaned


def _apply(payload: dict[str, Any], code: Any, options: dict[str, Any]) -> services.ApplyResult:
    if code is None:
        return services.apply_algorithm(payload, None, options)
    if code.size and code.size > int(settings.HKUBE_MAX_UPLOAD_BYTES):
        raise InvalidData(f"the code archive is larger than {settings.HKUBE_MAX_UPLOAD_BYTES} bytes")
    with tempfile.TemporaryDirectory() as tmp:
        saved = Path(tmp) / "upload"
        with open(saved, "wb") as handle:
            for chunk in code.chunks():
                handle.write(chunk)
        return services.apply_algorithm(
            payload, services.Upload(path=saved, filename=code.name or ""), options
        )


@admin.register(Algorithm)
class AlgorithmAdmin(admin.ModelAdmin[Algorithm]):
    form = AlgorithmForm
    list_display = ("name", "kind", "version", "last_build", "unscheduled", "modified")
    search_fields = ("name",)
    readonly_fields = ("versions", "builds")
    change_list_template = "admin/algorithms/algorithm/change_list.html"

    def get_fieldsets(self, request: HttpRequest, obj: Algorithm | None = None) -> Any:
        edit = ("descriptor_text", "code", "image", "force_build", "make_current")
        if obj is None:
            return [(None, {"fields": edit})]
        return [
            (None, {"fields": edit}),
            ("Versions", {"fields": ("versions",)}),
            ("Builds", {"fields": ("builds",)}),
        ]

    @admin.display(description="type")
    def kind(self, algorithm: Algorithm) -> str:
        return str(algorithm.descriptor.get("type", ""))

    @admin.display(description="last build")
    def last_build(self, algorithm: Algorithm) -> str:
        found = builds.list_builds(algorithm.name, limit=1)
        if not found:
            return "-"
        build = found[0]
        url = reverse("admin:builds_build_change", args=[build.build_id])
        return format_html('<a href="{}">{} {}%</a>', url, build.status, build.progress)

    @admin.display(description="unscheduled reason")
    def unscheduled(self, algorithm: Algorithm) -> str:
        return resources.unscheduled_reasons().get(algorithm.name, "")

    @admin.display(description="versions")
    def versions(self, algorithm: Algorithm) -> str:
        rows = AlgorithmVersion.objects.filter(algorithm_name=algorithm.name).order_by("-created")
        if not rows:
            return "-"
        url = reverse("admin:algorithms_algorithm_current", args=[algorithm.pk])

        def cells(version: AlgorithmVersion) -> tuple[str, str, str, str]:
            current = version.version == algorithm.version
            button = (
                format_html("<strong>current</strong>")
                if current
                else format_html(
                    '<button type="submit" class="button" formaction="{}" formnovalidate name="version" '
                    'value="{}">make current</button>',
                    url,
                    version.version,
                )
            )
            return (version.version, version.semver, version.build_id or "-", button)

        body = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", (cells(v) for v in rows)
        )
        return format_html(
            '<table class="hk-versions">'
            "<tr><th>version</th><th>semver</th><th>build</th><th></th></tr>{}</table>",
            body,
        )

    @admin.display(description="builds")
    def builds(self, algorithm: Algorithm) -> str:
        rows = builds.list_builds(algorithm.name, limit=BUILDS_SHOWN)
        if not rows:
            return "-"
        body = format_html_join(
            "",
            '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}%</td></tr>',
            (
                (reverse("admin:builds_build_change", args=[b.build_id]), b.build_id, b.status, b.progress)
                for b in rows
            ),
        )
        return format_html(
            '<table class="hk-builds"><tr><th>build</th><th>status</th><th>progress</th></tr>{}</table>', body
        )

    def save_model(self, request: HttpRequest, obj: Algorithm, form: Any, change: bool) -> None:
        """Applied by the form's clean() through the service; here only its messages are shown."""
        result = form.apply_result
        for message in result.messages if result else []:
            messages.info(request, message)
        if result and result.build_id:
            url = reverse("admin:builds_build_change", args=[result.build_id])
            messages.info(
                request, format_html('build <a href="{}" id="hk-build-link">{}</a>', url, result.build_id)
            )

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        """No related rows."""

    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        return None if obj.pk is None else super().log_addition(request, obj, message)

    def response_add(
        self, request: HttpRequest, obj: Algorithm, post_url_continue: str | None = None
    ) -> HttpResponse:
        if obj.pk is None:  # waits for its first build: follow the build
            return HttpResponseRedirect(
                reverse("admin:builds_build_changelist") + f"?algorithm_name={obj.name}"
            )
        return super().response_add(request, obj, post_url_continue)

    def delete_model(self, request: HttpRequest, obj: Algorithm) -> None:
        messages.info(request, services.delete_algorithm(obj.name, force=True))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Algorithm]) -> None:
        for algorithm in queryset:
            self.delete_model(request, algorithm)

    def get_urls(self) -> list[URLPattern]:
        current = self.admin_site.admin_view(self.make_current_view)
        board = self.admin_site.admin_view(self.executor_view)
        return [
            path("executor/", board, name="algorithms_executor"),
            path("<path:object_id>/current/", current, name="algorithms_algorithm_current"),
            *super().get_urls(),
        ]

    def executor_view(self, request: HttpRequest) -> HttpResponse:
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "title": "Executor"}
        return executor.render_board(request, context)

    def make_current_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        algorithm = get_object_or_404(Algorithm, pk=object_id)
        version = str(request.POST.get("version") or "")
        try:
            services.apply_version(algorithm.name, version, force=True)
        except REFUSED as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"version {version} of {algorithm.name} is current")
        return HttpResponseRedirect(reverse("admin:algorithms_algorithm_change", args=[algorithm.pk]))


@admin.register(AlgorithmVersion)
class AlgorithmVersionAdmin(admin.ModelAdmin[AlgorithmVersion]):
    list_display = ("algorithm_name", "version", "semver", "build_id", "created")
    search_fields = ("algorithm_name", "version", "build_id")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
