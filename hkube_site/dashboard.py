"""HKube's dashboard (kube-HPC/simulator) served at `/dashboard/` from a build the user
downloads (`HKUBE_DASHBOARD_DIR`), as the dashboard's own small server serves it:

- `.../dashboard-config.json` (at any depth: the page resolves it against its `<base href>`)
  answers `{config: {...}}` describing this server: where the API and the GraphQL endpoint
  are (`monitorBackend.path`, on this origin), and which features are on;
- a file of the build is served as it is;
- any other path is the single-page app's `index.html`, its `__BASE_URL_TOKEN__` replaced
  by `/dashboard/` so the app's relative URLs resolve under this prefix.

Without `HKUBE_DASHBOARD_DIR`, every path answers 404 with how to set it (an HTML page for a
browser, HKube's JSON envelope otherwise).
"""

from __future__ import annotations

import mimetypes
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.utils._os import safe_join
from django.utils.html import escape
from django.views.decorators.http import require_safe

from hkube_site.api import system_version
from hkube_site.errors import envelope

PREFIX = "/dashboard/"
BASE_URL_TOKEN = "__BASE_URL_TOKEN__"
CONFIG_NAME = "dashboard-config.json"
# Where the dashboard's REST (`<path>/api/v1/...`) and GraphQL (`<path>/graphql`) calls go.
API_PATH = "/hkube/api-server"
NOT_INSTALLED = (
    "HKube's dashboard is not installed on this server: download a build of HKube's dashboard "
    "(kube-HPC/simulator), set HKUBE_DASHBOARD_DIR to the folder that holds its index.html and "
    "restart; see the README's 'HKube's dashboard' section"
)


def dashboard_config() -> dict[str, Any]:
    """The dashboard's `dashboard-config.json` for this server (the keys its server writes)."""
    grafana = settings.HKUBE_DASHBOARD_GRAFANA_URL or None
    return {
        "config": {
            "hkubeSystemVersion": system_version(),
            "baseUrl": PREFIX.strip("/"),
            "monitorBackend": {
                "useLocation": True,  # same origin as the page: host and port are not used
                "host": "localhost",
                "port": "",
                "path": API_PATH,
                "datasourcesPath": "",
                "schema": "http://",
                "hkubeSiteUrl": "",
            },
            "board": {"useLocation": True, "host": "localhost", "port": "", "path": "", "schema": "http://"},
            "keycloakEnable": False,
            "dataSourceIsEnable": False,  # this server keeps no data sources
            "healthMonitoringEnabled": settings.HKUBE_DASHBOARD_HEALTH_MONITORING,
            "grafanaUrl": grafana,
            "grafanaDashboardUrl": grafana,
            "kibanaUrl": settings.HKUBE_DASHBOARD_KIBANA_URL or None,
            "structuredPrefix": None,
            "checkIframe": False,
            "inactiveCheckMs": 300_000,
        }
    }


@lru_cache(maxsize=4)
def _index_html(folder: Path, modified: float) -> str:
    # `modified` is part of the cache key: a new build dropped in place is picked up.
    return (folder / "index.html").read_text(encoding="utf-8").replace(BASE_URL_TOKEN, PREFIX)


def _not_installed(request: HttpRequest) -> HttpResponse:
    if "text/html" in request.headers.get("Accept", ""):
        page = (
            "<!doctype html><title>HKube dashboard</title><h1>HKube dashboard</h1>"
            f"<p>{escape(NOT_INSTALLED)}</p>"
        )
        return HttpResponse(page, status=404, content_type="text/html; charset=utf-8")
    return JsonResponse(envelope(404, NOT_INSTALLED), status=404)


@require_safe
def dashboard_view(request: HttpRequest, path: str = "") -> HttpResponseBase:
    folder: Path | None = settings.HKUBE_DASHBOARD_DIR
    if folder is None:
        return _not_installed(request)
    if path == CONFIG_NAME or path.endswith("/" + CONFIG_NAME):
        return JsonResponse(dashboard_config())
    if path and path != "index.html":
        try:
            candidate = Path(safe_join(str(folder), path))
        except SuspiciousFileOperation:
            candidate = None
        if candidate is not None and candidate.is_file():
            content_type, _ = mimetypes.guess_type(candidate.name)
            return FileResponse(candidate.open("rb"), content_type=content_type or "application/octet-stream")
    index = folder / "index.html"
    return HttpResponse(_index_html(folder, index.stat().st_mtime), content_type="text/html; charset=utf-8")
