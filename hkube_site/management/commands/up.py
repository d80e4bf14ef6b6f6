"""`python manage.py up`: the whole system on this machine, in the foreground.

Starts Redis (unless REDIS_URL is set), migrates the database, then runs the API and
admin, the engine worker, the executor (control) and builds workers, beat and Flower.
The executor starts algorithm workers on demand. Ctrl-C stops all of it; data stays
under HKUBE_HOME, so a second `up` finds it again.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from hkube_site import embedded, queues


class Command(BaseCommand):
    help = "Start HKube on this machine (API, engine, executor, workers, beat, Flower, Redis)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--port", type=int, default=8000, help="HTTP port of the API and UI (default 8000)"
        )
        parser.add_argument("--flower-port", type=int, default=5555, help="Flower's port (default 5555)")
        parser.add_argument("--no-flower", action="store_true", help="do not start Flower")
        parser.add_argument("--engine-concurrency", type=int, default=2)
        parser.add_argument("--api-workers", type=int, default=2)

    def handle(self, *args: Any, **options: Any) -> None:
        home = Path(settings.HKUBE_HOME)
        home.mkdir(parents=True, exist_ok=True)
        log_dir = home / "logs"
        redis_server: embedded.RedisServer | None = None
        if not os.environ.get("REDIS_URL"):
            try:
                redis_server = embedded.start_redis(home / "redis")
            except embedded.EmbeddedError as exc:
                raise CommandError(str(exc)) from exc
            os.environ["REDIS_URL"] = redis_server.url
            _use_redis(redis_server.url)
        supervisor = embedded.Supervisor(log_dir=log_dir, env=dict(os.environ))
        stopping = False

        def shutdown(*_: Any) -> None:
            nonlocal stopping
            if stopping:
                return
            stopping = True
            self.stdout.write("\nstopping HKube ...")
            _stop_algorithm_workers()
            supervisor.stop_all()
            if redis_server is not None:
                redis_server.stop()
            self.stdout.write("stopped.")

        def on_sigterm(*_: Any) -> None:
            shutdown()
            sys.exit(0)

        signal.signal(signal.SIGTERM, on_sigterm)
        try:
            self._prepare()
            self._start_children(supervisor, options)
            self._print_summary(options, redis_server, home)
            self._watch(supervisor)
        except KeyboardInterrupt:
            pass
        finally:
            shutdown()

    def _prepare(self) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        from hkube_site.schedules import ensure_schedules

        ensure_schedules()
        from django.contrib.auth import get_user_model

        user_model = get_user_model()
        if not user_model.objects.filter(username="admin").exists():
            password = os.environ.get("HKUBE_ADMIN_PASSWORD", "admin")
            user_model.objects.create_superuser("admin", "", password)
        _stop_algorithm_workers()  # workers left over from a previous run that was killed

    def _start_children(self, supervisor: embedded.Supervisor, options: dict[str, Any]) -> None:
        py = embedded.python()
        port = options["port"]
        api = supervisor.start(
            "api",
            [py, "-m", "gunicorn", "hkube_site.wsgi", "-b", f"127.0.0.1:{port}", "-k", "gthread",
             "-w", str(options["api_workers"]), "--threads", "8", "--access-logfile", "-",
             "--timeout", "300"],
        )  # fmt: skip
        supervisor.start(
            queues.ENGINE,
            embedded.celery_worker_args(
                queues.ENGINE, queues.ENGINE, concurrency=options["engine_concurrency"]
            ),
        )
        supervisor.start(
            queues.CONTROL, embedded.celery_worker_args(queues.CONTROL, queues.CONTROL, pool="solo")
        )
        supervisor.start(
            queues.BUILDS, embedded.celery_worker_args(queues.BUILDS, queues.BUILDS, pool="solo")
        )
        supervisor.start(
            queues.EVENTS,
            embedded.celery_worker_args(queues.EVENTS, queues.EVENTS, pool="threads", concurrency=8),
        )
        supervisor.start(
            "beat",
            [py, "-m", "celery", "-A", "hkube_site", "beat", "-l", "INFO",
             "-S", "django_celery_beat.schedulers:DatabaseScheduler",
             "--pidfile", str(Path(settings.HKUBE_HOME) / "beat.pid")],
        )  # fmt: skip
        if not options["no_flower"]:
            supervisor.start(
                "flower",
                [py, "-m", "celery", "-A", "hkube_site", "flower", f"--port={options['flower_port']}",
                 "--address=127.0.0.1"],
            )  # fmt: skip
        embedded.wait_http(f"http://127.0.0.1:{port}/api/v1/storage/info", timeout=60, proc=api.process)

    def _print_summary(
        self, options: dict[str, Any], redis_server: embedded.RedisServer | None, home: Path
    ) -> None:
        port = options["port"]
        lines = [
            "",
            "HKube is up.",
            f"  REST API      http://127.0.0.1:{port}/api/v1/  (also /hkube/api-server/api/v1/)",
            f"  Swagger UI    http://127.0.0.1:{port}/swagger/",
            f"  Admin         http://127.0.0.1:{port}/admin/  (user admin)",
            f"  Jobs          http://127.0.0.1:{port}/jobs/",
        ]
        if not options["no_flower"]:
            lines.append(f"  Flower        http://127.0.0.1:{options['flower_port']}/")
        redis_note = "started by up" if redis_server else "from REDIS_URL"
        lines += [
            f"  Redis         {os.environ['REDIS_URL']} ({redis_note})",
            f"  Database      {settings.DATABASES['default']['NAME']}",
            f"  Data          {home}",
            f"  Logs          {home / 'logs'}",
            f"  hkubectl      hkubectl --endpoint http://127.0.0.1:{port} ...",
            "Press Ctrl-C to stop.",
            "",
        ]
        self.stdout.write("\n".join(lines))
        self.stdout.flush()

    def _watch(self, supervisor: embedded.Supervisor) -> None:
        while True:
            dead = supervisor.dead()
            if dead:
                child = dead[0]
                tail = child.log_path.read_text(errors="replace")[-3000:]
                raise CommandError(f"{child.name} exited with code {child.process.returncode}:\n{tail}")
            time.sleep(0.5)


def _use_redis(url: str) -> None:
    """Point this process at the Redis it just started (settings were read before)."""
    from hkube_site import redis_client
    from hkube_site.celery import app

    settings.REDIS_URL = url
    settings.CELERY_BROKER_URL = url
    settings.CELERY_RESULT_BACKEND = url
    app.conf.broker_url = url
    app.conf.result_backend = url
    redis_client.client.cache_clear()


def _stop_algorithm_workers() -> None:
    from algorithms.executor import stop_all_workers

    try:
        stop_all_workers()
    except Exception as exc:  # noqa: BLE001 - Redis may already be gone at shutdown
        sys.stderr.write(f"could not stop algorithm workers: {exc}\n")
