"""The job pages, mounted at `/jobs/` by hkube_site.urls."""

from __future__ import annotations

from django.urls import URLPattern, path, re_path

from pipelines.ui import views

app_name = "jobs"

urlpatterns: list[URLPattern] = [
    path("", views.job_list, name="list"),
    path("list.json", views.job_list_data, name="list-data"),
    re_path(r"^assets/(?P<name>[^/]+)$", views.asset, name="asset"),
    re_path(r"^(?P<job_id>[^/]+)/$", views.job_detail, name="detail"),
]
