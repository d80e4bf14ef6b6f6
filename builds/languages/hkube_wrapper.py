"""HKube's published Python wrapper (``hkube-python-wrapper``), for python algorithms that ask
for it: descriptor ``wrapper: hkube`` or a ``requirements.txt`` that names it
(``choose_wrapper``, docs/wrappers.md).

The python build (``python.py``) then installs the wrapper as HKube's image does, first
(``install``), and lays out HKube's runner folder next to the env (``lay_out_runner``):
``hkube-runner/app.py`` and ``hkube-runner/algorithm_unique_folder`` (the code). A version
built so is started by ``HKUBE_WRAPPER.launch``, as in HKube's image.
No Django imports: plain Python, tested directly.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from builds.languages.base import Launch, Version, read_marker, step_env
from builds.process import BuildError, Log, run

PYTHON = "python"
DEFAULT_ENTRY_POINT = "main.py"

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
_REQUIREMENT_NAME = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*)")


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
    requirement = pinned(line) if line is not None else f"{HKUBE_PYTHON_WRAPPER}=={HKUBE_WRAPPER_VERSION}"
    source = "descriptor" if wanted else "named in requirements.txt"
    return WrapperChoice(HKUBE_PYTHON_WRAPPER, requirement, f"{requirement} ({source})")


def wrapper_requirement(requirements: Path) -> str | None:
    """The line of ``requirements`` that names hkube-python-wrapper (comment removed)."""
    if not requirements.is_file():
        return None
    for raw in requirements.read_text(encoding="utf-8", errors="replace").splitlines():
        if names_hkube_wrapper(raw):
            return strip_comment(raw)
    return None


def strip_comment(line: str) -> str:
    text = line.strip()
    if text.startswith("#"):
        return ""
    return re.split(r"\s#", text, maxsplit=1)[0].strip()


def names_hkube_wrapper(line: str) -> bool:
    """Whether a requirements line installs hkube-python-wrapper (any spelling of the name)."""
    text = strip_comment(line)
    if not text or text.startswith("-"):
        return False
    match = _REQUIREMENT_NAME.fullmatch(text)
    return match is not None and re.sub(r"[-_.]+", "-", match.group(1)).lower() == HKUBE_PYTHON_WRAPPER


def pinned(line: str) -> str:
    """``hkube-python-wrapper==X`` for a pinned or bare line; other specifiers as written."""
    match = _REQUIREMENT_NAME.fullmatch(line)
    spec = (match.group(3) if match else "").split(";", 1)[0].strip()
    if not spec:
        return f"{HKUBE_PYTHON_WRAPPER}=={HKUBE_WRAPPER_VERSION}"
    pin = re.fullmatch(r"===?\s*([A-Za-z0-9._+!-]+)", spec)
    return f"{HKUBE_PYTHON_WRAPPER}=={pin.group(1)}" if pin else line


# --- build steps (called by the python build) ------------------------------------------------


def install(
    pip: list[str], requirement: str, *, code_dir: Path, env: dict[str, str], log: Log, deadline: float
) -> None:
    """As HKube's requirements.sh: the wrapper first (with the 3.11 recipe), then, in the
    python build, the algorithm's own requirements."""
    what = f"pip install --no-deps {requirement}"
    run([*pip, "--no-deps", requirement], what=what, cwd=code_dir, env=env, log=log, deadline=deadline)
    what = "pip install the wrapper's dependencies"
    run([*pip, *HKUBE_WRAPPER_DEPENDENCIES], what=what, cwd=code_dir, env=env, log=log, deadline=deadline)
    log(
        "(the 'dependency conflicts' pip reports against hkube-python-wrapper's own pins are "
        "expected: those pins do not build on Python 3.11, and these versions replace them)"
    )


_PROBE = """
import importlib.metadata, json, websocket
from hkube_python_wrapper import Algorunner
print(json.dumps({"wrapper": importlib.metadata.version("hkube-python-wrapper"),
                  "websocket": websocket.__version__, "websocketFile": websocket.__file__}))
"""


def lay_out_runner(
    code_dir: Path, env_dir: Path, runner_dir: Path, log: Log, deadline: float
) -> dict[str, str]:
    """``app.py`` + ``algorithm_unique_folder`` (a link to the code, with the ``__init__.py``
    HKube's image adds), then import the wrapper from there as it will run. Returns what the
    env's marker records about the wrapper."""
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
            env=step_env(env_dir, None),
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


# --- launch ------------------------------------------------------------------------------------


def hkube_runner_path(env_dir: Path) -> Path:
    """HKube's runner folder of a version: next to its env (``<version>/hkube-runner``)."""
    return env_dir.parent / RUNNER_DIR


def hkube_runner(env_dir: Path) -> Path | None:
    """The runner folder when the version runs on HKube's wrapper, else None."""
    marker = read_marker(env_dir)
    if marker is None or marker.get("wrapper") != HKUBE_PYTHON_WRAPPER:
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
        "ALGORITHM_ENTRY_POINT": entry_point or DEFAULT_ENTRY_POINT,
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


class HkubePythonWrapper:
    """Starts a python version built for HKube's wrapper (its env's marker says so)."""

    name = HKUBE_PYTHON_WRAPPER

    def launch(self, version: Version) -> Launch:
        runner_dir = hkube_runner_path(version.env_dir)
        site = version.site
        variables = hkube_wrapper_env(
            runner_dir,
            version.entry_point,
            cluster=site.cluster,
            storage=site.storage,
            storage_dir=site.storage_dir,
            storage_encoding=site.storage_encoding,
            metrics_dir=version.metrics_dir,
            s3=site.s3,
        )
        return Launch(hkube_runner_command(version.env_dir), variables, runner_dir)


HKUBE_WRAPPER = HkubePythonWrapper()
