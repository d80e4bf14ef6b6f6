"""HKube's published Python wrapper: which algorithms get it, and the environment and runner
folder a build makes for it. No network: pip installs stand-in wheels from a local folder."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import zipfile
from pathlib import Path

import pytest

from builds.languages import hkube_wrapper, python
from builds.languages.base import is_built
from builds.languages.hkube_wrapper import (
    choose_wrapper,
    hkube_runner,
    hkube_runner_command,
    hkube_wrapper_env,
)
from builds.languages.nodejs import build_nodejs_env
from builds.languages.python import build_python_env
from builds.process import BuildError

# Stand-ins with the real names and import paths. The fake Algorunner.Run() loads the user
# code the way hkube-python-wrapper 2.4.2 does (§7 of the protocol reference) and prints
# what start() returned, so the runner layout is exercised as it will run.
FAKE_WRAPPER = """
import importlib, json, os

class HKubeApi:
    pass

class Algorunner:
    @staticmethod
    def Run():
        path = os.environ.get("ALGORITHM_PATH", "algorithm_unique_folder")
        __import__(path)
        os.chdir(path)
        entry = os.environ.get("ALGORITHM_ENTRY_POINT", "main.py")
        module = importlib.import_module(path + "." + entry[:-3].replace("/", "."))
        print(json.dumps({"result": module.start({"input": [21]}, HKubeApi()), "cwd": os.getcwd()}))
"""


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def make_wheel(folder: Path, name: str, version: str, files: dict[str, str]) -> None:
    """A pure-Python wheel with no dependencies."""
    dist = f"{name.replace('-', '_')}-{version}.dist-info"
    contents = {path: text.encode() for path, text in files.items()}
    contents[f"{dist}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
    contents[f"{dist}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    record = [_record_line(path, data) for path, data in contents.items()] + [f"{dist}/RECORD,,"]
    contents[f"{dist}/RECORD"] = ("\n".join(record) + "\n").encode()
    with zipfile.ZipFile(folder / f"{name.replace('-', '_')}-{version}-py3-none-any.whl", "w") as wheel:
        for path, data in contents.items():
            wheel.writestr(path, data)


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("wheels")
    for version in ("2.4.1", "2.4.2"):
        make_wheel(
            folder, "hkube-python-wrapper", version, {"hkube_python_wrapper/__init__.py": FAKE_WRAPPER}
        )
    broken = {"hkube_python_wrapper/__init__.py": "import no_such_dependency\n"}
    make_wheel(folder, "hkube-python-wrapper", "2.4.0", broken)
    for version in ("0.57.0", "1.8.0"):
        files = {"websocket/__init__.py": f"__version__ = {version!r}\n"}
        make_wheel(folder, "websocket-client", version, files)
    make_wheel(folder, "Events", "0.4", {"events/__init__.py": ""})
    make_wheel(folder, "hkube-userdep", "1.0", {"hkube_userdep.py": "VALUE = 2\n"})
    return folder


@pytest.fixture
def offline(wheelhouse: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """pip sees only the wheelhouse; the wrapper's dependencies are cut to the stand-ins."""
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheelhouse))
    monkeypatch.setattr(
        hkube_wrapper, "HKUBE_WRAPPER_DEPENDENCIES", ("Events==0.4", "websocket-client==0.57.0")
    )


@pytest.fixture
def code_dir(tmp_path: Path) -> Path:
    code = tmp_path / "v1" / "code"
    code.mkdir(parents=True)
    # Imports a sibling module by its own name, as HKube's PYTHONPATH allows.
    (code / "main.py").write_text(
        "import helper\n\ndef start(args, hkubeApi):\n    return helper.twice(args)\n"
    )
    (code / "helper.py").write_text("def twice(args):\n    return args['input'][0] * 2\n")
    return code


def requirements(code_dir: Path, text: str) -> Path:
    (code_dir / "requirements.txt").write_text(text)
    return code_dir


# --- which wrapper ------------------------------------------------------------------------


def test_an_algorithm_runs_on_our_wrapper_by_default(code_dir: Path) -> None:
    requirements(code_dir, "numpy==2.0\n")
    choice = choose_wrapper("python", None, code_dir)
    assert (choice.name, choice.requirement, choice.reason) == ("builtin", "", "builtin (default)")


@pytest.mark.parametrize(
    ("line", "requirement"),
    [
        ("hkube-python-wrapper==2.4.2", "hkube-python-wrapper==2.4.2"),
        ("hkube_python_wrapper == 2.4.1  # the version we deploy", "hkube-python-wrapper==2.4.1"),
        ("HKube.Python-Wrapper", "hkube-python-wrapper==2.4.2"),
        ("hkube-python-wrapper>=2.3,<3", "hkube-python-wrapper>=2.3,<3"),
        ("hkube-python-wrapper==2.4.0 ; python_version >= '3'", "hkube-python-wrapper==2.4.0"),
    ],
)
def test_requirements_naming_hkube_python_wrapper_pick_it_at_the_pinned_version(
    code_dir: Path, line: str, requirement: str
) -> None:
    requirements(code_dir, f"# deps\nrequests\n{line}\n")
    choice = choose_wrapper("python", None, code_dir)
    assert choice.name == "hkube-python-wrapper"
    assert choice.requirement == requirement
    assert choice.reason == f"{requirement} (named in requirements.txt)"


