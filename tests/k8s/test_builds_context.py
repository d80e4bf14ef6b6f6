"""The build context a cluster build's init container writes (`manage.py
prepare_build_context`): a Dockerfile FROM the language's base image, the code, and the
dependency install, per language."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from builds import dockerfiles, services
from builds.process import BuildError

INSTRUCTIONS = {"FROM", "RUN", "COPY", "ENV", "USER", "WORKDIR", "CMD"}


def instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(instruction, arguments) per line; JSON-form arguments must be valid JSON arrays."""
    parsed = []
    for line in dockerfile.strip().splitlines():
        word, _, rest = line.partition(" ")
        assert word in INSTRUCTIONS, line
        if word in ("RUN", "CMD") and rest.startswith("["):
            assert isinstance(json.loads(rest), list), line
        parsed.append((word, rest))
    return parsed


def write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


def context(tmp_path: Path, env: str, files: dict[str, str], **options: object) -> tuple[str, Path]:
    code = write(tmp_path / "upload", files)
    out = tmp_path / "workspace"
    opts = dockerfiles.ContextOptions(env=env, base_image=f"reg.example/hkube/algorithm-{env}:1.0", **options)  # type: ignore[arg-type]
    path = dockerfiles.write_context(code, out, opts)
    return path.read_text(), out


def test_a_python_build_starts_from_the_python_base_image_and_installs_its_requirements(
    tmp_path: Path,
) -> None:
    text, out = context(
        tmp_path, "python", {"main.py": "def start(a): return 1\n", "requirements.txt": "numpy==2.0\n"}
    )
    steps = instructions(text)
    assert steps[0] == ("FROM", "reg.example/hkube/algorithm-python:1.0")
    assert ("COPY", "--chown=1000:1000 code/ /hkube/algorithm-runner/algorithm_unique_folder/") in steps
    assert any(w == "RUN" and "pip install -r /tmp/hkube-requirements.txt" in a for w, a in steps)
    assert steps[-1] == ("WORKDIR", "/hkube/algorithm-runner/algorithm_unique_folder")
    assert ("USER", "1000:1000") in steps
    env_line = next(a for w, a in steps if w == "ENV")
    assert 'ALGORITHM_ENTRY_POINT="main.py"' in env_line
    assert (out / "code" / "main.py").is_file()
    assert (out / "hkube-requirements.txt").read_text() == "numpy==2.0\n"


def test_a_python_build_on_hkubes_wrapper_installs_it_and_runs_hkubes_runner(tmp_path: Path) -> None:
    text, out = context(
        tmp_path,
        "python",
        {"algo.py": "x = 1\n", "requirements.txt": "hkube-python-wrapper==2.4.2\nrequests\n"},
        entry_point="algo.py",
    )
    steps = instructions(text)
    run_lines = [a for w, a in steps if w == "RUN"]
    assert "pip install --no-deps 'hkube-python-wrapper==2.4.2'" in run_lines[0]
    assert "websocket-client==0.57.0" in run_lines[0]
    # The wrapper line is installed by its own recipe, never from the user's requirements.
    assert (out / "hkube-requirements.txt").read_text() == "requests\n"
    assert "Algorunner.Run()" in (out / "hkube-runner.py").read_text()
    assert steps[-1] == ("CMD", '["python", "app.py"]')
    assert 'ALGORITHM_ENTRY_POINT="algo.py"' in next(a for w, a in steps if w == "ENV")


def test_a_nodejs_build_runs_npm_install_only_for_declared_dependencies(tmp_path: Path) -> None:
    text, _ = context(
        tmp_path, "nodejs", {"index.js": "", "package.json": '{"dependencies": {"lodash": "4"}}'}
    )
    steps = instructions(text)
    assert steps[0] == ("FROM", "reg.example/hkube/algorithm-nodejs:1.0")
    npm = next(json.loads(a) for w, a in steps if w == "RUN" and "npm install" in a)
    assert npm[:2] == ["sh", "-c"] and "Object.keys(p.dependencies||{}).length" in npm[2]
    assert 'NODE_PATH="/hkube/algorithm-runner/algorithm_unique_folder/node_modules"' in text


