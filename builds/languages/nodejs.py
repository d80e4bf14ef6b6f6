"""Node.js algorithms: ``npm install`` in the code folder (``node_modules`` next to the code,
as in HKube's image), run on our wrapper; the env folder only records a marker.
No Django imports: plain Python, tested directly."""

from __future__ import annotations

import json
import shutil
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
from builds.process import BuildError, Log, run, run_shell

NODEJS = "nodejs"
DEFAULT_ENTRY_POINT = "index.js"
NODEJS_WRAPPER = REPO_ROOT / "algorithms" / "wrappers" / "nodejs" / "wrapper.js"


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
    hkube_wrapper.choose_wrapper(NODEJS, wrapper, code_dir)  # refuses HKube's (python) wrapper
    reset_dir(env_dir)
    try:
        env = step_env(None, None)
        # npm would otherwise phone home for update checks on every build.
        env["npm_config_update_notifier"] = "false"
        if install_cmd:
            run_shell(install_cmd, cwd=code_dir, env=env, log=log, deadline=deadline)
        elif _has_npm_dependencies(code_dir):
            npm = shutil.which("npm")
            if npm is None:
                raise BuildError("npm is not installed on this server; it is needed for package.json")
            run(
                [npm, "install", "--omit=dev", "--no-audit", "--no-fund"],
                what="npm install",
                cwd=code_dir,
                env=env,
                log=log,
                deadline=deadline,
            )
        else:
            log("no dependencies in package.json: nothing to install")
        write_marker(env_dir, {"env": NODEJS, "node_modules": str(code_dir.resolve() / "node_modules")})
    except BaseException:
        shutil.rmtree(env_dir, ignore_errors=True)
        raise


def nodejs_command() -> list[str]:
    return ["node", str(NODEJS_WRAPPER)]


class NodeJs:
    name = NODEJS
    default_entry_point = DEFAULT_ENTRY_POINT

    def build(self, code_dir: Path, env_dir: Path, *, log: Log, options: BuildOptions) -> None:
        build_nodejs_env(
            code_dir,
            env_dir,
            log=log,
            timeout=options.timeout,
            install_cmd=options.install_cmd,
            wrapper=options.wrapper,
        )

    def launch(self, version: Version) -> Launch:
        env = self.wrapper_env(version.code_dir, version.entry_point)
        return Launch(nodejs_command(), env, version.code_dir)

    def wrapper_env(self, code_dir: Path, entry_point: str | None) -> dict[str, str]:
        variables = wrapper_variables(code_dir, entry_point, DEFAULT_ENTRY_POINT)
        variables["NODE_PATH"] = str(code_dir.resolve() / "node_modules")
        return variables


NODEJS_LANGUAGE = NodeJs()


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