@pytest.mark.parametrize(
    "line", ["# hkube-python-wrapper==2.4.2", "hkube-python-wrapper-extras==1.0", "-e ."]
)
def test_comments_and_other_packages_do_not_pick_hkubes_wrapper(code_dir: Path, line: str) -> None:
    requirements(code_dir, line + "\n")
    assert choose_wrapper("python", None, code_dir).name == "builtin"


@pytest.mark.parametrize("declared", ["hkube", "hkube-python-wrapper"])
def test_the_descriptor_picks_hkubes_wrapper_at_2_4_2_without_requirements(
    code_dir: Path, declared: str
) -> None:
    choice = choose_wrapper("python", declared, code_dir)
    assert choice.requirement == "hkube-python-wrapper==2.4.2"
    assert choice.reason == "hkube-python-wrapper==2.4.2 (descriptor)"


def test_the_descriptor_keeps_the_version_requirements_pin(code_dir: Path) -> None:
    requirements(code_dir, "hkube-python-wrapper==2.4.1\n")
    assert choose_wrapper("python", "hkube", code_dir).requirement == "hkube-python-wrapper==2.4.1"


def test_wrapper_builtin_in_the_descriptor_wins_over_requirements(code_dir: Path) -> None:
    requirements(code_dir, "hkube-python-wrapper==2.4.2\n")
    choice = choose_wrapper("python", "builtin", code_dir)
    assert choice.name == "builtin" and not choice.requirement
    assert "'hkube-python-wrapper==2.4.2' line of requirements.txt is not installed" in choice.reason


@pytest.mark.parametrize("declared", ["hkube-nodejs", 3, ["hkube"]])
def test_an_unknown_wrapper_is_a_build_error(code_dir: Path, declared: object) -> None:
    with pytest.raises(BuildError, match="use one of builtin, hkube, hkube-python-wrapper"):
        choose_wrapper("python", declared, code_dir)


