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
* java: ``builds/java.py`` (javac against our wrapper, or the upload's prebuilt jars).

A python algorithm runs on our wrapper unless it asks for HKube's published one
(``hkube-python-wrapper``): descriptor ``wrapper: hkube`` or a ``requirements.txt`` that
names it (``choose_wrapper``, docs/wrappers.md). Then the build installs that wrapper as
HKube's image does, first, and lays out HKube's runner folder next to the env:
``hkube-runner/app.py`` and ``hkube-runner/algorithm_unique_folder`` (the code).

Subprocess output is streamed line by line to ``log``; failures raise ``BuildError``
with the tail of that output. No Django imports: plain Python, tested directly.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import site
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PYTHON_WRAPPER_DIR = REPO_ROOT / "algorithms" / "wrappers" / "python"
NODEJS_WRAPPER = REPO_ROOT / "algorithms" / "wrappers" / "nodejs" / "wrapper.js"

PYTHON = "python"
NODEJS = "nodejs"
JAVA = "java"
# java: no default file; the class comes from the jar (builds/java.py).
DEFAULT_ENTRY_POINTS = {PYTHON: "main.py", NODEJS: "index.js", JAVA: ""}
MARKER = "hkube-env.json"
PARENT_PTH = "_hkube_parent_env.pth"
TAIL_LINES = 40

# Which wrapper runs a python algorithm: the descriptor's `wrapper` value -> wrapper.
BUILTIN = "builtin"
HKUBE_PYTHON_WRAPPER = "hkube-python-wrapper"
WRAPPERS = {BUILTIN: BUILTIN, "hkube": HKUBE_PYTHON_WRAPPER, HKUBE_PYTHON_WRAPPER: HKUBE_PYTHON_WRAPPER}
HKUBE_WRAPPER_VERSION = "2.4.2"  # installed when requirements.txt does not pin one
# `pip install hkube-python-wrapper==2.4.2` fails on Python 3.11: its own pins (wsaccel
# 0.6.2, pyzmq<=22.0.3) do not build there. So the wrapper goes in with --no-deps, then
# these, verified to install from PyPI and run it on 3.11 (protocol reference §9.1).
# websocket-client must stay 0.57: the wrapper relies on that version's callback signatures.
HKUBE_WRAPPER_DEPENDENCIES = (
    "Events==0.4",
    "websocket-client==0.57.0",
    "simplejson==4.3.0",
    "pymongo==4.20.0",
    "msgpack==1.2.4",
    "boto3==1.44.5",
    "six==1.17.0",
    "pyzmq==26.4.0",
    "jaeger-client==4.8.0",
    "Pympler==1.1",
    "wsaccel==0.6.7",
)
WEBSOCKET_CLIENT_VERSION = "0.57.0"
RUNNER_DIR = "hkube-runner"
ALGORITHM_FOLDER = "algorithm_unique_folder"
RUNNER_APP = (
    "# HKube's algorithm runner, as in HKube's python image (hkube-python-wrapper).\n"
    "from hkube_python_wrapper import Algorunner\n"
    "Algorunner.Run()\n"
)
FILTERED_REQUIREMENTS = ".hkube-requirements.txt"
_REQUIREMENT_NAME = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*)")

# Variables that would send pip's installs somewhere other than the venv, or make the
# build see the server's own code.
_SCRUBBED_ENV = ("PYTHONHOME", "PYTHONPATH", "PIP_TARGET", "PIP_PREFIX", "PIP_USER", "PIP_ROOT")

Log = Callable[[str], None]


class BuildError(RuntimeError):
    """A dependency install failed; the message carries the tail of the build log."""


class BuildStopped(Exception):
    """The build was stopped (``stop_when``): the running step was killed."""


# The stop check of the build running in this thread (``stop_when``), read by ``_run``.
_scope = threading.local()


@contextlib.contextmanager
def stop_when(check: Callable[[], bool], interval: float = 0.5) -> Iterator[None]:
    """Within this block every build step (pip, npm, javac...) is polled: a watcher thread
    calls ``check`` every ``interval`` seconds and, once it returns True, kills the step's
    process group; the step then raises ``BuildStopped``. ``check`` runs in that watcher
    thread, not in the caller's."""
    previous = getattr(_scope, "check", None)
    _scope.check, _scope.interval = check, interval
    try:
        yield
    finally:
        _scope.check = previous


