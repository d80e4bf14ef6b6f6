"""URLs. The REST API is served at `/api/v1/` and, identically, at
`/hkube/api-server/api/v1/` (the prefix HKube's own clients use). Every API path works
with and without a trailing slash, with no redirect. The dashboard's GraphQL is at
`/graphql` and `/hkube/api-server/graphql`; HKube's dashboard itself at `/dashboard/`."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.staticfiles.views import serve as static_serve
from django.urls import URLPattern, URLResolver, include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularJSONAPIView,
    SpectacularRedocView,
    SpectacularSwaggerView,
)

from accounts.login_views import Login
from algorithms.api import cluster_views as cluster
from algorithms.api import gateway_views as gateways
from algorithms.api import gc_views, sync_views, webhook_views
from algorithms.api import version_views as alg_versions
from algorithms.api import views as alg
from builds.api import views as bld
from graphql_api.views import graphql_view
from hkube_site import api as info
from hkube_site import metrics
from hkube_site.dashboard import dashboard_view
from pipelines.api import (
    boards_views,
    experiments_views,
    graph_views,
    jaeger_views,
    logs_views,
    preview_views,
    queue_views,
    readme_views,
    storage_views,
    versions_views,
)
from pipelines.api import control_views as ctl
from pipelines.api import hooks_views as hk
from pipelines.api import views as exe
from pipelines.api.missing_id import missing

NAME = r"(?P<name>[^/]+)"
JOB = r"(?P<job_id>[^/]+)"
FILE_NAME = r"(?P<file_name>[^/]+)"
BOARD = r"(?P<board_id>[^/]+)"


NO_JOB_ID = [
    "exec/pipelines",
    "exec/auditTrail",
    "exec/tree",
    "graph/raw",
    "graph/parsed",
    "webhooks/status",
    "webhooks/results",
    "webhooks/list",
]
NO_NAME: dict[str, tuple[str, ...]] = {
    "readme/algorithms": ("get", "post", "put", "delete"),
    "readme/pipelines": ("get", "post", "put", "delete"),
    "versions/algorithms": ("get",),
    "versions/pipelines": ("get",),
    "builds/list": ("get",),
}


def route(pattern: str, view: object) -> URLPattern:
    return re_path(rf"^{pattern}/?$", view.as_view())  # type: ignore[attr-defined]


api_v1: list[URLPattern | URLResolver] = [
    route(r"exec/raw", exe.ExecRaw),
    route(r"exec/stored", exe.ExecStored),
    route(r"exec/status", exe.ExecStatus),
    route(rf"exec/status/{JOB}", exe.ExecStatus),
    route(r"exec/results", exe.ExecResults),
    route(rf"exec/results/{JOB}", exe.ExecResults),
    route(r"exec/stop", exe.ExecStop),
    route(r"exec/pipeline/list", exe.ExecPipelineList),
    route(rf"exec/pipelines/{JOB}", exe.ExecPipeline),
    route(r"exec/algorithm", ctl.ExecAlgorithm),
    route(r"exec/rerun", ctl.ExecRerun),
    route(r"exec/caching", ctl.ExecCaching),
    route(r"exec/pause", ctl.ExecPause),
    route(r"exec/resume", ctl.ExecResume),
    route(r"exec/jobs", ctl.ExecJobs),
    route(rf"exec/auditTrail/{JOB}", ctl.ExecAuditTrail),
    route(rf"exec/flowInput/{JOB}", ctl.ExecFlowInput),
    route(r"exec/search", ctl.ExecSearch),
    route(r"exec/getGraphByStreamingFlow", preview_views.StreamingFlowGraph),
    route(rf"exec/logs/{JOB}", logs_views.ExecLogs),
    route(rf"exec/debug/{JOB}", logs_views.ExecDebug),
    route(rf"debug/{NAME}", logs_views.DebugAlgorithm),
    route(r"store/pipelines/graph", preview_views.PipelineGraphPreview),
    route(rf"store/pipelines/graph/{NAME}", preview_views.StoredPipelineGraphPreview),
    route(r"store/pipelines", exe.StorePipelines),
    route(rf"store/pipelines/{NAME}", exe.StorePipeline),
    route(r"store/algorithms/apply", alg.ApplyAlgorithm),
    route(r"store/algorithms", alg.StoreAlgorithms),
    route(r"store/algorithmsFilter", alg.StoreAlgorithmsFilter),
    route(rf"store/algorithms/{NAME}", alg.StoreAlgorithm),
    route(r"versions/algorithms/apply", alg.ApplyVersion),
    route(r"versions/algorithms/tag", alg_versions.TagAlgorithmVersion),
    route(r"versions/algorithms/alias", alg_versions.AliasAlgorithmVersion),
    route(rf"versions/algorithms/{NAME}", alg.AlgorithmVersions),
    route(rf"versions/algorithms/{NAME}/(?P<version>[^/]+)", alg.AlgorithmVersion_),
    route(r"versions/pipelines/apply", versions_views.ApplyPipelineVersion),
    route(r"versions/pipelines/alias", versions_views.AliasPipelineVersion),
    route(rf"versions/pipelines/{NAME}", versions_views.PipelineVersions),
    route(rf"versions/pipelines/{NAME}/(?P<version>[^/]+)", versions_views.PipelineVersion),
    route(r"builds/status", bld.BuildStatus_),
    route(r"builds/status/(?P<build_id>[^/]+)", bld.BuildStatus_),
    route(rf"builds/list/{NAME}", bld.BuildList),
    route(r"builds/stop", bld.BuildStop),
    route(r"builds/rerun", bld.BuildRerun),
    route(r"builds/webhook/github", webhook_views.GithubWebhook),
    route(r"builds/webhook/gitlab", webhook_views.GitlabWebhook),
    route(rf"graph/raw/{JOB}", graph_views.GraphRaw),
    route(rf"graph/parsed/{JOB}", graph_views.GraphParsed),
    route(rf"exec/tree/{JOB}", hk.ExecTree),
    route(rf"webhooks/status/{JOB}", hk.WebhookStatus),
    route(rf"webhooks/results/{JOB}", hk.WebhookResults),
    route(rf"webhooks/list/{JOB}", hk.WebhookList),
    route(r"cron/start", hk.CronStart),
    route(r"cron/stop", hk.CronStop),
    route(r"cron/list", hk.CronList),
    route(r"cron/results", hk.CronResults),
    route(r"cron/status", hk.CronStatus),
    route(r"pipelines/results", hk.PipelinesResults),
    route(r"pipelines/status", hk.PipelinesStatus),
    route(r"pipelines/triggers/tree", hk.PipelinesTriggersTree),
    route(r"storage/info", info.StorageInfo),
    route(r"storage/values/(?P<path>.+?)", storage_views.StorageValue),
    route(r"storage/stream/custom/(?P<path>.+?)", storage_views.StorageStreamCustom),
    route(r"storage/stream/(?P<path>.+?)", storage_views.StorageStream),
    route(rf"storage/download/pipeline/result/{JOB}", storage_views.StorageDownloadResults),
    route(rf"storage/download/pipeline/result/{JOB}/{FILE_NAME}", storage_views.StorageDownloadResults),
    route(r"storage/download/custom/(?P<path>.+?)", storage_views.StorageDownloadCustom),
    route(r"storage/download/(?P<path>.+?)", storage_views.StorageDownload),
    route(r"storage/prefix/types", storage_views.StoragePrefixTypes),
    route(r"storage/prefixes", storage_views.StoragePrefixes),
    route(r"storage/prefixes/(?P<path>.+?)", storage_views.StoragePrefixes),
    route(r"storage/keys", storage_views.StorageKeys),
    route(r"storage/keys/(?P<path>.+?)", storage_views.StorageKeys),
    route(r"status/version", info.SystemVersion),
    route(r"resources/unscheduledalgorithms", cluster.UnscheduledAlgorithms),
    route(rf"resources/unscheduledalgorithms/{NAME}", cluster.UnscheduledAlgorithm),
    route(r"resources/ignoredunscheduledalgorithms", cluster.IgnoredUnscheduledAlgorithms),
    route(rf"resources/ignoredunscheduledalgorithms/{NAME}", cluster.IgnoredUnscheduledAlgorithm),
    route(r"gateway", gateways.Gateways),
    route(rf"gateway/{NAME}", gateways.Gateway),
    route(r"boards/tensors", boards_views.TensorBoards),
    route(rf"boards/tensors/{BOARD}", boards_views.TensorBoard),
    route(r"boards/optunas", boards_views.OptunaBoards),
    route(rf"boards/optunas/{BOARD}", boards_views.OptunaBoard),
    route(r"auth/login", Login),
    route(rf"sync/{NAME}", sync_views.DevSources),
    route(rf"kubernetes/algorithms/pods/{NAME}", cluster.StopAlgorithmPods),
    route(rf"kubernetes/algorithms/jobs/{NAME}", cluster.StopAlgorithmJobs),
    route(r"jaeger", jaeger_views.JaegerTrace),
    route(r"gc/clean", gc_views.GcClean),
    route(r"gc/clean/(?P<cleaner>[^/]+)", gc_views.GcClean),
    route(r"gc/dryrun", gc_views.GcDryRun),
    route(r"gc/dryrun/(?P<cleaner>[^/]+)", gc_views.GcDryRun),
    route(r"gc/status", gc_views.GcStatus),
    route(r"gc/status/(?P<cleaner>[^/]+)", gc_views.GcStatus),
    route(r"queue/count", queue_views.QueueCount),
    route(r"queue/managed", queue_views.ManagedQueue),
    route(r"queue/managed/aggregation/(?P<by>pipeline|tag)", queue_views.ManagedAggregation),
    route(r"queue/preferred", queue_views.PreferredQueue),
    route(r"queue/preferred/deletes", queue_views.PreferredDeletes),
    route(r"queue/preferred/aggregation/(?P<by>pipeline|tag)", queue_views.PreferredAggregation),
    route(r"experiment", experiments_views.Experiments),
    route(rf"experiment/{NAME}", experiments_views.Experiment),
    route(rf"readme/algorithms/{NAME}", readme_views.AlgorithmReadme),
    route(rf"readme/pipelines/{NAME}", readme_views.PipelineReadme),
    # The no-id forms of the routes above that take an id: HKube's 400, not a 404.
    *(route(path, missing("jobId")) for path in NO_JOB_ID),
    *(route(path, missing("name", *methods)) for path, methods in NO_NAME.items()),
    route(r"(?P<group>exec|store|builds|versions|storage|status|pipelines|cron|webhooks|graph)", info.Banner),
]

urlpatterns: list[URLPattern | URLResolver] = [
    path("", RedirectView.as_view(url="/jobs/", permanent=False)),
    path("jobs", RedirectView.as_view(url="/jobs/", permanent=False)),
    path("jobs/", include("pipelines.ui.urls")),
    # The admin's and the API docs' CSS and JS, served here since no web server fronts us;
    # found in the apps' static folders, so a process that never ran collectstatic serves them too.
    re_path(r"^static/(?P<path>.*)$", static_serve, {"insecure": True}),
    path("admin/", admin.site.urls),
    re_path(r"^api/?$", info.Versions.as_view()),
    path("api/v1/", include(api_v1)),
    path("hkube/api-server/api/v1/", include(api_v1)),
    re_path(r"^swagger-api/?$", SpectacularAPIView.as_view(), name="schema"),
    re_path(r"^api/v1/openapi\.json$", SpectacularJSONAPIView.as_view()),
    re_path(r"^swagger/?$", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    re_path(r"^redoc/?$", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    re_path(r"^metrics/?$", metrics.metrics_view),
    # HKube's dashboard reads everything through GraphQL at `<api-server path>/graphql`.
    re_path(r"^graphql/?$", graphql_view),
    re_path(r"^hkube/api-server/graphql/?$", graphql_view),
    # A stream job's gateway (HKube's ingress path to its gateway algorithm; algorithms/gateway_ingress.py).
    re_path(r"^hkube/gateway/(?P<name>[^/]+)/streaming/message/?$", gateways.GatewayMessage.as_view()),
    re_path(r"^hkube/gateway/(?P<name>[^/]+)/streaming/info/?$", gateways.GatewayInfo.as_view()),
    re_path(r"^dashboard$", RedirectView.as_view(url="/dashboard/", permanent=False)),
    re_path(r"^dashboard/(?P<path>.*)$", dashboard_view),
]
