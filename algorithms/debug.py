"""Debugging one node from a developer's machine (HKube's ``algorithm-debug``).

A node is a **debug node** when its ``kind`` is ``debug`` or its name is in the pipeline's
``options.debugOverride`` (``exec/algorithm`` with ``debug: true`` and ``exec/caching`` with
``debug: true`` produce those). The rest of the pipeline runs here as usual; the debug node's
tasks are served by an algorithm the developer runs in their own IDE, which connects to us.

1. The driver marks the node's task spec ``debug: true`` and sends its messages to the queue
   ``debug.<algorithmName>`` instead of ``algorithm.<algorithmName>`` (:func:`route`).
2. The executor keeps one **debug worker** per algorithm with queued debug tasks
   (``algorithms/scheduling/decide.py``): an ordinary algorithm worker registered under the key
   ``debug:<algorithmName>`` (``:`` cannot occur in an algorithm name) that consumes the debug
   queue. Debug workers use no cpu here and do not count against the executor's budget; an idle
   one stops after ``HKUBE_WORKER_IDLE_SECONDS`` like any worker.
3. Its runner opens an attach-mode session (:func:`open_session`, ``runtime/attach.py``): no process; a
   WebSocket server on ``HKUBE_DEBUG_HOST`` (default 127.0.0.1; 0.0.0.0 to reach it from another
   machine, with ``HKUBE_DEBUG_URL_HOST`` the name to put in the URL) at path
   ``/hkube/debug/<algorithmName>``. The port is the one this algorithm's debug worker had last
   time when it is free, so a developer's run configuration keeps working. The URL is published
   in Redis while the worker listens: ``GET /api/v1/debug/<algorithmName>`` and the job's
   ``exec/debug/<jobId>`` answer it.
4. The developer connects with our wrapper::

       WORKER_SOCKET_URL=<url> ALGORITHM_PATH=<their code folder> \\
           PYTHONPATH=<repo>/algorithms/wrappers/python python -m hkube_wrapper

   or with HKube's ``Algorunner.Debug(url, start)`` (hkube-python-wrapper; storage v1, so the
   worker sends inputs inline and takes the result inline). One client at a time; a second one
   is refused (close code 4001, ``alreadyConnectedError``).
5. A task waits for the developer: as long as the node's ``ttl`` allows (no limit by default),
   until the job is stopped or its ``activeTtl`` passes. If the developer disconnects in the
   middle of a task, the task waits for them to reconnect and is sent again (``initialize`` +
   ``start``), as HKube does. The worker sends no pings: a process paused at a breakpoint is not
   taken for gone.

The algorithm must still exist (the pipeline is validated as usual); its code here is not run.
"""

from __future__ import annotations

import json
import logging
import socket
import time
from typing import Any

from django.conf import settings

from algorithms.runtime.attach import AttachedSession
from hkube_site import redis_client as rc
from hkube_site.queues import algorithm_queue
from pipelines.ports import DebugNode
from pipelines.taskspec import TaskSpec

log = logging.getLogger(__name__)

KEY_PREFIX = "debug:"  # worker registry key of a debug worker: debug:<algorithmName>


# --- which nodes, which queue -------------------------------------------------------------------


def is_debug_node(node_name: str, descriptor: dict[str, Any], options: dict[str, Any]) -> bool:
    return descriptor.get("kind") == "debug" or node_name in (options.get("debugOverride") or [])


def debug_queue(algorithm_name: str) -> str:
    return f"debug.{algorithm_name}"


def worker_key(algorithm_name: str) -> str:
    """The name a debug worker registers under (the executor's and the heartbeat's)."""
    return KEY_PREFIX + algorithm_name


def algorithm_of(key: str) -> str | None:
    """The algorithm a debug worker's key names; None for an ordinary worker's."""
    return key[len(KEY_PREFIX) :] if key.startswith(KEY_PREFIX) else None


def route(spec: TaskSpec) -> tuple[str, str]:
    """(queue, worker key) of a task spec: where its messages go, which workers to poke."""
    name = str(spec["algorithmName"])
    if spec.get("debug"):
        return debug_queue(name), worker_key(name)
    return algorithm_queue(name), name


def worker_queue(key: str) -> str:
    """The queue a worker registered under ``key`` consumes."""
    name = algorithm_of(key)
    return algorithm_queue(key) if name is None else debug_queue(name)


# --- the debug worker's session -----------------------------------------------------------------