def build_python_env(
    code_dir: Path,
    env_dir: Path,
    *,
    log: Log,
    pip_cache_dir: Path | None = None,
    timeout: float = 900,
    install_cmd: str | None = None,
    wrapper: object = None,
) -> None:
    """(Re)create the virtualenv ``env_dir`` for the code in ``code_dir``.

    ``install_cmd`` (the algorithm's ``dependencyInstallCmd``) replaces the
    ``requirements.txt`` install, as in HKube; it runs with bash in ``code_dir`` with the
    venv's ``bin`` first on ``PATH``. ``wrapper`` is the descriptor's ``wrapper`` field
    (``choose_wrapper``); for HKube's wrapper it is installed first and the runner folder
    ``hkube_runner_path(env_dir)`` is laid out. ``timeout`` bounds the whole build. On
    failure ``env_dir`` (and the runner folder) is removed so a half-built environment is
    never used.
    """
    deadline = time.monotonic() + timeout
    choice = choose_wrapper(PYTHON, wrapper, code_dir)
    runner_dir = hkube_runner_path(env_dir)
    _reset(env_dir)
    _reset(runner_dir)
    try:
        log(f"wrapper: {choice.reason}")
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
        pip = [str(env_dir / "bin" / "python"), "-m", "pip", "install", "--progress-bar", "off"]
        if choice.requirement:
            # As HKube's requirements.sh: the wrapper first, then the algorithm's own.
            what = f"pip install --no-deps {choice.requirement}"
            _run(
                [*pip, "--no-deps", choice.requirement],
                what=what,
                cwd=code_dir,
                env=env,
                log=log,
                deadline=deadline,
            )
            what = "pip install the wrapper's dependencies"
            _run(
                [*pip, *HKUBE_WRAPPER_DEPENDENCIES],
                what=what,
                cwd=code_dir,
                env=env,
                log=log,
                deadline=deadline,
            )
            log(
                "(the 'dependency conflicts' pip reports against hkube-python-wrapper's own pins are "
                "expected: those pins do not build on Python 3.11, and these versions replace them)"
            )
        if install_cmd:
            _run_install_cmd(install_cmd, code_dir, env, log, deadline)
        elif (code_dir / "requirements.txt").is_file():
            _install_requirements(pip, code_dir, env, log, deadline)
        else:
            log("no requirements.txt: nothing to install")
        marker = {"env": PYTHON, "python": sys.version.split()[0]}
        if choice.requirement:
            marker.update(_lay_out_hkube_runner(code_dir, env_dir, runner_dir, log, deadline))
        _write_marker(env_dir, marker)
    except BaseException:
        shutil.rmtree(env_dir, ignore_errors=True)
        shutil.rmtree(runner_dir, ignore_errors=True)
        raise


def build_nodejs_env(
    code_dir: Path,
    env_dir: Path,
    *,
    log: Log,
    timeout: float = 900,
    install_cmd: str | None = None,
    wrapper: object = None,
) -> None:
    """Install the code's npm dependencies into ``code_dir/node_modules``.

    Runs ``install_cmd`` (``dependencyInstallCmd``) if given, else ``npm install`` when
    ``package.json`` declares dependencies; otherwise nothing. ``env_dir`` gets a marker.
    """
    deadline = time.monotonic() + timeout
    choose_wrapper(NODEJS, wrapper, code_dir)  # refuses HKube's (python) wrapper
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
    appends ``algorithm_unique_folder`` so user modules can import their siblings. For java
    the entry point is a class name; empty means the class found by the build (``builds/java.py``).
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
    elif env == NODEJS:
        variables["NODE_PATH"] = str(code / "node_modules")
    return variables


# --- HKube's published Python wrapper ----------------------------------------------------


@dataclass(frozen=True)
class WrapperChoice:
    """The wrapper a build chose: ``requirement`` is what pip installs for HKube's wrapper
    (``hkube-python-wrapper==2.4.2``), empty for ours; ``reason`` goes to the build log."""

    name: str
    requirement: str
    reason: str


