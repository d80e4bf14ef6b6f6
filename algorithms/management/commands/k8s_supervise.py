"""`python manage.py k8s_supervise`: the Kubernetes supervisor (`k8s/supervisor.py`).

One instance is active at a time, under a Redis lock; another waits for it (touching its
heartbeat file, so its liveness probe keeps it), and takes over when the lock's lease runs
out. SIGTERM stops it after the current pass and frees the lock.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from algorithms.k8s_lock import RedisLock
from algorithms.k8s_outcomes import ClusterOutcomes
from hkube_site import redis_client as rc
from k8s import heartbeat
from k8s.client import ClientSettings, KubeError, connect
from k8s.supervisor import Supervisor, settings_from_env

log = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Watch this release's worker pods and Jobs and apply what they mean (one active instance)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--lease", type=float, default=30.0, help="seconds the lock lasts unless renewed")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            settings = settings_from_env(os.environ)
            kube = connect(ClientSettings(namespace=os.environ.get("HKUBE_K8S_NAMESPACE") or None))
        except (ValueError, KubeError) as exc:
            raise CommandError(str(exc)) from exc
        stop = threading.Event()

        def on_signal(signum: int, frame: FrameType | None) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        lock = RedisLock(rc.client(), rc.K8S_SUPERVISOR_LOCK, options["lease"])
        waiting = False
        while not stop.is_set():
            if not lock.acquire():
                if not waiting:
                    log.info("supervisor: another instance is active; waiting for its lock")
                    waiting = True
                if settings.heartbeat_file:
                    heartbeat.touch(settings.heartbeat_file)
                stop.wait(min(5.0, options["lease"] / 3))
                continue
            waiting = False
            log.info("supervisor: active in namespace %s, release %s", kube.namespace, settings.release)
            try:
                Supervisor(kube, ClusterOutcomes(), settings, guard=lock).run(stop)
            finally:
                lock.release()
