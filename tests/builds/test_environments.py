"""Per-version environments: a real virtualenv and a real npm install, without network."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from builds.languages import wrapper_env
from builds.languages.base import REPO_ROOT, is_built
from builds.languages.nodejs import build_nodejs_env, nodejs_command
from builds.languages.python import build_python_env, python_command
from builds.process import BuildError

needs_npm = pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed")

# A PEP 517 backend that lives inside the package and needs nothing from an index, so
# pip can build and install the local package with build isolation and no network.
BACKEND = """
import base64, hashlib, os, zipfile

DIST = "hkube_localpkg-1.0.dist-info"


def _line(path, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    files = {
        "hkube_localpkg.py": b"VALUE = 42\\n",
        DIST + "/METADATA": b"Metadata-Version: 2.1\\nName: hkube-localpkg\\nVersion: 1.0\\n",
        DIST + "/WHEEL": (
            b"Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"
        ),
    }
    record = [_line(path, data) for path, data in files.items()] + [DIST + "/RECORD,,"]
    files[DIST + "/RECORD"] = ("\\n".join(record) + "\\n").encode()
    name = "hkube_localpkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as zf:
        for path, data in files.items():
            zf.writestr(path, data)
    return name
"""

PYPROJECT = """
[build-system]
requires = []
build-backend = "hkube_backend"
backend-path = ["backend"]
"""


def run_in(env_dir: Path, code: str) -> str:
    out = subprocess.run(
        [str(env_dir / "bin" / "python"), "-c", code], capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


@pytest.fixture
def code_dir(tmp_path: Path) -> Path:
    code = tmp_path / "code"
    code.mkdir()
    (code / "main.py").write_text("def start(args):\n    return 1\n")
    return code


# --- python ----------------------------------------------------------------------------


def test_python_env_without_requirements_sees_msgpack_and_is_its_own_prefix(
    code_dir: Path, tmp_path: Path
) -> None:
    env_dir = tmp_path / "env"
    lines: list[str] = []
    build_python_env(code_dir, env_dir, log=lines.append)
    assert is_built(env_dir)
    assert run_in(env_dir, "import msgpack, sys; print(sys.prefix)") == str(env_dir)
    assert "no requirements.txt: nothing to install" in lines


def test_missing_requirement_fails_with_pips_error_and_leaves_no_env(code_dir: Path, tmp_path: Path) -> None:
    (code_dir / "requirements.txt").write_text("--no-index\nthis-package-does-not-exist-hkube==1.0\n")
    env_dir = tmp_path / "env"
    lines: list[str] = []
    with pytest.raises(BuildError) as excinfo:
        build_python_env(code_dir, env_dir, log=lines.append)
    message = str(excinfo.value)
    assert "pip install -r requirements.txt failed with exit code" in message
    assert "No matching distribution found for this-package-does-not-exist-hkube==1.0" in message
    assert any("this-package-does-not-exist-hkube" in line for line in lines)  # streamed as it ran
    assert not env_dir.exists()


def test_local_requirement_installs_into_the_venv_only(code_dir: Path, tmp_path: Path) -> None:
    pkg = code_dir / "localpkg"
    (pkg / "backend").mkdir(parents=True)
    (pkg / "pyproject.toml").write_text(PYPROJECT)
    (pkg / "backend" / "hkube_backend.py").write_text(BACKEND)
    # A path relative to the code folder, as users write it; --no-index keeps it offline.
    (code_dir / "requirements.txt").write_text("--no-index\n./localpkg\n")
    env_dir = tmp_path / "env"
    lines: list[str] = []
    build_python_env(code_dir, env_dir, log=lines.append, pip_cache_dir=tmp_path / "pip-cache")

    installed = run_in(env_dir, "import hkube_localpkg as m; print(m.VALUE, m.__file__)")
    value, location = installed.split(" ", 1)
    assert value == "42"
    assert Path(location).is_relative_to(env_dir)
    assert any("Successfully installed hkube-localpkg-1.0" in line for line in lines)
    server = subprocess.run([sys.executable, "-c", "import hkube_localpkg"], capture_output=True)
    assert server.returncode != 0, "the package leaked into the server's environment"


def test_install_cmd_runs_in_the_code_folder_with_the_venv_first_on_path(
    code_dir: Path, tmp_path: Path
) -> None:
    (code_dir / "requirements.txt").write_text("this-would-fail-if-pip-ran==0\n")
    env_dir = tmp_path / "env"
    lines: list[str] = []
    build_python_env(
        code_dir,
        env_dir,
        log=lines.append,
        pip_cache_dir=tmp_path / "cache",
        install_cmd='python -c "import sys; print(sys.prefix)"; pwd; echo "cache=$PIP_CACHE_DIR"',
    )
    assert str(env_dir) in lines
    assert str(code_dir) in lines
    assert f"cache={tmp_path / 'cache'}" in lines


def test_failing_install_cmd_raises_with_its_output(code_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(BuildError, match=r"(?s)exit code 3.*broken on purpose"):
        build_python_env(
            code_dir, tmp_path / "env", log=lambda line: None, install_cmd="echo broken on purpose; exit 3"
        )


def test_build_timeout_kills_the_install(code_dir: Path, tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(BuildError, match="timed out"):
        build_python_env(code_dir, tmp_path / "env", log=lambda line: None, timeout=2, install_cmd="sleep 60")
    assert time.monotonic() - started < 20
    assert not (tmp_path / "env").exists()


def test_rebuilding_replaces_the_previous_env(code_dir: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "env"
    env_dir.mkdir()
    (env_dir / "stale").write_text("old")
    build_python_env(code_dir, env_dir, log=lambda line: None)
    assert not (env_dir / "stale").exists()
    assert is_built(env_dir)


# --- nodejs ----------------------------------------------------------------------------


def test_nodejs_without_dependencies_is_a_no_op(code_dir: Path, tmp_path: Path) -> None:
    (code_dir / "package.json").write_text(json.dumps({"name": "alg", "version": "1.0.0"}))
    lines: list[str] = []
    build_nodejs_env(code_dir, tmp_path / "env", log=lines.append)
    assert not (code_dir / "node_modules").exists()
    assert is_built(tmp_path / "env")
    assert lines == ["no dependencies in package.json: nothing to install"]


def test_nodejs_without_package_json_is_a_no_op(code_dir: Path, tmp_path: Path) -> None:
    build_nodejs_env(code_dir, tmp_path / "env", log=lambda line: None)
    assert is_built(tmp_path / "env")


def test_invalid_package_json_is_a_build_error(code_dir: Path, tmp_path: Path) -> None:
    (code_dir / "package.json").write_text("{not json")
    with pytest.raises(BuildError, match=r"package\.json is not valid JSON"):
        build_nodejs_env(code_dir, tmp_path / "env", log=lambda line: None)


@needs_npm
def test_nodejs_local_file_dependency_is_installed_into_node_modules(code_dir: Path, tmp_path: Path) -> None:
    dep = code_dir / "dep"
    dep.mkdir()
    (dep / "package.json").write_text(json.dumps({"name": "dep", "version": "1.0.0", "main": "index.js"}))
    (dep / "index.js").write_text("module.exports = 42;\n")
    (code_dir / "package.json").write_text(
        json.dumps({"name": "alg", "version": "1.0.0", "dependencies": {"dep": "file:./dep"}})
    )
    lines: list[str] = []
    build_nodejs_env(code_dir, tmp_path / "env", log=lines.append, timeout=120)
    assert (code_dir / "node_modules" / "dep").exists()
    out = subprocess.run(
        ["node", "-e", "console.log(require('dep'))"],
        cwd=code_dir,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "42"
    assert lines[0] == "$ npm install"


@needs_npm
def test_failing_npm_install_raises_with_npms_output(code_dir: Path, tmp_path: Path) -> None:
    # npm accepts a missing file: dependency (a dangling link), so fail offline through
    # the package's own postinstall script instead.
    dep = code_dir / "dep"
    dep.mkdir()
    (dep / "package.json").write_text(json.dumps({"name": "dep", "version": "1.0.0"}))
    manifest = {
        "name": "alg",
        "version": "1.0.0",
        "dependencies": {"dep": "file:./dep"},
        "scripts": {"postinstall": "echo failing-on-purpose; exit 7"},
    }
    (code_dir / "package.json").write_text(json.dumps(manifest))
    with pytest.raises(BuildError, match=r"(?s)npm install failed with exit code.*failing-on-purpose"):
        build_nodejs_env(code_dir, tmp_path / "env", log=lambda line: None, timeout=120)
    assert not is_built(tmp_path / "env")


# --- launching our wrappers ------------------------------------------------------------


def test_python_command_runs_the_wrapper_module_with_the_versions_interpreter(tmp_path: Path) -> None:
    assert python_command(tmp_path / "env") == [
        str(tmp_path / "env" / "bin" / "python"),
        "-u",
        "-m",
        "hkube_wrapper",
    ]


def test_nodejs_command_points_at_the_wrapper_in_this_repo() -> None:
    node, script = nodejs_command()
    assert node == "node"
    assert Path(script) == REPO_ROOT / "algorithms" / "wrappers" / "nodejs" / "wrapper.js"
    assert (REPO_ROOT / "builds" / "languages" / "base.py").is_file()


def test_wrapper_env_for_python_defaults_the_entry_point(code_dir: Path) -> None:
    env = wrapper_env("python", code_dir, None)
    assert env["ALGORITHM_PATH"] == str(code_dir.resolve())
    assert env["ALGORITHM_ENTRY_POINT"] == "main.py"
    assert env["PYTHONPATH"].split(":")[0] == str(REPO_ROOT / "algorithms" / "wrappers" / "python")
    assert env["PYTHONUNBUFFERED"] == "1"
    assert "NODE_PATH" not in env


def test_wrapper_env_for_nodejs(code_dir: Path) -> None:
    env = wrapper_env("nodejs", code_dir, "src/alg.js")
    assert env["ALGORITHM_ENTRY_POINT"] == "src/alg.js"
    assert env["NODE_PATH"] == str(code_dir.resolve() / "node_modules")
    assert wrapper_env("nodejs", code_dir, None)["ALGORITHM_ENTRY_POINT"] == "index.js"


def test_wrapper_env_refuses_unknown_envs(code_dir: Path) -> None:
    with pytest.raises(ValueError, match="unsupported env 'go'"):
        wrapper_env("go", code_dir, None)
