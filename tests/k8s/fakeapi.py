"""A small fake Kubernetes API server for contract tests with the real `kubernetes` client.

It keeps objects in memory per (group path, namespace, plural): Jobs (`batch/v1`), Pods,
Events, Nodes, ConfigMaps, Secrets (`v1`); serves create, get, list (with `labelSelector` equality terms and
`fieldSelector` on `metadata.name`), delete (honouring `propagationPolicy` in the body or
query), patch/replace of `status` (merge), and watch streams (`?watch=true`) that replay
the objects then send what changes. Every request is recorded (`requests`) with its method,
path, query and JSON body, so tests can check paths, selectors and bodies.

Scripted answers: `fail(method, path_suffix, status, reason=..., message=..., headers=...,
times=1)` answers the next `times` matching requests with a Kubernetes Status object instead
of serving them (409, 410, 422, 403 quota, 429 with Retry-After, 500...). `drop_watches()` ends
every open watch stream (the client sees the connection close). `expire_watches()` sends each
open watch an ERROR event with a 410 Status (what an API server sends when the resourceVersion
is too old).

    with FakeApi() as api:
        kube = api.kube(namespace="hkube")   # a k8s.client.Kube pointed at the fake
        ...
        api.calls("POST", "/jobs")[-1].body

Plain standard library plus the `kubernetes` client's configuration; no Django.
"""

from __future__ import annotations

import copy
import itertools
import json
import queue
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from kubernetes import client

from k8s.client import Kube

# (url prefix, kind) for each collection the fake serves, by plural.
COLLECTIONS: dict[str, tuple[str, str, str, bool]] = {
    # plural: (api prefix, apiVersion, kind, namespaced)
    "jobs": ("/apis/batch/v1", "batch/v1", "Job", True),
    "pods": ("/api/v1", "v1", "Pod", True),
    "events": ("/api/v1", "v1", "Event", True),
    "nodes": ("/api/v1", "v1", "Node", False),
    "configmaps": ("/api/v1", "v1", "ConfigMap", True),
    "secrets": ("/api/v1", "v1", "Secret", True),
}


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: Any

    @property
    def label_selector(self) -> str | None:
        return self.query.get("labelSelector")


@dataclass
class _Failure:
    method: str
    path_suffix: str
    status: int
    reason: str
    message: str
    headers: dict[str, str]
    times: int


@dataclass
class _Route:
    plural: str
    namespace: str | None
    name: str | None
    subresource: str | None


