"""The language registry: one entry per environment, what starts a built version."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from builds import languages
from builds.languages import hkube_wrapper, java, nodejs, python
from builds.languages.base import MARKER, StorageSite, Version, write_marker

SITE = StorageSite(cluster="local", storage="fs", storage_dir=Path("storage"), storage_encoding="msgpack")


def version(tmp_path: Path, descriptor: dict[str, object] | None = None) -> Version:
    code_dir, env_dir = tmp_path / "v1" / "code", tmp_path / "v1" / "env"
    code_dir.mkdir(parents=True)
    return Version(
        code_dir=code_dir,
        env_dir=env_dir,
        descriptor=descriptor or {},
        metrics_dir=tmp_path / "metrics",
        site=SITE,
    )


def test_the_registry_has_one_language_per_env() -> None:
    assert sorted(languages.LANGUAGES) == ["java", "nodejs", "python"]
    assert languages.language("python") is python.PYTHON_LANGUAGE
    assert languages.language("nodejs") is nodejs.NODEJS_LANGUAGE
    assert languages.language("java") is java.JAVA_LANGUAGE
    assert languages.DEFAULT_ENTRY_POINTS == {"python": "main.py", "nodejs": "index.js", "java": ""}


def test_an_unknown_env_is_refused_with_the_known_ones() -> None:
    with pytest.raises(languages.UnsupportedEnv, match=r"unsupported env 'go': expected one of \['java'"):
        languages.language("go")
    with pytest.raises(ValueError):
        languages.launcher("go", None)


def test_a_version_without_an_env_folder_runs_on_its_language() -> None:
    assert languages.launcher("nodejs", None) is nodejs.NODEJS_LANGUAGE


def test_a_python_version_built_for_hkubes_wrapper_runs_on_it(tmp_path: Path) -> None:
    env_dir = tmp_path / "env"
    write_marker(env_dir, {"env": "python", "wrapper": hkube_wrapper.HKUBE_PYTHON_WRAPPER})
    assert languages.launcher("python", env_dir) is hkube_wrapper.HKUBE_WRAPPER
    write_marker(env_dir, {"env": "python"})
    assert languages.launcher("python", env_dir) is python.PYTHON_LANGUAGE


def test_an_unreadable_marker_means_our_wrapper(tmp_path: Path) -> None:
    env_dir = tmp_path / "env"
    env_dir.mkdir()
    (env_dir / MARKER).write_text("not json")
    assert languages.launcher("python", env_dir) is python.PYTHON_LANGUAGE


def test_python_launches_our_wrapper_with_the_versions_interpreter_in_the_code_folder(tmp_path: Path) -> None:
    target = version(tmp_path, {"entryPoint": "alg.py"})
    launch = python.PYTHON_LANGUAGE.launch(target)
    assert launch.command == [str(target.env_dir / "bin" / "python"), "-u", "-m", "hkube_wrapper"]
    assert launch.cwd == target.code_dir
    assert launch.env["ALGORITHM_ENTRY_POINT"] == "alg.py"
    assert launch.env["PYTHONPATH"].split(os.pathsep) == [
        str(python.PYTHON_WRAPPER_DIR),
        str(target.code_dir.resolve()),
    ]


def test_nodejs_launches_our_wrapper_with_the_codes_node_modules(tmp_path: Path) -> None:
    target = version(tmp_path)
    launch = nodejs.NODEJS_LANGUAGE.launch(target)
    assert launch.command == ["node", str(nodejs.NODEJS_WRAPPER)]
    assert launch.env["ALGORITHM_ENTRY_POINT"] == "index.js"
    assert launch.env["NODE_PATH"] == str(target.code_dir.resolve() / "node_modules")


def test_java_launches_the_class_found_by_the_build_with_hkubes_heap(tmp_path: Path) -> None:
    target = version(tmp_path, {"mem": "1Gi"})
    write_marker(
        target.env_dir,
        {"env": "java", "wrapper": java.WRAPPER_JAR, "classpath": "/x/algorithm.jar", "entryPoint": "a.Algo"},
    )
    launch = java.JAVA_LANGUAGE.launch(target)
    assert launch.command[1:3] == ["-Xms256M", "-Xmx819M"]
    assert "-Dhkube.entryPoint=a.Algo" in launch.command
    assert launch.command[-1] == java.MAIN_CLASS
    assert launch.env["ALGORITHM_ENTRY_POINT"] == ""
    assert launch.cwd == target.code_dir


def test_hkubes_wrapper_runs_app_py_in_the_runner_folder_with_storage_by_reference(tmp_path: Path) -> None:
    target = version(tmp_path)
    launch = hkube_wrapper.HKUBE_WRAPPER.launch(target)
    runner = target.env_dir.parent / hkube_wrapper.RUNNER_DIR
    assert launch.command == [str(target.env_dir / "bin" / "python"), "-u", "app.py"]
    assert launch.cwd == runner
    assert launch.env["STORAGE_PROTOCOL"] == "v3"
    assert launch.env["ALGORITHM_ENTRY_POINT"] == "main.py"
    assert launch.env["BASE_FS_ADAPTER_DIRECTORY"] == str(Path("storage").resolve())
    assert (tmp_path / "metrics").is_dir()


def test_the_marker_round_trips(tmp_path: Path) -> None:
    write_marker(tmp_path / "env", {"env": "nodejs"})
    assert json.loads((tmp_path / "env" / MARKER).read_text()) == {"env": "nodejs"}
