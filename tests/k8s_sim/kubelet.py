"""A simulated cluster behind the fake API (`tests/k8s/fakeapi.py`): Job controller, scheduler
and kubelet in one thread of the test process.

- **Job controller**: every Job gets one Pod (`<job>-<rand5>`, labelled `job-name`, owned by the
  Job); when the pod ends, the Job gets `succeeded`/`failed` and its condition.
- **Scheduler** (`scheduler.py`): a pending pod goes to the first simulated node (a Node object
  in the fake API: allocatable cpu/memory/`nvidia.com/gpu`, taints, labels) that fits. None
  fits: `PodScheduled=False` `Unschedulable` with the
  scheduler's message and a `FailedScheduling` Event, tried again on each pass.
- **Kubelet**: each container's image is looked up in `images` (image name -> how to run it
  here); an unknown image is `ErrImagePull` then `ImagePullBackOff` with a `Failed` Event. Known
  images run as local processes with the container's env (`env`, `envFrom` ConfigMaps/Secrets,
  downward API fields) and a separate `HKUBE_HOME` per pod. The status is the API's shape:
  phase, conditions, `containerStatuses` with running/terminated states, exit codes, reasons.

The one departure from a real cluster: the pod's containers share this machine's loopback, so
each pod gets its own socket port (the worker's `HKUBE_WORKER_SOCKET_PORT` and the algorunner's
`WORKER_SOCKET_URL` are rewritten to it). When the worker container ends, the algorunner is
stopped too (a real algorunner exits when its worker's socket closes).

Hooks for failure tests: `oom_kill(pod)` kills a pod's algorunner and reports `OOMKilled`
(exit 137); a pod whose algorithm writes the file `MEMORY_EXCEEDED` into its `HKUBE_HOME` is
OOM-killed the same way (the kernel's answer to an allocation over the limit);
`lose_node(name)` kills the node's pods, deletes them and the Node.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import signal
import socket
import string
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.k8s.fakeapi import FakeApi
from tests.k8s_sim.scheduler import ENDED, place

MEMORY_EXCEEDED = "MEMORY_EXCEEDED"
OOM_EXIT = 137
Obj = dict[str, Any]


@dataclass(frozen=True)
class Image:
    """How a container image runs here: `command(container_env)` -> (argv, env additions);
    None runs the container's own `command` (with `python` mapped to this interpreter)."""

    command: Callable[[Mapping[str, str]], tuple[list[str], dict[str, str]]] | None = None
    cwd: Path | None = None


@dataclass
class _Container:
    name: str
    process: subprocess.Popen[bytes]
    log: Path
    reason: str = ""  # set when the simulator ended it (OOMKilled)