def choose_wrapper(env: str, declared: object, code_dir: Path) -> WrapperChoice:
    """Which wrapper runs the algorithm (docs/wrappers.md).

    The descriptor's ``wrapper`` decides when given (``builtin``, or ``hkube`` /
    ``hkube-python-wrapper`` for HKube's published wrapper); otherwise a
    ``requirements.txt`` that names ``hkube-python-wrapper`` picks HKube's wrapper, at the
    version it pins (else ``HKUBE_WRAPPER_VERSION``). Anything else runs on ours.
    """
    if (
        declared is not None
        and declared != ""
        and (not isinstance(declared, str) or declared not in WRAPPERS)
    ):
        raise BuildError(f"wrapper {declared!r} is unknown: use one of {', '.join(WRAPPERS)}")
    wanted = WRAPPERS[declared] if isinstance(declared, str) and declared else None
    if env != PYTHON:
        if wanted == HKUBE_PYTHON_WRAPPER:
            raise BuildError(
                f"wrapper {declared} is HKube's Python wrapper and needs env python; "
                f"{env} algorithms run on our wrapper (leave wrapper out)"
            )
        return WrapperChoice(BUILTIN, "", "builtin")
    line = wrapper_requirement(code_dir / "requirements.txt")
    if wanted == BUILTIN or (wanted is None and line is None):
        reason = "builtin (descriptor)" if wanted else "builtin (default)"
        if line is not None:
            reason += f"; the {line!r} line of requirements.txt is not installed"
        return WrapperChoice(BUILTIN, "", reason)
    requirement = _pinned(line) if line is not None else f"{HKUBE_PYTHON_WRAPPER}=={HKUBE_WRAPPER_VERSION}"
    source = "descriptor" if wanted else "named in requirements.txt"
    return WrapperChoice(HKUBE_PYTHON_WRAPPER, requirement, f"{requirement} ({source})")


def wrapper_requirement(requirements: Path) -> str | None:
    """The line of ``requirements`` that names hkube-python-wrapper (comment removed)."""
    if not requirements.is_file():
        return None
    for raw in requirements.read_text(encoding="utf-8", errors="replace").splitlines():
        if _names_hkube_wrapper(raw):
            return _strip_comment(raw)
    return None


def hkube_runner_path(env_dir: Path) -> Path:
    """HKube's runner folder of a version: next to its env (``<version>/hkube-runner``)."""
    return env_dir.parent / RUNNER_DIR


def hkube_runner(env_dir: Path) -> Path | None:
    """The runner folder when the version runs on HKube's wrapper, else None."""
    marker = env_dir / MARKER
    if not marker.is_file():
        return None
    try:
        data = json.loads(marker.read_text())
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("wrapper") != HKUBE_PYTHON_WRAPPER:
        return None
    return hkube_runner_path(env_dir)


def hkube_runner_command(env_dir: Path) -> list[str]:
    """HKube's image runs ``python -u app.py`` in the runner folder (the cwd)."""
    return [str(env_dir / "bin" / "python"), "-u", "app.py"]


