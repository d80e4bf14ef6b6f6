"""`python manage.py up`: the whole system on this machine, in the foreground.

Starts Redis (unless REDIS_URL is set), migrates the database, then runs the API and
admin, the engine worker, the executor (control) and builds workers, beat and Flower.
The executor starts algorithm workers on demand. Ctrl-C stops all of it; data stays
under HKUBE_HOME, so a second `up` finds it again.
"""

from __future__ import annotations

import os
import secrets
import signal
import sys
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from hkube_site import bind, embedded, home_lock, queues


class Command(BaseCommand):
    help = "Start HKube on this machine (API, engine, executor, workers, beat, Flower, Redis)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--port", type=int, default=settings.HKUBE_PORT,
            help=f"HTTP port of the API and UI (HKUBE_PORT, default {settings.HKUBE_PORT})",
        )  # fmt: skip
        parser.add_argument(
            "--flower-port", type=int, default=settings.HKUBE_FLOWER_PORT,
            help=f"Flower's port (HKUBE_FLOWER_PORT, default {settings.HKUBE_FLOWER_PORT})",
        )  # fmt: skip
        parser.add_argument(
            "--host", default=settings.HKUBE_HOST,
            help=f"address to serve on (HKUBE_HOST, default {settings.HKUBE_HOST}); beyond the loopback "
            "only with HKUBE_AUTH=token or oidc",
        )  # fmt: skip
        parser.add_argument(
            "--insecure-bind", action="store_true",
            help="serve on a non-loopback --host with HKUBE_AUTH=none (anyone reaching it can run code)",
        )  # fmt: skip
        parser.add_argument("--no-flower", action="store_true", help="do not start Flower")
        parser.add_argument("--engine-concurrency", type=int, default=2)
        parser.add_argument("--api-workers", type=int, default=2)

    def handle(self, *args: Any, **options: Any) -> None:
        refused = bind.refusal(options["host"], str(settings.HKUBE_AUTH), options["insecure_bind"])
        if refused:
            raise CommandError(refused)
        home = Path(settings.HKUBE_HOME)
        home.mkdir(parents=True, exist_ok=True)
        log_dir = home / "logs"
        log_dir.mkdir(exist_ok=True)
        self.up_log = log_dir / "up.log"
        if (
            not options["no_flower"]
            and settings.HKUBE_AUTH != "none"
            and not settings.HKUBE_FLOWER_BASIC_AUTH
        ):
            # Flower has no notion of our tokens: behind auth it needs its own login, or it stays off.
            options["no_flower"] = True
            self._say("Flower is off: with HKUBE_AUTH set it needs HKUBE_FLOWER_BASIC_AUTH=user:password")
        try:
            lock = home_lock.acquire(home)
        except home_lock.HomeInUse as exc:
            raise CommandError(str(exc)) from exc
        if lock.stale_pid:
            self._say(f"a previous `up` (pid {lock.stale_pid}) is no longer running: taking over {home}")
        left = home_lock.stop_leftovers(home)
        if left:
            self._say(f"stopped what the previous `up` left running: {', '.join(left)}")
        (home / "beat.pid").unlink(missing_ok=True)  # ours alone now: any beat.pid is stale
        try:
            self._check_ports(options)
        except CommandError:
            lock.release()
            raise
        supervisor = embedded.Supervisor(
            log_dir=log_dir, env=dict(os.environ), report=self._say, state_file=home / home_lock.CHILDREN_NAME
        )
        redis_server: embedded.RedisServer | None = None
        stopping = False

        def shutdown(*_: Any) -> None:
            nonlocal stopping
            if stopping:
                return
            stopping = True
            self.stdout.write("\nstopping HKube ...")
            _stop_algorithm_workers()
            supervisor.stop_all()
            lock.release()
            self.stdout.write("stopped.")

        def on_sigterm(*_: Any) -> None:
            shutdown()
            sys.exit(0)

        signal.signal(signal.SIGTERM, on_sigterm)
        try:
            if not os.environ.get("REDIS_URL"):
                try:
                    redis_server = embedded.start_redis(home / "redis")
                except embedded.EmbeddedError as exc:
                    raise CommandError(str(exc)) from exc
                supervisor.adopt(
                    "redis", redis_server.args, redis_server.process, redis_server.log_path, stop_last=True
                )
                os.environ["REDIS_URL"] = supervisor.env["REDIS_URL"] = redis_server.url
                _use_redis(redis_server.url)
            self._prepare()
            self._start_children(supervisor, options)
            self._print_summary(options, redis_server, home)
            self._watch(supervisor)
        except KeyboardInterrupt:
            pass
        finally:
            shutdown()

    def _say(self, message: str) -> None:
        """A supervision event: on the terminal and in HKUBE_HOME/logs/up.log."""
        line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} up: {message}"
        self.stdout.write(line)
        self.stdout.flush()
        with open(self.up_log, "a") as log:
            log.write(line + "\n")

    def _check_ports(self, options: dict[str, Any]) -> None:
        """A taken API port stops `up` (clients are told where the API is); a taken Flower
        port only moves Flower to a free one, printed."""
        port, host = options["port"], options["host"]
        if embedded.port_taken(port, "127.0.0.1" if ":" in host else host):
            raise CommandError(
                f"port {port} (the API) is taken by another program: "
                "choose another with --port or the HKUBE_PORT environment variable"
            )
        flower = options["flower_port"]
        if not options["no_flower"] and embedded.port_taken(flower):
            options["flower_port"] = embedded.free_port()
            self._say(
                f"port {flower} (Flower) is taken by another program: Flower uses port "
                f"{options['flower_port']} instead (choose one with --flower-port or HKUBE_FLOWER_PORT)"
            )

    def _prepare(self) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        from hkube_site.schedules import ensure_schedules

        ensure_schedules()
        from django.contrib.auth import get_user_model

        user_model = get_user_model()
        admin = user_model.objects.filter(username="admin").first()
        given = os.environ.get("HKUBE_ADMIN_PASSWORD")
        if settings.HKUBE_AUTH != "none" and not given and (admin is None or admin.check_password("admin")):
            # Behind auth the admin is a way in: never with the embedded default password.
            given = secrets.token_urlsafe(12)
            self._say(f"the admin user's password is now {given} (set HKUBE_ADMIN_PASSWORD to choose one)")
            if admin is not None:
                admin.set_password(given)
                admin.save(update_fields=["password"])
        if admin is None:
            user_model.objects.create_superuser("admin", "", given or "admin")
        _stop_algorithm_workers()  # workers left over from a previous run that was killed

    def _start_children(self, supervisor: embedded.Supervisor, options: dict[str, Any]) -> None:
        py = embedded.python()
        port, host = options["port"], options["host"]
        api = supervisor.start(
            "api",
            [py, "-m", "gunicorn", "hkube_site.wsgi", "-b", f"{_bracketed(host)}:{port}", "-k", "gthread",
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
            # The password goes in Flower's environment, not its command line (`ps` shows that).
            flower_env = {"FLOWER_BASIC_AUTH": str(settings.HKUBE_FLOWER_BASIC_AUTH)}
            supervisor.start(
                "flower",
                [py, "-m", "celery", "-A", "hkube_site", "flower", f"--port={options['flower_port']}",
                 f"--address={host}"],
                extra_env=flower_env if settings.HKUBE_FLOWER_BASIC_AUTH else None,
            )  # fmt: skip
        try:
            embedded.wait_http(
                f"http://{_reach(host)}:{port}/api/v1/storage/info", timeout=60, proc=api.process
            )
        except embedded.EmbeddedError as exc:
            tail = api.log_path.read_text(errors="replace")[-3000:]
            raise CommandError(f"the API did not start: {exc}\n{tail}") from exc

    def _print_summary(
        self, options: dict[str, Any], redis_server: embedded.RedisServer | None, home: Path
    ) -> None:
        port, at = options["port"], _reach(options["host"])
        lines = [
            "",
            f"HKube is up (HKUBE_AUTH={settings.HKUBE_AUTH}).",
            f"  REST API      http://{at}:{port}/api/v1/  (also /hkube/api-server/api/v1/)",
            f"  Swagger UI    http://{at}:{port}/swagger/",
            f"  Admin         http://{at}:{port}/admin/  (user admin)",
            f"  Jobs          http://{at}:{port}/jobs/",
        ]
        if not options["no_flower"]:
            lines.append(f"  Flower        http://{at}:{options['flower_port']}/")
        redis_note = "started by up" if redis_server else "from REDIS_URL"
        lines += [
            f"  Redis         {os.environ['REDIS_URL']} ({redis_note})",
            f"  Database      {settings.DATABASES['default']['NAME']}",
            f"  Data          {home}",
            f"  Logs          {home / 'logs'}",
            f"  hkubectl      hkubectl --endpoint http://{at}:{port} ...",
            "Press Ctrl-C to stop.",
            "",
        ]
        self.stdout.write("\n".join(lines))
        self.stdout.flush()

    def _watch(self, supervisor: embedded.Supervisor) -> None:
        """Until Ctrl-C or SIGTERM: restart what exits, with backoff (see supervisor.py)."""
        while True:
            supervisor.supervise()
            time.sleep(0.5)


def _reach(host: str) -> str:
    """Where this machine reaches a server bound to ``host`` (any-address binds answer on the loopback)."""
    return "127.0.0.1" if host in ("", "0.0.0.0", "::", "[::]") else _bracketed(host)


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


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