class DebugSession(AttachedSession):
    """An attach-mode session that takes its published URL down when it closes."""

    def __init__(self, algorithm_name: str, worker_id: str, host: str, port: int) -> None:
        super().__init__(host=host, port=port, path=f"/hkube/debug/{algorithm_name}", stop_grace=30.0)
        self.algorithm_name = algorithm_name
        self.worker_id = worker_id

    def close(self) -> None:
        super().close()
        forget_url(self.algorithm_name, self.worker_id)


def open_session(algorithm_name: str, worker_id: str) -> AttachedSession:
    """Listen for the developer's algorithm and publish the URL (called by the worker's Runner)."""
    host = str(getattr(settings, "HKUBE_DEBUG_HOST", "127.0.0.1"))
    client = rc.client()
    previous = client.get(rc.DEBUG_PORT_PREFIX + algorithm_name)
    ports = [int(previous), 0] if previous else [0]
    session: DebugSession | None = None
    for port in ports:
        session = DebugSession(algorithm_name, worker_id, host, port)
        try:
            session.start()
            break
        except OSError as exc:  # the old port is taken: any free one
            log.info("debug %s: port %s is taken (%s); choosing another", algorithm_name, port, exc)
            session = None
    if session is None:
        raise RuntimeError(f"debug {algorithm_name}: no port to listen on")
    url = f"ws://{_url_host(host)}:{session.port}/hkube/debug/{algorithm_name}"
    record = {"url": url, "workerId": worker_id, "since": int(time.time() * 1000)}
    pipe = client.pipeline()
    pipe.set(rc.DEBUG_URL_PREFIX + algorithm_name, json.dumps(record))
    pipe.set(rc.DEBUG_PORT_PREFIX + algorithm_name, session.port)
    pipe.execute()
    log.warning("debug %s: waiting for the algorithm at %s", algorithm_name, url)
    return session


def _url_host(bind_host: str) -> str:
    configured = str(getattr(settings, "HKUBE_DEBUG_URL_HOST", "") or "")
    if configured:
        return configured
    return socket.gethostname() if bind_host in ("0.0.0.0", "::", "") else bind_host


def forget_url(algorithm_name: str, worker_id: str) -> None:
    """The debug worker stops listening: remove its URL (if no newer worker replaced it)."""
    client = rc.client()
    raw = client.get(rc.DEBUG_URL_PREFIX + algorithm_name)
    if raw and json.loads(raw).get("workerId") == worker_id:
        client.delete(rc.DEBUG_URL_PREFIX + algorithm_name)


# --- where to connect (the API) -----------------------------------------------------------------


def debug_info(algorithm_name: str) -> dict[str, Any] | None:
    """``{algorithmName, url, workerId, since}`` while a live debug worker listens, else None."""
    pipe = rc.client().pipeline()
    pipe.get(rc.DEBUG_URL_PREFIX + algorithm_name)
    pipe.exists(rc.alive_key(worker_key(algorithm_name)))
    raw, alive = pipe.execute()
    if not raw or not alive:
        return None
    record: dict[str, Any] = json.loads(raw)
    return {"algorithmName": algorithm_name, **record}


def job_debug_nodes(pipeline: dict[str, Any]) -> list[DebugNode]:
    """The debug nodes of a job's pipeline with where to connect: ``[{nodeName, algorithmName,
    url}]`` (url None until the debug worker listens). Costs nothing without debug nodes."""
    options = pipeline.get("options") or {}
    nodes = [
        n
        for n in pipeline.get("nodes") or []
        if n.get("algorithmName") and is_debug_node(str(n.get("nodeName")), n, options)
    ]
    found: list[DebugNode] = []
    for node in nodes:
        info = debug_info(str(node["algorithmName"]))
        found.append(
            {
                "nodeName": node["nodeName"],
                "algorithmName": node["algorithmName"],
                "url": info["url"] if info else None,
            }
        )
    return found


# --- the executor's part ------------------------------------------------------------------------


def queued(algorithm_names: list[str]) -> dict[str, int]:
    """Messages waiting in each algorithm's debug queue (one round trip; kombu priority lists).
    The executor keeps one debug worker per algorithm with some (algorithms/scheduling/)."""
    pipe = rc.client().pipeline()
    for name in algorithm_names:
        queue = debug_queue(name)
        pipe.llen(queue)
        for step in range(1, 10):
            pipe.llen(f"{queue}:{step}")
    counts = pipe.execute()
    return {name: int(sum(counts[i * 10 : i * 10 + 10])) for i, name in enumerate(algorithm_names)}