def test_a_java_build_compiles_sources_against_the_wrapper_in_a_jdk_stage(tmp_path: Path) -> None:
    text, _ = context(
        tmp_path, "java", {"src/Alg.java": "class Alg {}\n", "lib/dep.jar": "jar"}, entry_point="Alg"
    )
    steps = instructions(text)
    assert steps[0] == ("FROM", "reg.example/hkube/algorithm-java:1.0 AS base")
    assert steps[1] == ("FROM", f"{dockerfiles.DEFAULT_JDK_IMAGE} AS compile")
    compile_step = next(json.loads(a)[2] for w, a in steps if w == "RUN")
    assert "javac --release 17" in compile_step and "/hkube/wrapper/hkube-wrapper.jar" in compile_step
    assert ("FROM", "base") in steps
    assert 'ALGORITHM_CLASSPATH="/hkube/algorithm-runner/*"' in text
    assert 'ALGORITHM_ENTRY_POINT="Alg"' in text


def test_dependency_install_cmd_runs_in_the_code_folder_without_shell_quoting(tmp_path: Path) -> None:
    command = """echo "it's" && pip install 'x<2' > /dev/null"""
    text, _ = context(tmp_path, "python", {"main.py": ""}, install_cmd=command)
    steps = instructions(text)
    index = steps.index(("WORKDIR", "/hkube/algorithm-runner/algorithm_unique_folder"))
    word, args = steps[index + 1]
    assert word == "RUN" and json.loads(args) == ["bash", "-c", command]


def test_an_env_the_cluster_cannot_build_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match="cannot be built in the cluster"):
        context(tmp_path, "ruby", {"main.rb": ""})
    with pytest.raises(BuildError, match="expected one of python, nodejs, java"):
        dockerfiles.base_image("ruby", {})


def test_the_base_image_comes_from_the_release_unless_named() -> None:
    env = {"HKUBE_BUILD_REGISTRY": "reg.example:5000/", "HKUBE_BUILD_REGISTRY_NAMESPACE": "team"}
    assert dockerfiles.base_image("python", env) == "reg.example:5000/team/algorithm-python:latest"
    assert (
        dockerfiles.base_image(
            "nodejs", {**env, "HKUBE_BUILD_BASE_TAG": "0.3", "HKUBE_BUILD_BASE_REGISTRY": "base.io"}
        )
        == "base.io/team/algorithm-nodejs:0.3"
    )
    assert dockerfiles.base_image("java", {**env, "HKUBE_BUILD_BASE_IMAGE_JAVA": "my/java:1"}) == "my/java:1"


def _archive(tmp_path: Path, members: dict[str, bytes]) -> Path:
    path = tmp_path / "code.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _stored_build(tmp_path: Path, members: dict[str, bytes]) -> str:
    package = services.store_package("ctx-alg", _archive(tmp_path, members))
    services.create_build(
        package, {"name": "ctx-alg", "env": "python", "fileInfo": {"fileExt": "gz"}, "entryPoint": "main.py"}
    )
    return package.build_id


@pytest.mark.django_db
def test_the_command_writes_the_context_from_the_stored_archive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HKUBE_BUILD_REGISTRY", "reg.example")
    monkeypatch.setenv("HKUBE_BUILD_REGISTRY_NAMESPACE", "hkube")
    build_id = _stored_build(tmp_path, {"main.py": b"def start(a):\n    return 2\n"})
    out = tmp_path / "workspace"
    call_command("prepare_build_context", build_id, "--output", str(out), stdout=io.StringIO())
    assert (out / "code" / "main.py").read_bytes() == b"def start(a):\n    return 2\n"
    assert (out / "Dockerfile").read_text().startswith("FROM reg.example/hkube/algorithm-python:latest\n")


@pytest.mark.django_db
def test_the_command_refuses_an_unsafe_archive_and_a_missing_build(tmp_path: Path) -> None:
    build_id = _stored_build(tmp_path, {"../escape.py": b"x"})
    with pytest.raises(CommandError, match=f"cannot prepare build {build_id}"):
        call_command("prepare_build_context", build_id, "--output", str(tmp_path / "w1"))
    assert not (tmp_path / "escape.py").exists()
    with pytest.raises(CommandError, match="nope"):
        call_command("prepare_build_context", "nope", "--output", str(tmp_path / "w2"))
