"""Python algorithms: a virtualenv per version, run on our wrapper (or HKube's, ``hkube_wrapper.py``).

HKube bakes the user's dependencies into an image (``requirements.sh``: the algorithm's
``dependencyInstallCmd`` if set, else ``pip install -r requirements.txt``, run inside the
code folder). Here a build produces a virtualenv instead. It is created with
``--system-site-packages`` so that pip and the wrapper's optional ``msgpack`` come from
the server's environment; when the server itself runs in a virtualenv (``.venv``) a
``.pth`` file adds that environment's site-packages too, because
``--system-site-packages`` only reaches the *base* interpreter's. The venv's own
site-packages come first, so the user's pins win, and pip installs into the venv
(``sys.prefix`` is the venv) without touching the server's packages.
No Django imports: plain Python, tested directly.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import time
from pathlib import Path

from builds.languages import hkube_wrapper
from builds.languages.base import (
    REPO_ROOT,
    BuildOptions,
    Launch,
    Version,
    reset_dir,
    step_env,
    wrapper_variables,
    write_marker,
)
from builds.process import Log, run, run_shell

PYTHON = "python"
DEFAULT_ENTRY_POINT = "main.py"
PYTHON_WRAPPER_DIR = REPO_ROOT / "algorithms" / "wrappers" / "python"
PARENT_PTH = "_hkube_parent_env.pth"
FILTERED_REQUIREMENTS = ".hkube-requirements.txt"


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
    choice = hkube_wrapper.choose_wrapper(PYTHON, wrapper, code_dir)
    runner_dir = hkube_wrapper.hkube_runner_path(env_dir)
    reset_dir(env_dir)
    reset_dir(runner_dir)
    try:
        log(f"wrapper: {choice.reason}")
        run(
            [sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(env_dir)],
            what="creating the virtualenv",
            cwd=code_dir,
            env=step_env(env_dir, pip_cache_dir),
            log=log,
            deadline=deadline,
        )
        _link_parent_site_packages(env_dir)
        env = step_env(env_dir, pip_cache_dir)
        pip = [str(env_dir / "bin" / "python"), "-m", "pip", "install", "--progress-bar", "off"]
        if choice.requirement:
            hkube_wrapper.install(
                pip, choice.requirement, code_dir=code_dir, env=env, log=log, deadline=deadline
            )
        if install_cmd:
            run_shell(install_cmd, cwd=code_dir, env=env, log=log, deadline=deadline)
        elif (code_dir / "requirements.txt").is_file():
            _install_requirements(pip, code_dir, env, log, deadline)
        else:
            log("no requirements.txt: nothing to install")
        marker = {"env": PYTHON, "python": sys.version.split()[0]}
        if choice.requirement:
            marker.update(hkube_wrapper.lay_out_runner(code_dir, env_dir, runner_dir, log, deadline))
        write_marker(env_dir, marker)
    except BaseException:
        shutil.rmtree(env_dir, ignore_errors=True)
        shutil.rmtree(runner_dir, ignore_errors=True)
        raise


def python_command(env_dir: Path) -> list[str]:
    return [str(env_dir / "bin" / "python"), "-u", "-m", "hkube_wrapper"]


class Python:
    name = PYTHON
    default_entry_point = DEFAULT_ENTRY_POINT

    def build(self, code_dir: Path, env_dir: Path, *, log: Log, options: BuildOptions) -> None:
        build_python_env(
            code_dir,
            env_dir,
            log=log,
            pip_cache_dir=options.cache_dir / "pip",
            timeout=options.timeout,
            install_cmd=options.install_cmd,
            wrapper=options.wrapper,
        )

    def launch(self, version: Version) -> Launch:
        env = self.wrapper_env(version.code_dir, version.entry_point)
        return Launch(python_command(version.env_dir), env, version.code_dir)

    def wrapper_env(self, code_dir: Path, entry_point: str | None) -> dict[str, str]:
        """The code folder is also on ``PYTHONPATH`` (after the wrapper), as HKube appends
        ``algorithm_unique_folder`` so user modules can import their siblings."""
        variables = wrapper_variables(code_dir, entry_point, DEFAULT_ENTRY_POINT)
        variables["PYTHONPATH"] = os.pathsep.join([str(PYTHON_WRAPPER_DIR), str(code_dir.resolve())])
        variables["PYTHONUNBUFFERED"] = "1"
        return variables


PYTHON_LANGUAGE = Python()


def _install_requirements(
    pip: list[str], code_dir: Path, env: dict[str, str], log: Log, deadline: float
) -> None:
    """``pip install -r requirements.txt``, without a hkube-python-wrapper line: the wrapper
    went in with the 3.11 recipe, and its own pins would not build."""
    lines = (code_dir / "requirements.txt").read_text(encoding="utf-8", errors="replace").splitlines()
    kept = [line for line in lines if not hkube_wrapper.names_hkube_wrapper(line)]
    if len(kept) == len(lines):
        what = "pip install -r requirements.txt"
        run([*pip, "-r", "requirements.txt"], what=what, cwd=code_dir, env=env, log=log, deadline=deadline)
        return
    if not any(hkube_wrapper.strip_comment(line) for line in kept):
        log("requirements.txt names only hkube-python-wrapper: nothing else to install")
        return
    # Next to the original, so its nested -r files still resolve (and, with cwd = the code
    # folder, its relative paths, as for the plain install).
    filtered = code_dir / FILTERED_REQUIREMENTS
    filtered.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
    try:
        what = "pip install -r requirements.txt (without hkube-python-wrapper)"
        run([*pip, "-r", filtered.name], what=what, cwd=code_dir, env=env, log=log, deadline=deadline)
    finally:
        filtered.unlink(missing_ok=True)


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