@dataclass
class FakeApi:
    """The server. Use as a context manager (starts on enter, stops on exit)."""

    objects: dict[tuple[str, str | None], dict[str, dict[str, Any]]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    _failures: list[_Failure] = field(default_factory=list)
    _watchers: list[tuple[str, str | None, dict[str, str], queue.Queue[Any]]] = field(default_factory=list)
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _versions: Iterator[int] = field(default_factory=lambda: itertools.count(1000))
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    # --- lifecycle -----------------------------------------------------------------------------

    def __enter__(self) -> FakeApi:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        api = self

        class Handler(_Handler):
            fake = api

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.drop_watches()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        assert self._server is not None, "FakeApi is not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def kube(self, namespace: str = "default", timeout: tuple[float, float] = (2.0, 5.0)) -> Kube:
        """A `k8s.client.Kube` whose client talks to this server."""
        configuration = client.Configuration()
        configuration.host = self.url
        configuration.retries = False
        return Kube(client.ApiClient(configuration), namespace, timeout)

    # --- state, for tests ----------------------------------------------------------------------

    def put(self, plural: str, obj: dict[str, Any], namespace: str | None = "default") -> dict[str, Any]:
        """Store (or replace) `obj` directly, as the cluster would (a node, a pod's status)."""
        return self._store(plural, namespace, obj, event="MODIFIED")

    def get(self, plural: str, name: str, namespace: str | None = "default") -> dict[str, Any] | None:
        with self._lock:
            found = self.objects.get((plural, _ns(plural, namespace)), {}).get(name)
            return copy.deepcopy(found) if found is not None else None

    def objects_of(self, plural: str, namespace: str | None = "default") -> list[dict[str, Any]]:
        with self._lock:
            return [copy.deepcopy(o) for o in self.objects.get((plural, _ns(plural, namespace)), {}).values()]

    def remove(self, plural: str, name: str, namespace: str | None = "default") -> None:
        with self._lock:
            gone = self.objects.get((plural, _ns(plural, namespace)), {}).pop(name, None)
            if gone is not None:
                self._notify(plural, _ns(plural, namespace), "DELETED", gone)

    def fail(
        self,
        method: str,
        path_suffix: str,
        status: int,
        *,
        reason: str = "",
        message: str = "",
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next `times` requests whose method matches and whose path ends with
        `path_suffix` (e.g. `/jobs`, `/jobs/w-1`) with a Status of `status`."""
        with self._lock:
            phrase = HTTPStatus(status).phrase
            reason = reason or phrase.replace(" ", "")
            failure = _Failure(
                method.upper(), path_suffix, status, reason, message or phrase, dict(headers or {}), times
            )
            self._failures.append(failure)

    def calls(self, method: str | None = None, path_suffix: str = "") -> list[Request]:
        """Recorded requests, optionally of one method and ending with `path_suffix`."""
        with self._lock:
            return [
                r for r in self.requests
                if (method is None or r.method == method.upper()) and r.path.endswith(path_suffix)
            ]  # fmt: skip

    def drop_watches(self) -> None:
        with self._lock:
            for *_, events in self._watchers:
                events.put(None)
            self._watchers.clear()

    def expire_watches(self) -> None:
        status = _status(410, "Expired", "too old resource version")
        with self._lock:
            for *_, events in self._watchers:
                events.put({"type": "ERROR", "object": status})
                events.put(None)
            self._watchers.clear()

    # --- internals -----------------------------------------------------------------------------

    def _store(self, plural: str, namespace: str | None, obj: dict[str, Any], event: str) -> dict[str, Any]:
        namespace = _ns(plural, namespace)
        _, api_version, kind, _ = COLLECTIONS[plural]
        obj = copy.deepcopy(obj)
        obj.setdefault("apiVersion", api_version)
        obj.setdefault("kind", kind)
        meta = obj.setdefault("metadata", {})
        with self._lock:
            bucket = self.objects.setdefault((plural, namespace), {})
            existing = bucket.get(meta["name"])
            meta.setdefault("uid", (existing or {}).get("metadata", {}).get("uid") or str(uuid.uuid4()))
            meta.setdefault("creationTimestamp", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
            if namespace is not None:
                meta["namespace"] = namespace
            meta["resourceVersion"] = str(next(self._versions))
            bucket[meta["name"]] = obj
            self._notify(plural, namespace, "ADDED" if existing is None else event, obj)
            return copy.deepcopy(obj)

    def _notify(self, plural: str, namespace: str | None, kind: str, obj: dict[str, Any]) -> None:
        for watched, ns, selector, events in self._watchers:
            if watched == plural and (ns is None or ns == namespace) and _matches(obj, selector):
                events.put({"type": kind, "object": copy.deepcopy(obj)})

    def _scripted(self, method: str, path: str) -> _Failure | None:
        with self._lock:
            for failure in self._failures:
                if failure.method == method and path.endswith(failure.path_suffix) and failure.times > 0:
                    failure.times -= 1
                    if failure.times == 0:
                        self._failures.remove(failure)
                    return failure
        return None

    def _handle(self, method: str, raw_path: str, body: Any) -> tuple[int, Any, dict[str, str]] | str:
        split = urlsplit(raw_path)
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        with self._lock:
            self.requests.append(Request(method, split.path, query, body))
        failure = self._scripted(method, split.path)
        if failure is not None:
            return failure.status, _status(failure.status, failure.reason, failure.message), failure.headers
        route = _route(split.path)
        if route is None:
            return (
                404,
                _status(404, "NotFound", f"no resource at {split.path}"),
                {},
            )
        if method == "GET" and route.name is None and str(query.get("watch")).lower() in ("true", "1"):
            return "watch"
        return self._serve(method, route, query, body)

    def _serve(
        self, method: str, route: _Route, query: dict[str, str], body: Any
    ) -> tuple[int, Any, dict[str, str]]:
        plural, namespace, name = route.plural, route.namespace, route.name
        _, api_version, kind, _ = COLLECTIONS[plural]
        with self._lock:
            bucket = self.objects.setdefault((plural, namespace), {})
            if method == "POST" and name is None:
                obj_name = (body or {}).get("metadata", {}).get("name")
                if not obj_name:
                    return (
                        422,
                        _status(422, "Invalid", f"{kind}: metadata.name: Required value"),
                        {},
                    )
                if obj_name in bucket:
                    return (
                        409,
                        _status(409, "AlreadyExists", f'{plural} "{obj_name}" already exists'),
                        {},
                    )
                return 201, self._store(plural, namespace, body, "ADDED"), {}
            if method == "GET" and name is None:
                items = [o for o in self._all(plural, namespace) if _matches(o, _selector(query))]
                items = [o for o in items if _field_matches(o, query.get("fieldSelector"))]
                return 200, {
                    "apiVersion": api_version, "kind": f"{kind}List",
                    "metadata": {"resourceVersion": str(next(self._versions))}, "items": items,
                }, {}  # fmt: skip
            assert name is not None
            if name not in bucket:
                return 404, _status(404, "NotFound", f'{plural} "{name}" not found'), {}
            if method == "GET":
                return 200, copy.deepcopy(bucket[name]), {}
            if method == "DELETE":
                gone = bucket.pop(name)
                self._notify(plural, namespace, "DELETED", gone)
                if plural == "jobs":
                    self._cascade(namespace, name, query, body)
                return 200, _status(200, "", "", success=True, details={"name": name, "kind": plural}), {}
            if method in ("PATCH", "PUT"):
                updated = copy.deepcopy(bucket[name])
                _merge(updated, body or {})
                return 200, self._store(plural, namespace, updated, "MODIFIED"), {}
        return 405, _status(405, "MethodNotAllowed", f"{method} is not supported"), {}

    def _all(self, plural: str, namespace: str | None) -> list[dict[str, Any]]:
        if namespace is None and COLLECTIONS[plural][3]:
            return [copy.deepcopy(o) for (p, _), b in self.objects.items() if p == plural for o in b.values()]
        return [copy.deepcopy(o) for o in self.objects.get((plural, namespace), {}).values()]

    def _cascade(self, namespace: str | None, job: str, query: dict[str, str], body: Any) -> None:
        """Background/Foreground propagation removes the Job's pods (Orphan keeps them)."""
        policy = query.get("propagationPolicy") or (body or {}).get("propagationPolicy") or "Orphan"
        if policy == "Orphan":
            return
        pods = self.objects.get(("pods", namespace), {})
        for pod_name in [
            n for n, p in pods.items() if p.get("metadata", {}).get("labels", {}).get("job-name") == job
        ]:
            self._notify("pods", namespace, "DELETED", pods.pop(pod_name))

    def _watch(self, raw_path: str) -> tuple[queue.Queue[Any], list[dict[str, Any]]]:
        split = urlsplit(raw_path)
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        route = _route(split.path)
        assert route is not None
        selector = _selector(query)
        events: queue.Queue[Any] = queue.Queue()
        with self._lock:
            initial = [o for o in self._all(route.plural, route.namespace) if _matches(o, selector)]
            self._watchers.append((route.plural, route.namespace, selector, events))
        since = query.get("resourceVersion")
        if since:
            initial = [o for o in initial if int(o["metadata"]["resourceVersion"]) > int(since)]
        return events, [{"type": "ADDED", "object": o} for o in initial]


class _Handler(BaseHTTPRequestHandler):
    fake: FakeApi
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return raw.decode(errors="replace")

    def _answer(self, method: str) -> None:
        result = self.fake._handle(method, self.path, self._body())
        if result == "watch":
            self._stream()
            return
        assert not isinstance(result, str)
        status, payload, headers = result
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _stream(self) -> None:
        events, initial = self.fake._watch(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        query = parse_qs(urlsplit(self.path).query)
        timeout = float((query.get("timeoutSeconds") or ["30"])[-1])
        deadline = time.monotonic() + timeout
        try:
            for event in initial:
                self._chunk(event)
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    event = events.get(timeout=min(left, 0.5))
                except queue.Empty:
                    continue
                if event is None:
                    break
                self._chunk(event)
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            with self.fake._lock:
                self.fake._watchers[:] = [w for w in self.fake._watchers if w[3] is not events]
        self.close_connection = True

    def _chunk(self, event: dict[str, Any]) -> None:
        line = json.dumps(event).encode() + b"\n"
        self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
        self.wfile.flush()

    def do_GET(self) -> None:
        self._answer("GET")

    def do_POST(self) -> None:
        self._answer("POST")

    def do_DELETE(self) -> None:
        self._answer("DELETE")

    def do_PATCH(self) -> None:
        self._answer("PATCH")

    def do_PUT(self) -> None:
        self._answer("PUT")


def _ns(plural: str, namespace: str | None) -> str | None:
    return namespace if COLLECTIONS[plural][3] else None


def _route(path: str) -> _Route | None:
    """`/apis/batch/v1/namespaces/<ns>/jobs[/<name>[/status]]`, `/api/v1/nodes`, `/api/v1/pods`..."""
    for plural, (prefix, *_rest) in COLLECTIONS.items():
        if not path.startswith(prefix + "/"):
            continue
        parts = path[len(prefix) + 1 :].split("/")
        namespace: str | None = None
        if parts[0] == "namespaces" and len(parts) >= 3:
            namespace, parts = parts[1], parts[2:]
        if parts[0] != plural or len(parts) > 3:
            continue
        return _Route(
            plural, namespace, parts[1] if len(parts) > 1 else None, parts[2] if len(parts) > 2 else None
        )
    return None


def _selector(query: dict[str, str]) -> dict[str, str]:
    """Equality terms of a label selector (`a=b,c==d`); other forms are not served."""
    terms: dict[str, str] = {}
    for term in filter(None, (query.get("labelSelector") or "").split(",")):
        key, _, value = term.replace("==", "=").partition("=")
        terms[key.strip()] = value.strip()
    return terms


def _matches(obj: dict[str, Any], selector: dict[str, str]) -> bool:
    labels = obj.get("metadata", {}).get("labels") or {}
    return all(labels.get(key) == value for key, value in selector.items())


def _field_matches(obj: dict[str, Any], selector: str | None) -> bool:
    for term in filter(None, (selector or "").split(",")):
        key, _, value = term.replace("==", "=").partition("=")
        if key == "metadata.name" and obj.get("metadata", {}).get("name") != value:
            return False
    return True


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        elif value is None:
            target.pop(key, None)
        else:
            target[key] = value


def _status(
    code: int, reason: str, message: str, *, success: bool = False, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    status: dict[str, Any] = {
        "kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Success" if success else "Failure", "message": message, "reason": reason, "code": code,
    }  # fmt: skip
    if details:
        status["details"] = details
    return status
