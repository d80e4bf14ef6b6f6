"""Settings for HKube, read from the environment (one file, safe embedded defaults).

Embedded shape (nothing set): SQLite and data under ``HKUBE_HOME`` (default ``./.hkube``),
Redis started by ``manage.py up``. Cluster shape: ``DATABASE_URL`` (Postgres),
``REDIS_URL``, ``HKUBE_STORAGE=s3`` and the S3 variables.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured

from hkube_site import queues

# Lets generic Django classes be subscripted at run time (`admin.ModelAdmin[Job]`).
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from exc


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}") from exc


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, got {raw!r}")


HKUBE_HOME = Path(env_str("HKUBE_HOME", str(BASE_DIR / ".hkube"))).resolve()
# `manage.py up`: the API's and Flower's ports (also its --port and --flower-port flags).
HKUBE_PORT = env_int("HKUBE_PORT", 8000)
# The address the API (and Flower) listen on; beyond the loopback only with HKUBE_AUTH (hkube_site/bind.py).
HKUBE_HOST = env_str("HKUBE_HOST", "127.0.0.1")
HKUBE_FLOWER_PORT = env_int("HKUBE_FLOWER_PORT", 5555)

SECRET_KEY = env_str("DJANGO_SECRET_KEY", "hkube-embedded-insecure-key-change-me-in-a-cluster")
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = [h for h in env_str("DJANGO_ALLOWED_HOSTS", "*").split(",") if h]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and ReDoc served from the package: no CDN
    "django_celery_beat",
    "hkube_site",
    "accounts",
    "algorithms",
    "builds",
    "pipelines",
]

MIDDLEWARE = [
    "hkube_site.request_guard.RequestGuard",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # After the session and user are known: every request's role is checked here (accounts/gate.py).
    "accounts.gate.AuthGate",
    "django.contrib.messages.middleware.MessageMiddleware",
]

# HKube's clients post to `exec/raw/` and `exec/raw` alike; a redirect would break POST.
APPEND_SLASH = False

ROOT_URLCONF = "hkube_site.urls"
WSGI_APPLICATION = "hkube_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "hkube_site" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

_sqlite_path = HKUBE_HOME / "hkube.sqlite3"
DATABASES = {
    "default": dj_database_url.parse(env_str("DATABASE_URL", f"sqlite:///{_sqlite_path}"), conn_max_age=600)
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # Many processes (API, engine, algorithm workers) write: WAL lets readers go on while
    # one writes, IMMEDIATE takes the write lock up front so a transaction never fails
    # half-way on an upgrade, and the timeout waits for the lock instead of failing.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = HKUBE_HOME / "static"

# --- REST -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "EXCEPTION_HANDLER": "hkube_site.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "HKube API",
    "DESCRIPTION": "Run pipelines of algorithms: store, execute, observe.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The API is served under two prefixes; document it once.
    "PREPROCESSING_HOOKS": ["hkube_site.api.only_primary_prefix"],
    # The docs pages load their JS and CSS from our own /static/ (offline machines).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "hkube_site.openapi.error_responses",
    ],
}
# Request bodies (hkube_site/request_guard.py): over the limit -> 413 in HKube's envelope.
# HKube allows 2000mb; a body is held in memory, so ours is smaller. Code archives
# (multipart uploads) have HKUBE_MAX_UPLOAD_BYTES instead.
HKUBE_MAX_BODY_BYTES = env_int("HKUBE_MAX_BODY_BYTES", env_int("HKUBE_BODY_LIMIT_BYTES", 100 * 1024 * 1024))
# Deeper JSON is refused with a 400: parsing and validating it would exhaust Python's stack.
HKUBE_MAX_JSON_DEPTH = env_int("HKUBE_MAX_JSON_DEPTH", 100)
DATA_UPLOAD_MAX_MEMORY_SIZE = HKUBE_MAX_BODY_BYTES
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

# --- Observability ----------------------------------------------------------------------
# Traces go over OTLP/HTTP to this collector (a base URL such as http://otel:4318); unset: off.
HKUBE_TRACING_ENDPOINT = env_str("HKUBE_TRACING_ENDPOINT", env_str("OTEL_EXPORTER_OTLP_ENDPOINT", ""))
# Jaeger's query service (a base URL such as http://jaeger:16686), read by `GET jaeger?jobId=`.
HKUBE_JAEGER_URL = env_str("HKUBE_JAEGER_URL", "")

# --- Redis and Celery ---------------------------------------------------------------------
# `manage.py up` sets REDIS_URL to the server it started when none was configured.
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_TASK_SERIALIZER = "msgpack"
CELERY_RESULT_SERIALIZER = "msgpack"
CELERY_ACCEPT_CONTENT = ["msgpack", "json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = queues.CONTROL
CELERY_RESULT_EXPIRES = 3600
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A message sent while Redis restarts waits for it (about 40 s) instead of failing the
# sender half-way (Celery's default gives up after 0.6 s).
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 40,
    "interval_start": 0,
    "interval_step": 0.25,
    "interval_max": 1,
}
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # HKube priorities 1 (highest) .. 5 map onto kombu priority steps 1..5; kombu serves
    # lower numbers first and keeps FIFO order inside one step.
    "priority_steps": list(range(10)),
    "sep": ":",
    "queue_order_strategy": "priority",
    "visibility_timeout": env_int("HKUBE_VISIBILITY_TIMEOUT", 3600),
}
# Task modules that are not named `tasks.py` (autodiscovery only finds those).
CELERY_IMPORTS = ["pipelines.webhooks", "pipelines.triggers"]
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TASK_ROUTES = {
    "pipelines.tasks.*": {"queue": queues.ENGINE},
    "algorithms.tasks.reconcile_workers": {"queue": queues.CONTROL},
    "builds.tasks.*": {"queue": queues.BUILDS},
}

# --- HKube ------------------------------------------------------------------------------
HKUBE_CLUSTER_NAME = env_str("CLUSTER_NAME", "local")
HKUBE_STORAGE = env_str("HKUBE_STORAGE", "fs")
if HKUBE_STORAGE not in {"fs", "s3"}:
    raise ImproperlyConfigured(f"HKUBE_STORAGE must be fs or s3, got {HKUBE_STORAGE!r}")
HKUBE_STORAGE_DIR = Path(env_str("BASE_FS_ADAPTER_DIRECTORY", str(HKUBE_HOME / "storage"))).resolve()
HKUBE_STORAGE_ENCODING = env_str("STORAGE_ENCODING", "msgpack")
# Stream jobs: the most bytes one edge buffers before its producer waits, then drops (HKube's
# STREAMING_MAX_BUFFER_MB, docs/streaming.md).
STREAMING_MAX_BUFFER_MB = env_int("STREAMING_MAX_BUFFER_MB", 1500)
# The stream autoscaler scales a node down at most once per this many seconds (hysteresis).
STREAMING_SCALE_DOWN_SECONDS = env_float("HKUBE_STREAMING_SCALE_DOWN_SECONDS", 30.0)
HKUBE_S3 = {
    "endpoint_url": env_str("S3_ENDPOINT_URL", ""),
    "access_key": env_str("AWS_ACCESS_KEY_ID", ""),
    "secret_key": env_str("AWS_SECRET_ACCESS_KEY", ""),
    "region": env_str("S3_REGION", "us-east-1"),
}
# Values over this many bytes go between our Python wrapper and the fs storage as files,
# not through the WebSocket and the worker's memory (algorithms/runtime/file_values.py); 0: never.
HKUBE_FILE_VALUES_THRESHOLD = env_int("HKUBE_FILE_VALUES_THRESHOLD", 1024 * 1024)
# Results at or above this size are returned as a reference (`info.isBigData`).
HKUBE_RESULTS_THRESHOLD = env_int("STORAGE_RESULTS_THRESHOLD", 100 * 1024)
HKUBE_ALGORITHMS_DIR = Path(env_str("HKUBE_ALGORITHMS_DIR", str(HKUBE_HOME / "algorithms"))).resolve()
# Dev mode (`options.devMode`): the code folders `hkubectl sync` uploads, one per algorithm
# (HKube's dev-sources volume); workers of a dev-mode algorithm run the latest one.
HKUBE_DEV_SOURCES_DIR = Path(env_str("HKUBE_DEV_SOURCES_DIR", str(HKUBE_HOME / "dev-sources"))).resolve()
HKUBE_MAX_UPLOAD_BYTES = env_int("HKUBE_MAX_UPLOAD_BYTES", 500 * 1024 * 1024)
HKUBE_MAX_UNPACKED_BYTES = env_int("HKUBE_MAX_UNPACKED_BYTES", 2 * 1024 * 1024 * 1024)
# Git algorithms: the build's `git clone --depth 1` is killed past this many seconds.
HKUBE_GIT_CLONE_TIMEOUT = env_int("HKUBE_GIT_CLONE_TIMEOUT", 300)
# `builds/webhook/github|gitlab`: with a secret, a request signed with it (GitHub's
# X-Hub-Signature-256, GitLab's X-Gitlab-Token) needs no token; unsigned ones need an admin.
HKUBE_BUILD_WEBHOOK_SECRET = env_str("HKUBE_BUILD_WEBHOOK_SECRET", "")
# The job page links its trace id here when set, e.g. "http://jaeger:16686/trace/{traceId}".
HKUBE_TRACE_URL_TEMPLATE = env_str("HKUBE_TRACE_URL_TEMPLATE", "")
# Batch items are sent to algorithm workers in chunks: one Celery message per chunk.
HKUBE_CHUNK_SIZE = env_int("HKUBE_CHUNK_SIZE", 0)  # 0 = chosen from the batch size
# Executor: how many algorithm workers may run on this machine, and the cpu/mem budget.
HKUBE_MAX_WORKERS = env_int("HKUBE_MAX_WORKERS", 2 * (os.cpu_count() or 2))
# 0 or unset: the machine's (cores from the cgroup quota or cpu count, /proc/meminfo
# MemTotal or the cgroup limit, GPUs from nvidia-smi); see algorithms/resources.py.
HKUBE_CPU_BUDGET = env_float("HKUBE_CPU_BUDGET", 0.0)
HKUBE_MEM_BUDGET = env_str("HKUBE_MEM_BUDGET", "")  # a Kubernetes quantity: 8Gi, 512Mi
HKUBE_GPU_BUDGET = env_int("HKUBE_GPU_BUDGET", -1)  # -1: the GPUs nvidia-smi lists
HKUBE_GPUS = [g.strip() for g in env_str("HKUBE_GPUS", "").split(",") if g.strip()]  # device ids: "0,1"
HKUBE_WORKER_IDLE_SECONDS = env_int("HKUBE_WORKER_IDLE_SECONDS", 600)
# Local algorithm workers are forked from a warm process that has Django and Celery imported
# (algorithms/forkserver.py); false: each worker is a fresh `python -m celery` process.
HKUBE_FORKSERVER = env_bool("HKUBE_FORKSERVER", True)
# A node waiting for a worker its algorithm cannot get shows `failedScheduling` after this
# long (HKube: 60 s); a request that can never fit fails the node at once.
HKUBE_SCHEDULING_WARNING_SECONDS = env_float("HKUBE_SCHEDULING_WARNING_SECONDS", 5.0)
# Kill an algorithm process group whose resident memory passes `mem` x this ratio; 0 turns
# the limit off. (HKube's pod limit is 2 x (mem + reservedMemory) unless USE_RESOURCE_LIMITS.)
HKUBE_MEMORY_LIMIT_RATIO = env_float("HKUBE_MEMORY_LIMIT_RATIO", 2.0)
# Debug nodes (algorithms/debug.py): where a debug worker listens, and the host put in its URL.
HKUBE_DEBUG_HOST = env_str("HKUBE_DEBUG_HOST", "127.0.0.1")  # 0.0.0.0 to reach it from another machine
HKUBE_DEBUG_URL_HOST = env_str("HKUBE_DEBUG_URL_HOST", "")  # default: the listening host
HKUBE_AUDIT_USER = env_str("KC_DEFAULT_USER_AUDITING_NAME", "defaultUser")
# Where algorithm workers run: `local` processes on this machine, or `kubernetes` Jobs (k8s/launcher.py;
# the release's pod settings come from HKUBE_K8S_* in the chart's ConfigMap, k8s/release.py).
HKUBE_LAUNCHER = env_str("HKUBE_LAUNCHER", "local").strip().lower()
if HKUBE_LAUNCHER not in ("local", "kubernetes"):
    raise ImproperlyConfigured(f"HKUBE_LAUNCHER must be local or kubernetes, got {HKUBE_LAUNCHER!r}")
HKUBE_K8S_NAMESPACE = env_str("HKUBE_K8S_NAMESPACE", "")  # default: the service account's, or kubeconfig's
HKUBE_K8S_MAX_CREATE_PER_PASS = env_int("HKUBE_K8S_MAX_CREATE_PER_PASS", 10)  # worker Jobs per executor pass
HKUBE_K8S_READ_NODES = env_bool("HKUBE_K8S_READ_NODES", True)  # false: no ClusterRole, the budget applies

# --- Authentication (accounts/) ------------------------------------------------------------
# none: open (embedded `up` on the loopback only); token: API tokens from `manage.py create_token`
# or the admin; oidc: bearer JWTs from an issuer such as Keycloak. README: "Authentication".
HKUBE_AUTH = env_str("HKUBE_AUTH", "none").strip().lower()
if HKUBE_AUTH not in ("none", "token", "oidc"):
    raise ImproperlyConfigured(f"HKUBE_AUTH must be none, token or oidc, got {HKUBE_AUTH!r}")
HKUBE_OIDC_ISSUER = env_str("HKUBE_OIDC_ISSUER", "")  # e.g. https://kc.example/realms/hkube
HKUBE_OIDC_AUDIENCE = env_str("HKUBE_OIDC_AUDIENCE", "")  # empty: the audience is not checked
# Default: Keycloak's certs endpoint under the issuer.
HKUBE_OIDC_JWKS_URL = env_str("HKUBE_OIDC_JWKS_URL", "")
HKUBE_OIDC_ROLES_CLAIM = env_str("HKUBE_OIDC_ROLES_CLAIM", "realm_access.roles")  # a dotted path
# `claim-role=hkube-role,...`; HKube's Keycloak roles are mapped by default (accounts/oidc.py).
HKUBE_OIDC_ROLE_MAP = env_str("HKUBE_OIDC_ROLE_MAP", "")
HKUBE_OIDC_ALGORITHMS = [a for a in env_str("HKUBE_OIDC_ALGORITHMS", "RS256").split(",") if a]
# Flower started by `up` (user:password): required by `up` when HKUBE_AUTH is not none.
HKUBE_FLOWER_BASIC_AUTH = env_str("HKUBE_FLOWER_BASIC_AUTH", "")
# Algorithm processes see only an allow-listed environment (builds/languages/launch_env.py);
# names listed here (comma-separated) are passed through as well.
HKUBE_ALGORITHM_ENV_ALLOW = [
    n.strip() for n in env_str("HKUBE_ALGORITHM_ENV_ALLOW", "").split(",") if n.strip()
]
LOGIN_URL = "/admin/login/"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("HKUBE_LOG_LEVEL", "INFO")},
    # A 4xx is the client's, answered in HKube's envelope: not logged (polls of a running
    # job's results get one each); 5xx still are.
    "loggers": {"django.server": {"level": "WARNING"}, "django.request": {"level": "ERROR"}},
}

# HKube's web dashboard (kube-HPC/simulator), served at /dashboard/ from a build of it that the
# user downloads: the folder that holds its `index.html`. Unset: /dashboard/ says how to set it.
HKUBE_DASHBOARD_DIR: Path | None = None
if env_str("HKUBE_DASHBOARD_DIR", ""):
    HKUBE_DASHBOARD_DIR = Path(env_str("HKUBE_DASHBOARD_DIR", "")).expanduser().resolve()
    if not (HKUBE_DASHBOARD_DIR / "index.html").is_file():
        raise ImproperlyConfigured(
            f"HKUBE_DASHBOARD_DIR must be the folder of a dashboard build (with index.html), "
            f"got {HKUBE_DASHBOARD_DIR}"
        )
# Links the dashboard shows (empty: none), and whether it polls `healthMonitoring`.
HKUBE_DASHBOARD_GRAFANA_URL = env_str("HKUBE_DASHBOARD_GRAFANA_URL", "")
HKUBE_DASHBOARD_KIBANA_URL = env_str("HKUBE_DASHBOARD_KIBANA_URL", "")
HKUBE_DASHBOARD_HEALTH_MONITORING = env_bool("HKUBE_DASHBOARD_HEALTH_MONITORING", True)
