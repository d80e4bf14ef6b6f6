"""A tiny fake of the Kubernetes API for build Jobs, served over HTTP so the real `kubernetes`
client talks to it: Jobs (create, read, delete), pods listed by label selector, pod logs.

It is no controller: a test plays the Job controller and the kubelet with `set_pod` (a pod
for a build, with the status shapes a real kubelet writes) and `set_job_status`. It records
every request, and `script(method, path_suffix, status, body)` answers the next matching
request with a canned error (409, 429, 500, ...) instead.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

BUILD_ID_LABEL = "hkube.io/build-id"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any


@dataclass
class FakeBuildsApi:
    namespace: str = "hkube"
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    pods: dict[str, dict[str, Any]] = field(default_factory=dict)
    logs: dict[tuple[str, str], str] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    scripted: list[tuple[str, str, int, dict[str, Any]]] = field(default_factory=list)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    # --- what tests call ----------------------------------------------------------------------

    def script(self, method: str, path_suffix: str, status: int, body: dict[str, Any] | None = None) -> None:
        """Answer the next `method` request whose path ends with `path_suffix` with `status`."""
        status_body = {
            "kind": "Status",
            "apiVersion": "v1",
            "status": "Failure",
            "code": status,
            **(body or {}),
        }
        self.scripted.append((method, path_suffix, status, status_body))

    def set_pod(
        self,
        job: str,
        *,
        phase: str = "Pending",
        init: list[dict[str, Any]] | None = None,
        containers: list[dict[str, Any]] | None = None,
        conditions: list[dict[str, Any]] | None = None,
        logs: dict[str, str] | None = None,
    ) -> str:
        """The pod of Job `job` now has this status (the kubelet's shapes); returns its name."""
        spec = self.jobs[job]["spec"]["template"]
        name = f"{job}-abcde"
        self.pods[name] = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "namespace": self.namespace,
                "labels": {**spec["metadata"]["labels"], "job-name": job},
                "creationTimestamp": "2026-01-01T00:00:00Z",
            },
            "spec": spec["spec"],
            "status": {
                "phase": phase,
                "initContainerStatuses": init or [],
                "containerStatuses": containers or [],
                "conditions": conditions or [],
            },
        }
        for container, text in (logs or {}).items():
            self.logs[(name, container)] = text
        return name

    def set_job_status(self, job: str, status: dict[str, Any]) -> None:
        self.jobs[job]["status"] = status

    def calls(self, method: str, contains: str = "") -> list[Request]:
        return [r for r in self.requests if r.method == method and contains in r.path]

    def kubeconfig(self, folder: Path) -> Path:
        path = folder / "kubeconfig"
        path.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
                    "users": [{"name": "fake", "user": {"token": "fake-token"}}],
                    "contexts": [
                        {
                            "name": "fake",
                            "context": {"cluster": "fake", "user": "fake", "namespace": self.namespace},
                        }
                    ],
                    "current-context": "fake",
                }
            )
        )
        return path

    # --- the server ----------------------------------------------------------------------------

    def handle(self, method: str, raw_path: str, body: Any) -> tuple[int, Any]:
        parsed = urllib.parse.urlparse(raw_path)
        query = urllib.parse.parse_qs(parsed.query)
        with self.lock:
            self.requests.append(Request(method, parsed.path, query, body))
            for index, (m, suffix, status, answer) in enumerate(self.scripted):
                if m == method and parsed.path.endswith(suffix):
                    del self.scripted[index]
                    return status, answer
            return self._route(method, parsed.path, query, body)

    def _route(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        jobs = f"/apis/batch/v1/namespaces/{self.namespace}/jobs"
        pods = f"/api/v1/namespaces/{self.namespace}/pods"
        if path == jobs and method == "POST":
            name = body["metadata"]["name"]
            if name in self.jobs:
                return _status(409, "AlreadyExists", f'jobs.batch "{name}" already exists')
            self.jobs[name] = {**body, "status": {"active": 1}}
            return 201, self.jobs[name]
        if path.startswith(jobs + "/"):
            name = path.rsplit("/", 1)[1]
            if name not in self.jobs:
                return _status(404, "NotFound", f'jobs.batch "{name}" not found')
            if method == "GET":
                return 200, self.jobs[name]
            if method == "DELETE":
                job = self.jobs.pop(name)
                for pod in [
                    p for p, o in self.pods.items() if o["metadata"]["labels"].get("job-name") == name
                ]:
                    del self.pods[pod]
                return 200, {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "status": "Success",
                    "details": {"name": job["metadata"]["name"]},
                }
        if path == pods and method == "GET":
            wanted = dict(
                part.split("=", 1) for part in (query.get("labelSelector") or [""])[0].split(",") if part
            )
            items = [
                p
                for p in self.pods.values()
                if all(p["metadata"]["labels"].get(k) == v for k, v in wanted.items())
            ]
            return 200, {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": items}
        if path.startswith(pods + "/") and path.endswith("/log") and method == "GET":
            name = path.split("/")[-2]
            container = (query.get("container") or [""])[0]
            if (name, container) not in self.logs:
                return _status(
                    400, "BadRequest", f'container "{container}" in pod "{name}" is waiting to start'
                )
            return 200, self.logs[(name, container)]
        return _status(404, "NotFound", f"{method} {path} is not served by the fake")


def _status(code: int, reason: str, message: str) -> tuple[int, dict[str, Any]]:
    return code, {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "code": code,
        "reason": reason,
        "message": message,
    }


@contextmanager
def serve(namespace: str = "hkube") -> Iterator[FakeBuildsApi]:
    api = FakeBuildsApi(namespace=namespace)

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            status, answer = api.handle(self.command, self.path, body)
            data = answer.encode() if isinstance(answer, str) else json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain" if isinstance(answer, str) else "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