@dataclass
class _Pod:
    name: str
    job: str
    node: str = ""
    port: int = 0
    containers: dict[str, _Container] = field(default_factory=dict)
    started: str = ""
    failed_scheduling: bool = False
    pull_failed: bool = False
    ended: bool = False


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Kubelet(threading.Thread):
    """The simulated cluster for the fake API's `namespace`; `images` maps image names."""

    def __init__(self, api: FakeApi, namespace: str, images: Mapping[str, Image], home: Path) -> None:
        super().__init__(daemon=True, name="kubelet-sim")
        self.api = api
        self.namespace = namespace
        self.images = dict(images)
        self.home = home
        self.pods: dict[str, _Pod] = {}  # by pod name
        self.jobs_seen: set[str] = set()
        self.oom_killed: list[str] = []  # pods whose algorunner was OOM-killed, in order
        self._halt = threading.Event()
        self._lock = threading.RLock()

    # --- lifecycle ------------------------------------------------------------------------------

    def stop(self) -> None:
        self._halt.set()
        self.join(10)
        with self._lock:
            for pod in list(self.pods.values()):
                self._kill(pod)

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                with self._lock:
                    self._pass()
            except Exception as exc:  # noqa: BLE001 - keep simulating; the test sees the log
                print(f"kubelet-sim: {type(exc).__name__}: {exc}", file=sys.stderr)
            self._halt.wait(0.1)

    # --- hooks for tests ------------------------------------------------------------------------

    def oom_kill(self, pod_name: str) -> None:
        with self._lock:
            pod = self.pods[pod_name]
            runner = pod.containers.get("algorunner")
            if runner is not None and runner.process.poll() is None:
                runner.reason = "OOMKilled"
                self.oom_killed.append(pod_name)
                _signal(runner.process, signal.SIGKILL)

    def lose_node(self, node: str) -> list[str]:
        """The node goes away with its pods (their processes killed); returns the pods' names."""
        with self._lock:
            lost = [pod for pod in self.pods.values() if pod.node == node and not pod.ended]
            for pod in lost:
                self._kill(pod)
                pod.ended = True
                self.api.remove("pods", pod.name, self.namespace)
                self._finish_job(pod.job, False)
            self.api.remove("nodes", node, None)
            return [pod.name for pod in lost]

    def pods_of(self, algorithm: str) -> list[Obj]:
        return [
            p
            for p in self.api.objects_of("pods", self.namespace)
            if (p["metadata"].get("labels") or {}).get("hkube.io/algorithm") == algorithm
        ]

    def log_of(self, pod_name: str, container: str) -> str:
        with self._lock:
            found = self.pods.get(pod_name)
        if found is None or container not in found.containers:
            return ""
        return found.containers[container].log.read_text(errors="replace")

    # --- one pass -------------------------------------------------------------------------------

    def _pass(self) -> None:
        for job in self.api.objects_of("jobs", self.namespace):
            name = job["metadata"]["name"]
            if name not in self.jobs_seen:
                self.jobs_seen.add(name)
                self._create_pod(job)
        present = {p["metadata"]["name"]: p for p in self.api.objects_of("pods", self.namespace)}
        for pod in list(self.pods.values()):
            obj = present.get(pod.name)
            if obj is None:  # deleted (its Job was deleted, or its node was lost)
                if not pod.ended:
                    self._kill(pod)
                    pod.ended = True
                    # backoffLimit 0: the Job controller counts the pod as failed; no new pod.
                    self._finish_job(pod.job, False)
                continue
            if pod.ended:
                continue
            if not pod.node:
                self._schedule(pod, obj)
            elif not pod.containers and not pod.pull_failed:
                self._start(pod, obj)
            elif pod.containers:
                self._watch(pod, obj)

    def _create_pod(self, job: Obj) -> None:
        template = (job.get("spec") or {}).get("template") or {}
        job_name = job["metadata"]["name"]
        suffix = "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(5))
        name = f"{job_name}-{suffix}"
        meta = template.get("metadata") or {}
        pod = {
            "metadata": {
                "name": name,
                "labels": {**(meta.get("labels") or {}), "job-name": job_name},
                "annotations": dict(meta.get("annotations") or {}),
                "ownerReferences": [
                    {
                        "apiVersion": "batch/v1",
                        "kind": "Job",
                        "name": job_name,
                        "uid": job["metadata"].get("uid", ""),
                        "controller": True,
                    }
                ],
            },
            "spec": template.get("spec") or {},
            "status": {"phase": "Pending", "qosClass": "Burstable"},
        }
        self.api.put("pods", pod, self.namespace)
        self.pods[name] = _Pod(name, job_name)

    def _schedule(self, pod: _Pod, obj: Obj) -> None:
        nodes = self.api.objects_of("nodes", None)
        namespaces = {ns for plural, ns in list(self.api.objects) if plural == "pods"}
        bound = [
            p for ns in namespaces for p in self.api.objects_of("pods", ns)
            if (p.get("spec") or {}).get("nodeName") and (p.get("status") or {}).get("phase") not in ENDED
        ]  # fmt: skip
        node_name, message = place(obj.get("spec") or {}, nodes, bound)
        if node_name is not None:
            self._bind(pod, obj, node_name)
            return
        if pod.failed_scheduling:
            return
        pod.failed_scheduling = True
        obj["status"] = {
            "phase": "Pending",
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": message,
                    "lastTransitionTime": now_iso(),
                }
            ],
        }
        self.api.put("pods", obj, self.namespace)
        self._event(pod.name, "Warning", "FailedScheduling", message, "default-scheduler")

    def _bind(self, pod: _Pod, obj: Obj, node: str) -> None:
        pod.node = node
        obj["spec"]["nodeName"] = node
        obj["status"] = {
            "phase": "Pending",
            "hostIP": "10.0.0.1",
            "conditions": [{"type": "PodScheduled", "status": "True", "lastTransitionTime": now_iso()}],
            "containerStatuses": [
                {
                    "name": c["name"],
                    "image": c.get("image", ""),
                    "imageID": "",
                    "ready": False,
                    "restartCount": 0,
                    "started": False,
                    "state": {"waiting": {"reason": "ContainerCreating"}},
                }
                for c in obj["spec"].get("containers") or []
            ],
        }
        self.api.put("pods", obj, self.namespace)
        self._event(
            pod.name,
            "Normal",
            "Scheduled",
            f"Successfully assigned {self.namespace}/{pod.name} to {node}",
            "default-scheduler",
        )

    def _start(self, pod: _Pod, obj: Obj) -> None:
        containers = obj["spec"].get("containers") or []
        missing = [c for c in containers if c.get("image") not in self.images]
        if missing:
            pod.pull_failed = True
            statuses = []
            for c in containers:
                image = c.get("image", "")
                if c in missing:
                    text = (
                        f'Failed to pull image "{image}": rpc error: code = NotFound desc = failed to pull '
                        f'and unpack image "{image}": not found'
                    )
                    state = {"waiting": {"reason": "ErrImagePull", "message": text}}
                    self._event(
                        pod.name, "Warning", "Failed", text, "kubelet", f"spec.containers{{{c['name']}}}"
                    )
                else:
                    state = {"waiting": {"reason": "PodInitializing"}}
                statuses.append(
                    {
                        "name": c["name"],
                        "image": image,
                        "imageID": "",
                        "ready": False,
                        "restartCount": 0,
                        "started": False,
                        "state": state,
                    }
                )
            obj["status"]["containerStatuses"] = statuses
            self.api.put("pods", obj, self.namespace)
            threading.Timer(0.5, self._back_off, args=(pod.name,)).start()
            return
        pod.port = free_port()
        home = self.home / pod.name
        home.mkdir(parents=True, exist_ok=True)
        for c in containers:
            pod.containers[c["name"]] = self._run(pod, obj, c, home)
        pod.started = now_iso()
        obj["status"].update(
            phase="Running",
            podIP="10.0.0.2",
            startTime=pod.started,
            conditions=[{"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "True"}],
            containerStatuses=[
                {
                    "name": c["name"],
                    "image": c.get("image", ""),
                    "imageID": _image_id(c.get("image", "")),
                    "containerID": f"containerd://{pod.name}-{c['name']}",
                    "ready": True,
                    "restartCount": 0,
                    "started": True,
                    "state": {"running": {"startedAt": pod.started}},
                }
                for c in containers
            ],
        )
        self.api.put("pods", obj, self.namespace)

    def _back_off(self, pod_name: str) -> None:
        with self._lock:
            obj = self.api.get("pods", pod_name, self.namespace)
            if obj is None:
                return
            for status in obj["status"].get("containerStatuses") or []:
                waiting = (status.get("state") or {}).get("waiting") or {}
                if waiting.get("reason") == "ErrImagePull":
                    image = status["image"]
                    waiting.update(reason="ImagePullBackOff", message=f'Back-off pulling image "{image}"')
            self.api.put("pods", obj, self.namespace)

    def _run(self, pod: _Pod, obj: Obj, container: Obj, home: Path) -> _Container:
        env = self._env(pod, obj, container, home)
        image = self.images[container["image"]]
        if image.command is not None:
            argv, extra = image.command(env)
            env.update(extra)
        else:
            argv = list(container.get("command") or []) + list(container.get("args") or [])
            if argv and argv[0] == "python":
                argv[0] = sys.executable
        log = home / f"{container['name']}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                argv,
                env=env,
                cwd=image.cwd or home,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return _Container(container["name"], process, log)

    def _env(self, pod: _Pod, obj: Obj, container: Obj, home: Path) -> dict[str, str]:
        env = {k: os.environ[k] for k in ("PATH", "LANG", "LC_ALL", "TMPDIR") if k in os.environ}
        for source in container.get("envFrom") or []:
            if "configMapRef" in source:
                found = self.api.get("configmaps", source["configMapRef"]["name"], self.namespace) or {}
                env.update(found.get("data") or {})
            if "secretRef" in source:
                found = self.api.get("secrets", source["secretRef"]["name"], self.namespace) or {}
                env.update(found.get("stringData") or {})
        fields = {
            "metadata.name": pod.name,
            "metadata.namespace": self.namespace,
            "metadata.uid": obj["metadata"].get("uid", ""),
            "status.podIP": "127.0.0.1",
        }
        for variable in container.get("env") or []:
            if "value" in variable:
                env[variable["name"]] = str(variable["value"])
            elif "fieldRef" in (variable.get("valueFrom") or {}):
                env[variable["name"]] = fields.get(variable["valueFrom"]["fieldRef"]["fieldPath"], "")
        env["HKUBE_HOME"] = str(home)
        env["HOME"] = str(home)
        if "HKUBE_WORKER_SOCKET_PORT" in env:
            env["HKUBE_WORKER_SOCKET_PORT"] = str(pod.port)
        if "WORKER_SOCKET_URL" in env:
            env["WORKER_SOCKET_URL"] = f"ws://localhost:{pod.port}"
            env["WORKER_SOCKET_PORT"] = str(pod.port)
        if "ALGO_METRICS_DIR" in env:
            env["ALGO_METRICS_DIR"] = str(home / "metrics")
        return env

    def _watch(self, pod: _Pod, obj: Obj) -> None:
        runner = pod.containers.get("algorunner")
        if (
            runner is not None
            and runner.process.poll() is None
            and (self.home / pod.name / MEMORY_EXCEEDED).exists()
        ):
            (self.home / pod.name / MEMORY_EXCEEDED).unlink()
            runner.reason = "OOMKilled"
            self.oom_killed.append(pod.name)
            _signal(runner.process, signal.SIGKILL)
            runner.process.wait(10)
        worker = pod.containers.get("worker")
        if worker is not None and worker.process.poll() is not None:
            for other in pod.containers.values():
                if other.process.poll() is None:
                    _signal(other.process, signal.SIGTERM)
                    try:
                        other.process.wait(5)
                    except subprocess.TimeoutExpired:
                        _signal(other.process, signal.SIGKILL)
                        other.process.wait(5)
        changed = False
        for status in obj["status"].get("containerStatuses") or []:
            found = pod.containers.get(status["name"])
            if found is None or found.process.poll() is None or "terminated" in (status.get("state") or {}):
                continue
            code = found.process.returncode
            exit_code = OOM_EXIT if found.reason == "OOMKilled" else (128 - code if code < 0 else code)
            reason = found.reason or ("Completed" if exit_code == 0 else "Error")
            status["state"] = {
                "terminated": {
                    "exitCode": exit_code,
                    "reason": reason,
                    "startedAt": pod.started,
                    "finishedAt": now_iso(),
                }
            }
            status["ready"] = False
            status["started"] = False
            changed = True
        statuses = obj["status"].get("containerStatuses") or []
        if statuses and all("terminated" in (s.get("state") or {}) for s in statuses):
            ok = all(s["state"]["terminated"]["exitCode"] == 0 for s in statuses)
            obj["status"]["phase"] = "Succeeded" if ok else "Failed"
            obj["status"]["conditions"] = [
                {"type": "PodScheduled", "status": "True"},
                {"type": "Ready", "status": "False", "reason": "PodCompleted"},
            ]
            pod.ended = True
            self._finish_job(pod.job, ok)
            changed = True
        if changed:
            self.api.put("pods", obj, self.namespace)

    def _finish_job(self, job_name: str, ok: bool) -> None:
        job = self.api.get("jobs", job_name, self.namespace)
        if job is None:
            return
        kind = "Complete" if ok else "Failed"
        job["status"] = {
            "succeeded" if ok else "failed": 1,
            "conditions": [
                {
                    "type": kind,
                    "status": "True",
                    "reason": "BackoffLimitExceeded" if not ok else "",
                    "lastTransitionTime": now_iso(),
                }
            ],
        }
        self.api.put("jobs", job, self.namespace)

    def _event(
        self, pod_name: str, type_: str, reason: str, message: str, component: str, field_path: str = ""
    ) -> None:
        suffix = "".join(secrets.choice(string.hexdigits.lower()) for _ in range(16))
        involved = {"kind": "Pod", "name": pod_name, "namespace": self.namespace}
        if field_path:
            involved["fieldPath"] = field_path
        self.api.put(
            "events",
            {
                "metadata": {"name": f"{pod_name}.{suffix}"},
                "involvedObject": involved,
                "type": type_,
                "reason": reason,
                "message": message,
                "source": {"component": component},
                "count": 1,
                "firstTimestamp": now_iso(),
                "lastTimestamp": now_iso(),
            },
            self.namespace,
        )

    def _kill(self, pod: _Pod) -> None:
        for container in pod.containers.values():
            if container.process.poll() is None:
                _signal(container.process, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    container.process.wait(10)


def _image_id(image: str) -> str:
    return f"{image.split(':')[0]}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"


def _signal(process: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)
