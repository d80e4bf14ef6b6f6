"""The one door to the Kubernetes API: configuration, timeouts and error classes.

`connect()` loads the in-cluster service account when running in a pod, else a kubeconfig
(`KUBECONFIG` or the given path), and returns a :class:`Kube`: the API objects, the namespace
and the request timeout every call passes (`_request_timeout`), so no call hangs on a dead
connection. `sort_error()` turns whatever a call raised into a :class:`Retryable` (try again
later: 409, 410, 429 honouring Retry-After, 5xx, a quota 403, a network failure) or a
:class:`Fatal` (everything else: the request itself is wrong). `call()` does both.
Plain Python: callers pass settings in.
"""

from __future__ import annotations

import email.utils
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
T = TypeVar("T")


@dataclass(frozen=True)
class ClientSettings:
    """`kubeconfig`/`context` are used outside a cluster; `namespace` overrides the one the
    service account or the kubeconfig context names. Timeouts are in seconds."""

    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None
    connect_timeout: float = 5.0
    read_timeout: float = 30.0


@dataclass(frozen=True)
class Kube:
    """A configured client. Pass `request_timeout` as `_request_timeout` on every call."""

    api_client: client.ApiClient
    namespace: str
    request_timeout: tuple[float, float]

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api_client)

    @property
    def batch(self) -> client.BatchV1Api:
        return client.BatchV1Api(self.api_client)


def in_cluster(environ: Mapping[str, str] | None = None, account_dir: Path = SERVICE_ACCOUNT_DIR) -> bool:
    """True inside a pod that has a service account token mounted."""
    env = os.environ if environ is None else environ
    return bool(env.get("KUBERNETES_SERVICE_HOST")) and (account_dir / "token").is_file()


def connect(settings: ClientSettings) -> Kube:
    configuration = client.Configuration()
    if in_cluster():
        config.load_incluster_config(client_configuration=configuration)
        namespace = settings.namespace or _service_account_namespace()
    else:
        path = settings.kubeconfig or os.environ.get("KUBECONFIG") or None
        config.load_kube_config(
            config_file=path, context=settings.context, client_configuration=configuration
        )
        namespace = settings.namespace or _kubeconfig_namespace(path, settings.context)
    return Kube(client.ApiClient(configuration), namespace, (settings.connect_timeout, settings.read_timeout))


def _service_account_namespace() -> str:
    try:
        return (SERVICE_ACCOUNT_DIR / "namespace").read_text().strip() or "default"
    except OSError:
        return "default"


def _kubeconfig_namespace(path: str | None, context: str | None) -> str:
    contexts, active = config.list_kube_config_contexts(config_file=path)
    chosen = next((c for c in contexts if c.get("name") == context), None) if context else active
    namespace = ((chosen or {}).get("context") or {}).get("namespace")
    return str(namespace) if namespace else "default"


# --- errors ----------------------------------------------------------------------------------------


class KubeError(Exception):
    """A failed API call. `status` is the HTTP status (None for a network failure), `reason`
    the Status object's reason (`AlreadyExists`, `Invalid`, `Forbidden`, ...), `message` its
    text, `retry_after` the seconds the server asked us to wait."""

    retryable = False

    def __init__(
        self, message: str, *, status: int | None = None, reason: str = "", retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.reason = reason
        self.retry_after = retry_after

    @property
    def not_found(self) -> bool:
        return self.status == 404


class Retryable(KubeError):
    """Try again later (after `retry_after` when set): nothing is wrong with the request."""

    retryable = True


class Fatal(KubeError):
    """Do not retry: the request is invalid (422), forbidden, or names a missing object."""


def sort_error(exc: BaseException, *, now: float | None = None) -> KubeError:
    """The class of an exception raised by the client. Airflow's rules: 409, 410, 429 and 5xx
    are transient; a 403 is transient only when a ResourceQuota is exceeded (room will free
    up); a connection or timeout failure is transient."""
    if isinstance(exc, KubeError):
        return exc
    if isinstance(exc, ApiException):
        status = int(exc.status or 0)
        reason, message = _status_body(exc)
        message = message or f"{status} {exc.reason or ''}".strip()
        retry_after = _retry_after(exc.headers, time.time() if now is None else now)
        transient = status in (409, 410, 429) or status >= 500
        quota = status == 403 and "exceeded quota" in message
        kind: type[KubeError] = Retryable if transient or quota else Fatal
        return kind(message, status=status, reason=reason, retry_after=retry_after)
    if isinstance(exc, urllib3.exceptions.HTTPError | ConnectionError | TimeoutError):
        return Retryable(f"cannot reach the Kubernetes API: {exc}")
    return Fatal(f"{type(exc).__name__}: {exc}")


def call(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`function(*args, **kwargs)`, with any failure raised as a sorted :class:`KubeError`."""
    try:
        return function(*args, **kwargs)
    except (ApiException, urllib3.exceptions.HTTPError, ConnectionError, TimeoutError) as exc:
        raise sort_error(exc) from exc


def _status_body(exc: ApiException) -> tuple[str, str]:
    """(reason, message) from the Status object the API server sends as the body."""
    try:
        body = json.loads(exc.body) if exc.body else {}
    except (TypeError, ValueError):
        return "", str(exc.body or "")
    if not isinstance(body, dict):
        return "", str(body)
    return str(body.get("reason") or ""), str(body.get("message") or "")


def _retry_after(headers: Mapping[str, str] | None, now: float) -> float | None:
    """Retry-After in seconds: delta-seconds or an HTTP date (RFC 9110)."""
    if not headers:
        return None
    raw = next((str(v) for k, v in headers.items() if k.lower() == "retry-after"), None)
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)
