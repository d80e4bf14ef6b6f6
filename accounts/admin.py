"""API tokens in the admin: created here (the token is shown once, in a message), revoked by an action."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin[ApiToken]):
    list_display = ("name", "role", "hint", "created", "last_used", "revoked")
    list_filter = ("role",)
    readonly_fields = ("hint", "created", "last_used")
    actions = ("revoke",)

    def get_readonly_fields(self, request: HttpRequest, obj: ApiToken | None = None) -> Any:
        # A token's name and role are fixed once it exists: make a new one instead.
        return (*self.readonly_fields, "name", "role") if obj is not None else self.readonly_fields

    def save_model(self, request: HttpRequest, obj: ApiToken, form: Any, change: bool) -> None:
        if not change:
            token = obj.set_new_token()
            messages.warning(request, f"Token for {obj.name} (shown once, copy it now): {token}")
        super().save_model(request, obj, form, change)

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        count = queryset.filter(revoked__isnull=True).update(revoked=timezone.now())
        messages.info(request, f"{count} token(s) revoked")
