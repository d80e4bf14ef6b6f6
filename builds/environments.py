"""Per-version runtime environments for uploaded code, and how to launch our wrappers.

HKube bakes the user's dependencies into an image (``requirements.sh``: the algorithm's
``dependencyInstallCmd`` if set, else ``pip install -r requirements.txt`` / ``npm install``,
run inside the code folder). Here a build produces a folder instead:

* python: a virtualenv per algorithm version. It is created with
  ``--system-site-packages`` so that pip and the wrapper's optional ``msgpack`` come from
  the server's environment; when the server itself runs in a virtualenv (``.venv``) a
  ``.pth`` file adds that environment's site-packages too, because
  ``--system-site-packages`` only reaches the *base* interpreter's. The venv's own
  site-packages come first, so the user's pins win, and pip installs into the venv
  (``sys.prefix`` is the venv) without touching the server's packages.
* nodejs: ``npm install`` in the code folder (``node_modules`` next to the code, as in
  HKube's image); the env folder only records a marker.

Subprocess output is streamed line by line to ``log``; failures raise ``BuildError``
with the tail of that output. No Django imports: plain Python, tested directly.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import site
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PYTHON_WRAPPER_DIR = REPO_ROOT / "algorithms" / "wrappers" / "python"
NODEJS_WRAPPER = REPO_ROOT / "algorithms" / "wrappers" / "nodejs" / "wrapper.js"

PYTHON = "python"
NODEJS = "nodejs"
DEFAULT_ENTRY_POINTS = {PYTHON: "main.py", NODEJS: "index.js"}
MARKER = "hkube-env.json"
PARENT_PTH = "_hkube_parent_env.pth"
TAIL_LINES = 40

# Variables that would send pip's installs somewhere other than the venv, or make the
# build see the server's own code.
_SCRUBBED_ENV = ("PYTHONHOME", "PYTHONPATH", "PIP_TARGET", "PIP_PREFIX", "PIP_USER", "PIP_ROOT")

Log = Callable[[str], None]


class BuildError(RuntimeError):
    """A dependency install failed; the message carries the tail of the build log."""


def build_python_env(
    code_dir: Path,
    env_dir: Path,
    *,
    log: Log,
    pip_cache_dir: Path | None = None,
    timeout: float = 900,
    install_cmd: str | None = None,
) -> None:
    """(Re)create the virtualenv ``env_dir`` for the code in ``code_dir``.

    ``install_cmd`` (the algorithm's ``dependencyInstallCmd``) replaces the
    ``requirements.txt`` install, as in HKube; it runs with bash in ``code_dir`` with the
    venv's ``bin`` first on ``PATH``. ``timeout`` bounds the whole build. On failure
    ``env_dir`` is removed so a half-built environment is never used.
    """
    deadline = time.monotonic() + timeout
    _reset(env_dir)
    try:
        _run(
            [sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(env_dir)],
            what="creating the virtualenv",
            cwd=code_dir,
            env=_build_env(env_dir, pip_cache_dir),
            log=log,
            deadline=deadline,
        )
        _link_parent_site_packages(env_dir)
        env = _build_env(env_dir, pip_cache_dir)
        if install_cmd:
            _run_install_cmd(install_cmd, code_dir, env, log, deadline)
        elif (code_dir / "requirements.txt").is_file():
            _run(
                [
                    str(env_dir / "bin" / "python"),
                    "-m",
                    "pip",
                    "install",
                    "--progress-bar",
                    "off",
                    "-r",
                    "requirements.txt",
                ],
                what="pip install -r requirements.txt",
                cwd=code_dir,  # relative paths in requirements.txt are relative to the code
                env=env,
                log=log,
                deadline=deadline,
            )
        else:
            log("no requirements.txt: nothing to install")
        _write_marker(env_dir, {"env": PYTHON, "python": sys.version.split()[0]})
    except BaseException:
        shutil.rmtree(env_dir, ignore_errors=True)
        raise


def build_nodejs_env(
    code_dir: Path,
    env_dir: Path,
    *,
    log: Log,
    timeout: float = 900,
    install_cmd: str | None = None,
) -> None:
    """Install the code's npm dependencies into ``code_dir/node_modules``.

    Runs ``install_cmd`` (``dependencyInstallCmd``) if given, else ``npm install`` when
    ``package.json`` declares dependencies; otherwise nothing. ``env_dir`` gets a marker.
    """
    deadline = time.monotonic() + timeout
    _reset(env_dir)
    try:
        env = _build_env(None, None)
        # npm would otherwise phone home for update checks on every build.
        env["npm_config_update_notifier"] = "false"
        if install_cmd:
            _run_install_cmd(install_cmd, code_dir, env, log, deadline)
        elif _has_npm_dependencies(code_dir):
            npm = shutil.which("npm")
            if npm is None:
                raise BuildError("npm is not installed on this server; it is needed for package.json")
            _run(
                [npm, "install", "--omit=dev", "--no-audit", "--no-fund"],
                what="npm install",
                cwd=code_dir,
                env=env,
                log=log,
                deadline=deadline,
            )
        else:
            log("no dependencies in package.json: nothing to install")
        _write_marker(env_dir, {"env": NODEJS, "node_modules": str(code_dir.resolve() / "node_modules")})
    except BaseException:
        shutil.rmtree(env_dir, ignore_errors=True)
        raise


def is_built(env_dir: Path) -> bool:
    """True when a build of ``env_dir`` finished (the marker is written last)."""
    return (env_dir / MARKER).is_file()


def python_command(env_dir: Path) -> list[str]:
    return [str(env_dir / "bin" / "python"), "-u", "-m", "hkube_wrapper"]


def nodejs_command() -> list[str]:
    return ["node", str(NODEJS_WRAPPER)]


def wrapper_env(env: str, code_dir: Path, entry_point: str | None) -> dict[str, str]:
    """Environment variables that point our wrapper at the user's code (HKube's names).

    For python the code folder is also on ``PYTHONPATH`` (after the wrapper), as HKube
    appends ``algorithm_unique_folder`` so user modules can import their siblings.
    """
    if env not in DEFAULT_ENTRY_POINTS:
        raise ValueError(f"unsupported env {env!r}: expected one of {sorted(DEFAULT_ENTRY_POINTS)}")
    code = code_dir.resolve()
    variables = {
        "ALGORITHM_PATH": str(code),
        "ALGORITHM_ENTRY_POINT": entry_point or DEFAULT_ENTRY_POINTS[env],
    }
    if env == PYTHON:
        variables["PYTHONPATH"] = os.pathsep.join([str(PYTHON_WRAPPER_DIR), str(code)])
        variables["PYTHONUNBUFFERED"] = "1"
    else:
        variables["NODE_PATH"] = str(code / "node_modules")
    return variables


# --- helpers ----------------------------------------------------------------------------


def _reset(env_dir: Path) -> None:
    if env_dir.exists() or env_dir.is_symlink():
        shutil.rmtree(env_dir)
    env_dir.parent.mkdir(parents=True, exist_ok=True)


def _write_marker(env_dir: Path, data: dict[str, str]) -> None:
    env_dir.mkdir(parents=True, exist_ok=True)
    (env_dir / MARKER).write_text(json.dumps(data) + "\n")


def _build_env(venv: Path | None, pip_cache_dir: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
    env.pop("VIRTUAL_ENV", None)
    env.update(PYTHONUNBUFFERED="1", PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    if venv is not None:
        env["VIRTUAL_ENV"] = str(venv)
        env["PATH"] = os.pathsep.join([str(venv / "bin"), env.get("PATH", os.defpath)])
    if pip_cache_dir is not None:
        env["PIP_CACHE_DIR"] = str(pip_cache_dir)
    return env


def _link_parent_site_packages(env_dir: Path) -> None:
    if sys.prefix == sys.base_prefix:
        return  # not in a venv: --system-site-packages already sees everything
    parents = [p for p in site.getsitepackages() if p.startswith(sys.prefix) and Path(p).is_dir()]
    if not parents:
        return
    purelib = subprocess.run(
        [str(env_dir / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    Path(purelib).mkdir(parents=True, exist_ok=True)
    (Path(purelib) / PARENT_PTH).write_text("".join(p + "\n" for p in parents))


def _has_npm_dependencies(code_dir: Path) -> bool:
    package_json = code_dir / "package.json"
    if not package_json.is_file():
        return False
    try:
        manifest = json.loads(package_json.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise BuildError(f"package.json is not valid JSON: {exc}") from exc
    if not isinstance(manifest, dict):
        raise BuildError("package.json must hold a JSON object")
    return bool(manifest.get("dependencies") or manifest.get("optionalDependencies"))


def _run_install_cmd(
    install_cmd: str, code_dir: Path, env: dict[str, str], log: Log, deadline: float
) -> None:
    bash = shutil.which("bash") or "/bin/sh"
    _run(
        [bash, "-c", install_cmd],
        what=f"dependencyInstallCmd {install_cmd!r}",
        cwd=code_dir,
        env=env,
        log=log,
        deadline=deadline,
    )


def _run(
    cmd: list[str],
    *,
    what: str,
    cwd: Path,
    env: dict[str, str],
    log: Log,
    deadline: float,
) -> None:
    """Run ``cmd``, streaming its merged output to ``log``; BuildError on failure."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise BuildError(f"{what}: build timed out before it could start")
    log(f"$ {what}")
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, so a timeout kills pip's children too
    )
    timed_out = threading.Event()

    def kill() -> None:
        timed_out.set()
        # ProcessLookupError: it finished just as the timer fired.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)

    # readline() blocks, so the deadline is enforced by a timer rather than by polling.
    timer = threading.Timer(remaining, kill)
    timer.start()
    try:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            tail.append(line)
            log(line)
        returncode = proc.wait()
    finally:
        timer.cancel()
        if proc.poll() is None:
            kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    recent = "\n".join(tail)
    if timed_out.is_set():
        raise BuildError(f"{what} timed out (build limit reached)\n{recent}".rstrip())
    if returncode != 0:
        raise BuildError(f"{what} failed with exit code {returncode}\n{recent}".rstrip())
