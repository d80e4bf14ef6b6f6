"""A warm fork server ("zygote") for local algorithm workers.

`LocalLauncher` starts it in the process where the executor runs (the control worker) as
``python -m algorithms.forkserver <socket>``, with the launcher's own environment. It sets
up Django and imports the Celery app, the task modules and the worker's runtime, opening no
database or Redis connection, then serves a Unix socket (mode 0600, in a 0700 folder, peers
of the same user only): one JSON request per connection, ``{argv, env, cwd, log}``, where
`argv` is the worker's ``python -m celery ...`` command. It forks; the child becomes that
worker (its own session, stdin from /dev/null, stdout and stderr to `log`, `env` as its
whole environment, per-worker globals read again, `random` reseeded) and runs Celery's CLI
in-process, so a worker skips the second or so of importing Django and Celery. The server
answers ``{pid}`` (or ``{error}``, and the launcher starts a fresh process instead).

It reaps its children as they exit, so the executor's `alive` sees them go, and exits
itself when its parent does. It stays single-threaded: fork copies only the calling thread.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import random
import signal
import socket
import struct
import sys
import threading
import time
import traceback
from collections.abc import Mapping, Sequence
from typing import Any

from algorithms.launcher import CLIENT_TIMEOUT_SECONDS, ForkServerError, read_message

# Variables a worker's environment may have that the server's does not (or with another
# value): none of them is read when the modules the server holds are imported.
PER_WORKER = frozenset({"HKUBE_WORKER_ID", "HKUBE_WORKER_ALGORITHM", "CUDA_VISIBLE_DEVICES"})
# What a worker imports beyond the apps' modules (an algorithm worker's Celery, kombu's Redis
# transport, the algorithm runtime): imported once here instead of in every worker.
RUNTIME_MODULES = (
    "celery.__main__", "celery.bin.celery", "celery.bin.worker", "celery.apps.worker",
    "celery.worker.worker", "celery.worker.consumer", "celery.worker.strategy",
    "celery.worker.components", "celery.worker.autoscale", "celery.concurrency.solo",
    "celery.events.dispatcher", "celery.backends.redis", "kombu.transport.redis",
    "celery.app.control", "celery.app.events", "celery.app.log", "celery.contrib.django.task",
    "celery.worker.consumer.delayed_delivery", "kombu.pidbox", "billiard.pool", "billiard.dummy",
    "django.db.models.sql.compiler",
    "algorithms.worker", "algorithms.runtime.runner", "algorithms.runtime.session",
    "algorithms.runtime.pod", "hkube_site.object_store", "builds.languages",
)  # fmt: skip
CELERY = ["-m", "celery"]  # argv[1:3] of every worker command
PARENT_CHECK_SECONDS = 0.5


def preload() -> None:
    """Everything a worker would import, and nothing that connects."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hkube_site.settings")
    import django

    django.setup()
    from hkube_site.celery import app

    app.loader.import_default_modules()
    for name in ("algorithms.tasks", "pipelines.tasks", *RUNTIME_MODULES):
        importlib.import_module(name)


def unsafe_to_fork() -> str | None:
    """Why forking now would hand the child something shared (None: nothing)."""
    if threading.active_count() != 1:
        return f"{threading.active_count()} threads are running"
    from django.db import connections

    if any(c.connection is not None for c in connections.all(initialized_only=True)):
        return "a database connection is open"
    return None


def refusal(request: Any, baseline: Mapping[str, str]) -> str | None:
    """Why `request` cannot be served by this server (None: it can)."""
    if not isinstance(request, dict):
        return "not an object"
    argv, env = request.get("argv"), request.get("env")
    if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv) or argv[1:3] != CELERY:
        return "argv must be a `python -m celery ...` command"
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        return "env must map names to strings"
    if not isinstance(request.get("cwd"), str) or not isinstance(request.get("log"), str):
        return "cwd and log must be paths"
    differs = {k for k in {*env, *baseline} if env.get(k) != baseline.get(k)} - PER_WORKER
    if differs:
        # Settings were read from the server's environment: such a worker needs a fresh process.
        return f"environment differs from the server's: {', '.join(sorted(differs))}"
    return unsafe_to_fork()


def reap(*_: object) -> None:
    """Collect every exited child (SIGCHLD), so none lingers as a zombie."""
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def become_worker(request: dict[str, Any], inherited: Sequence[socket.socket]) -> int:
    """In the forked child, once it leads its own session: turn into the worker `request`
    describes; returns its exit code."""
    for number in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(number, signal.SIG_DFL)  # Celery installs its own; subprocess needs SIGCHLD
    for sock in inherited:
        sock.close()
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    random.seed()
    from algorithms import tasks

    tasks.configure_worker()
    sys.argv = ["celery", *request["argv"][3:]]
    from celery.__main__ import main

    try:
        main()
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    return 0


def handle(connection: socket.socket, listener: socket.socket, baseline: Mapping[str, str]) -> None:
    connection.settimeout(CLIENT_TIMEOUT_SECONDS)
    creds = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    if struct.unpack("3i", creds)[1] != os.getuid():
        return  # another user: no answer at all
    try:
        request = json.loads(read_message(connection))
    except (OSError, ValueError, ForkServerError) as exc:
        with contextlib.suppress(OSError):
            connection.sendall(json.dumps({"error": f"bad request: {exc}"}).encode())
        return
    reason = refusal(request, baseline)
    if reason is not None:
        connection.sendall(json.dumps({"error": reason}).encode())
        return
    sys.stdout.flush()
    sys.stderr.flush()
    # The child closes `session` once it leads its own session: only then is its pid the
    # process group `stop` and `kill` signal, so only then is the pid answered.
    waiting, session = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 70
        try:
            os.close(waiting)
            os.setsid()
            os.close(session)
            code = become_worker(request, (listener, connection))
        except BaseException:  # noqa: BLE001 - never return into the server's loop
            traceback.print_exc()
        finally:
            os._exit(code)
    os.close(session)
    try:
        os.read(waiting, 1)  # end of file: the child closed its end (or died)
    finally:
        os.close(waiting)
    try:
        connection.sendall(json.dumps({"pid": pid}).encode())
    except OSError:
        # The launcher gave up and starts a process of its own: this one must not run too.
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)
    print(f"forked {pid}: {request['env'].get('HKUBE_WORKER_ID', '?')}", flush=True)


def bind(path: str) -> socket.socket:
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    previous = os.umask(0o177)
    try:
        listener.bind(path)
    finally:
        os.umask(previous)
    listener.listen(16)
    listener.settimeout(PARENT_CHECK_SECONDS)
    return listener


def serve(path: str) -> int:
    parent = os.getppid()
    began = time.monotonic()
    baseline = dict(os.environ)  # the launcher's, which its workers' environments extend
    preload()
    reason = unsafe_to_fork()
    if reason is not None:
        print(f"fork server: not serving, {reason}", flush=True)
        return 1
    signal.signal(signal.SIGCHLD, reap)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    listener = bind(path)
    print(f"fork server {os.getpid()} ready on {path} in {time.monotonic() - began:.2f} s", flush=True)
    try:
        while os.getppid() == parent:
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            with connection:
                try:
                    handle(connection, listener, baseline)
                except OSError as exc:
                    print(f"fork server: request failed: {exc}", flush=True)
            reap()
    finally:
        listener.close()
        with contextlib.suppress(OSError):
            os.unlink(path)
    print("fork server: parent gone, exiting", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(serve(sys.argv[1]))