def test_hkubes_python_wrapper_on_a_nodejs_algorithm_is_a_build_error(code_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(BuildError, match="needs env python"):
        build_nodejs_env(code_dir, tmp_path / "env", log=lambda line: None, wrapper="hkube")
    assert choose_wrapper("nodejs", None, requirements(code_dir, "hkube-python-wrapper\n")).name == "builtin"


# --- the build ----------------------------------------------------------------------------


@pytest.mark.usefixtures("offline")
def test_build_lays_out_hkubes_runner_and_the_code_runs_from_it(code_dir: Path) -> None:
    requirements(code_dir, "hkube-python-wrapper==2.4.1  # pinned\nhkube-userdep==1.0\n")
    env_dir = code_dir.parent / "env"
    lines: list[str] = []
    build_python_env(code_dir, env_dir, log=lines.append)

    assert is_built(env_dir)
    marker = json.loads((env_dir / "hkube-env.json").read_text())
    assert marker["wrapper"] == "hkube-python-wrapper" and marker["wrapperVersion"] == "2.4.1"
    runner = hkube_runner(env_dir)
    assert runner == code_dir.parent / "hkube-runner"
    assert (runner / "app.py").read_text().splitlines()[1:] == [
        "from hkube_python_wrapper import Algorunner",
        "Algorunner.Run()",
    ]
    assert os.readlink(runner / "algorithm_unique_folder") == "../code"
    assert (code_dir / "__init__.py").is_file()
    # The wrapper line was left out of the user's install, the rest went in; no leftovers.
    assert "$ pip install --no-deps hkube-python-wrapper==2.4.1" in lines
    assert "$ pip install -r requirements.txt (without hkube-python-wrapper)" in lines
    assert not (code_dir / python.FILTERED_REQUIREMENTS).exists()

    out = subprocess.run(
        hkube_runner_command(env_dir),
        cwd=runner,
        env={**os.environ, **hkube_wrapper_env(runner, "main.py", **storage_settings(code_dir.parent))},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    ran = json.loads(out.stdout.strip().splitlines()[-1])
    assert ran == {"result": 42, "cwd": str(code_dir.resolve())}
    userdep = subprocess.run(
        [str(env_dir / "bin" / "python"), "-c", "import hkube_userdep; print(hkube_userdep.VALUE)"],
        capture_output=True,
        text=True,
    )
    assert userdep.stdout.strip() == "2"


@pytest.mark.usefixtures("offline")
def test_the_venvs_websocket_client_wins_over_the_servers(code_dir: Path) -> None:
    env_dir = code_dir.parent / "env"
    lines: list[str] = []
    build_python_env(code_dir, env_dir, log=lines.append, wrapper="hkube")
    # The server's .venv (on the path through the .pth file) has a newer websocket-client.
    probe = "import websocket; print(websocket.__version__, websocket.__file__)"
    out = subprocess.run([str(env_dir / "bin" / "python"), "-c", probe], capture_output=True, text=True)
    version, location = out.stdout.split()
    assert version == "0.57.0"
    assert Path(location).is_relative_to(env_dir)
    assert any(line.startswith("hkube-python-wrapper 2.4.2, websocket-client 0.57.0 from ") for line in lines)


@pytest.mark.usefixtures("offline")
def test_a_requirement_that_replaces_websocket_client_fails_the_build(code_dir: Path) -> None:
    requirements(code_dir, "hkube-python-wrapper==2.4.2\nwebsocket-client==1.8.0\n")
    env_dir = code_dir.parent / "env"
    with pytest.raises(BuildError, match=r"websocket-client 1\.8\.0 .* needs 0\.57\.0"):
        build_python_env(code_dir, env_dir, log=lambda line: None)
    assert not env_dir.exists()
    assert not (code_dir.parent / "hkube-runner").exists()
    assert (code_dir / "main.py").is_file()  # removing the runner left the code alone


@pytest.mark.usefixtures("offline")
def test_a_wrapper_version_that_does_not_import_fails_the_build(code_dir: Path) -> None:
    # 2.4.0's stand-in needs a module the recipe does not install.
    requirements(code_dir, "hkube-python-wrapper==2.4.0\n")
    with pytest.raises(BuildError, match=r"(?s)does not import in the new environment.*no_such_dependency"):
        build_python_env(code_dir, code_dir.parent / "env", log=lambda line: None)
    assert not (code_dir.parent / "env").exists()


def test_a_version_built_for_our_wrapper_has_no_hkube_runner(code_dir: Path) -> None:
    env_dir = code_dir.parent / "env"
    build_python_env(code_dir, env_dir, log=lambda line: None)
    assert hkube_runner(env_dir) is None
    assert not (code_dir.parent / "hkube-runner").exists()
    assert hkube_runner(code_dir.parent / "missing") is None


# --- how it is started ----------------------------------------------------------------------


def storage_settings(home: Path) -> dict[str, object]:
    return {
        "cluster": "main",
        "storage": "fs",
        "storage_dir": home / "storage",
        "storage_encoding": "msgpack",
        "metrics_dir": home / "metrics" / "worker-1",
    }


def test_hkube_wrapper_env_follows_the_protocol_reference(tmp_path: Path) -> None:
    runner = tmp_path / "v1" / "hkube-runner"
    env = hkube_wrapper_env(runner, "src/alg.py", **storage_settings(tmp_path))  # type: ignore[arg-type]
    assert env == {
        "ALGORITHM_PATH": "algorithm_unique_folder",
        "ALGORITHM_ENTRY_POINT": "src/alg.py",
        "PYTHONPATH": str(runner.resolve() / "algorithm_unique_folder"),
        "PYTHONUNBUFFERED": "1",
        "WORKER_ALGORITHM_ENCODING": "msgpack",
        "STORAGE_PROTOCOL": "v3",
        "DEFAULT_STORAGE": "fs",
        "STORAGE_ENCODING": "msgpack",
        "CLUSTER_NAME": "main",
        "BASE_FS_ADAPTER_DIRECTORY": str((tmp_path / "storage").resolve()),
        "DISCOVERY_ENABLE": "false",
        "HKUBE_LOG_LEVEL": "WARNING",
        "ALGO_METRICS_DIR": str((tmp_path / "metrics" / "worker-1").resolve()),
    }
    assert (tmp_path / "metrics" / "worker-1").is_dir()
    assert hkube_runner_command(tmp_path / "env") == [
        str(tmp_path / "env" / "bin" / "python"),
        "-u",
        "app.py",
    ]


def test_hkube_wrapper_env_on_s3_names_the_wrappers_variables(tmp_path: Path) -> None:
    settings = {**storage_settings(tmp_path), "storage": "s3"}
    s3 = {"endpoint_url": "http://minio:9000", "access_key": "k", "secret_key": "s", "region": ""}
    env = hkube_wrapper_env(tmp_path / "hkube-runner", None, **settings, s3=s3)  # type: ignore[arg-type]
    assert env["DEFAULT_STORAGE"] == "s3"
    assert env["ALGORITHM_ENTRY_POINT"] == "main.py"
    assert (env["S3_ENDPOINT_URL"], env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]) == (
        "http://minio:9000",
        "k",
        "s",
    )
    assert "S3_REGION" not in env