def hkube_wrapper_env(
    runner_dir: Path,
    entry_point: str | None,
    *,
    cluster: str,
    storage: str,
    storage_dir: Path,
    storage_encoding: str,
    metrics_dir: Path,
    s3: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """What HKube's wrapper reads (protocol reference §1.2, §6.1): storage by reference
    (v3) in our storage, msgpack frames, no peer data server. ``algorithmEnv`` may override
    any of it (``STORAGE_PROTOCOL=v1``, ``WORKER_ALGORITHM_ENCODING=json``, ...).
    Creates ``metrics_dir`` (``ALGO_METRICS_DIR``, where algorithms write TensorBoard logs).
    """
    metrics_dir.mkdir(parents=True, exist_ok=True)
    variables = {
        "ALGORITHM_PATH": ALGORITHM_FOLDER,
        "ALGORITHM_ENTRY_POINT": entry_point or DEFAULT_ENTRY_POINTS[PYTHON],
        # Replaces the worker's own PYTHONPATH; HKube appends the code folder so modules
        # of the algorithm can import each other.
        "PYTHONPATH": str(runner_dir.resolve() / ALGORITHM_FOLDER),
        "PYTHONUNBUFFERED": "1",
        "WORKER_ALGORITHM_ENCODING": "msgpack",
        "STORAGE_PROTOCOL": "v3",
        "DEFAULT_STORAGE": storage,
        "STORAGE_ENCODING": storage_encoding,
        "CLUSTER_NAME": cluster,
        # Absolute: the wrapper chdirs into the algorithm folder before it reads storage.
        "BASE_FS_ADAPTER_DIRECTORY": str(Path(storage_dir).resolve()),
        # The peer data server binds fixed ports (9020/9021): two wrappers on one machine
        # would collide, and every read through it falls back to storage here anyway.
        "DISCOVERY_ENABLE": "false",
        "HKUBE_LOG_LEVEL": "WARNING",
        "ALGO_METRICS_DIR": str(metrics_dir.resolve()),
    }
    if storage == "s3" and s3:
        names = {
            "endpoint_url": "S3_ENDPOINT_URL",
            "access_key": "AWS_ACCESS_KEY_ID",
            "secret_key": "AWS_SECRET_ACCESS_KEY",
            "region": "S3_REGION",
        }
        variables.update({names[k]: v for k, v in s3.items() if k in names and v})
    return variables


# --- helpers ----------------------------------------------------------------------------


def _strip_comment(line: str) -> str:
    text = line.strip()
    if text.startswith("#"):
        return ""
    return re.split(r"\s#", text, maxsplit=1)[0].strip()


def _names_hkube_wrapper(line: str) -> bool:
    text = _strip_comment(line)
    if not text or text.startswith("-"):
        return False
    match = _REQUIREMENT_NAME.fullmatch(text)
    return match is not None and re.sub(r"[-_.]+", "-", match.group(1)).lower() == HKUBE_PYTHON_WRAPPER


def _pinned(line: str) -> str:
    """``hkube-python-wrapper==X`` for a pinned or bare line; other specifiers as written."""
    match = _REQUIREMENT_NAME.fullmatch(line)
    spec = (match.group(3) if match else "").split(";", 1)[0].strip()
    if not spec:
        return f"{HKUBE_PYTHON_WRAPPER}=={HKUBE_WRAPPER_VERSION}"
    pin = re.fullmatch(r"===?\s*([A-Za-z0-9._+!-]+)", spec)
    return f"{HKUBE_PYTHON_WRAPPER}=={pin.group(1)}" if pin else line


def _install_requirements(
    pip: list[str], code_dir: Path, env: dict[str, str], log: Log, deadline: float
) -> None:
    """``pip install -r requirements.txt``, without a hkube-python-wrapper line: the wrapper
    went in with the 3.11 recipe, and its own pins would not build."""
    lines = (code_dir / "requirements.txt").read_text(encoding="utf-8", errors="replace").splitlines()
    kept = [line for line in lines if not _names_hkube_wrapper(line)]
    if len(kept) == len(lines):
        what = "pip install -r requirements.txt"
        _run([*pip, "-r", "requirements.txt"], what=what, cwd=code_dir, env=env, log=log, deadline=deadline)
        return
    if not any(_strip_comment(line) for line in kept):
        log("requirements.txt names only hkube-python-wrapper: nothing else to install")
        return
    # Next to the original, so its nested -r files still resolve (and, with cwd = the code
    # folder, its relative paths, as for the plain install).
    filtered = code_dir / FILTERED_REQUIREMENTS
    filtered.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
    try:
        what = "pip install -r requirements.txt (without hkube-python-wrapper)"
        _run([*pip, "-r", filtered.name], what=what, cwd=code_dir, env=env, log=log, deadline=deadline)
    finally:
        filtered.unlink(missing_ok=True)


_PROBE = """
import importlib.metadata, json, websocket
from hkube_python_wrapper import Algorunner
print(json.dumps({"wrapper": importlib.metadata.version("hkube-python-wrapper"),
                  "websocket": websocket.__version__, "websocketFile": websocket.__file__}))
"""


def _lay_out_hkube_runner(
    code_dir: Path, env_dir: Path, runner_dir: Path, log: Log, deadline: float
) -> dict[str, str]:
    """``app.py`` + ``algorithm_unique_folder`` (a link to the code, with the ``__init__.py``
    HKube's image adds), then import the wrapper from there as it will run."""
    runner_dir.mkdir(parents=True, exist_ok=True)
    (runner_dir / "app.py").write_text(RUNNER_APP)
    # Relative, so the version folder can move as a whole.
    target = os.path.relpath(code_dir.resolve(), runner_dir.resolve())
    (runner_dir / ALGORITHM_FOLDER).symlink_to(target, target_is_directory=True)
    init = code_dir / "__init__.py"
    if not init.exists():
        init.write_text("")
    log("$ checking that the wrapper imports")
    try:
        probe = subprocess.run(
            [str(env_dir / "bin" / "python"), "-c", _PROBE],
            cwd=runner_dir,
            env=_build_env(env_dir, None),
            capture_output=True,
            text=True,
            timeout=max(1.0, min(120.0, deadline - time.monotonic())),
        )
    except subprocess.TimeoutExpired as exc:
        raise BuildError("importing hkube_python_wrapper timed out") from exc
    if probe.returncode != 0:
        raise BuildError(
            f"hkube_python_wrapper does not import in the new environment:\n{probe.stderr[-3000:]}"
        )
    found = json.loads(probe.stdout.strip().splitlines()[-1])
    version, location = found["websocket"], Path(found["websocketFile"]).resolve()
    log(f"hkube-python-wrapper {found['wrapper']}, websocket-client {version} from {location}")
    # The server's own (newer) websocket-client is on the path too, through the .pth file:
    # the venv's site-packages must come first, or the wrapper's callbacks break.
    if version != WEBSOCKET_CLIENT_VERSION or not location.is_relative_to(env_dir.resolve()):
        raise BuildError(
            f"the wrapper would run with websocket-client {version} from {location}; it needs "
            f"{WEBSOCKET_CLIENT_VERSION} from the algorithm's environment "
            "(does requirements.txt or dependencyInstallCmd change websocket-client?)"
        )
    return {"wrapper": HKUBE_PYTHON_WRAPPER, "wrapperVersion": str(found["wrapper"]), "runner": RUNNER_DIR}


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
    """Run ``cmd``, streaming its merged output to ``log``; BuildError on failure,
    BuildStopped when the ``stop_when`` check of this build says so."""
    check: Callable[[], bool] | None = getattr(_scope, "check", None)
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise BuildError(f"{what}: build timed out before it could start")
    if check is not None and check():
        raise BuildStopped(f"{what}: the build was stopped")
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
    timed_out, stopped, finished = threading.Event(), threading.Event(), threading.Event()

    def kill_group() -> None:
        # ProcessLookupError: it finished just as the timer fired.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)

    def kill() -> None:
        timed_out.set()
        kill_group()

    def watch_stop(check: Callable[[], bool], interval: float) -> None:
        while not finished.wait(interval):
            try:
                requested = check()
            except Exception as exc:  # noqa: BLE001 - a failed check must not fail the build
                log(f"(could not check whether the build was stopped: {exc})")
                continue
            if requested:
                stopped.set()
                kill_group()
                return

    # readline() blocks, so the deadline is enforced by a timer rather than by polling.
    timer = threading.Timer(remaining, kill)
    timer.start()
    if check is not None:
        watcher = threading.Thread(target=watch_stop, args=(check, _scope.interval), daemon=True)
        watcher.start()
    try:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            tail.append(line)
            log(line)
        returncode = proc.wait()
    finally:
        timer.cancel()
        finished.set()
        if proc.poll() is None:
            kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    recent = "\n".join(tail)
    if stopped.is_set():
        raise BuildStopped(f"{what}: the build was stopped")
    if timed_out.is_set():
        raise BuildError(f"{what} timed out (build limit reached)\n{recent}".rstrip())
    if returncode != 0:
        raise BuildError(f"{what} failed with exit code {returncode}\n{recent}".rstrip())
