"""Builds and versions on the whole system: real pip from PyPI, real npm from the registry, the
real JDK; builds on the `builds` queue while jobs run; versions pinned by running jobs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.e2e.algorithms import example_algorithm, make_archive
from tests.e2e.harness import ROOT, Cluster, eventually

pytestmark = pytest.mark.e2e

BROKEN_REQUIREMENT = "this-package-does-not-exist-hkube==1.0"

# A local package whose build backend never ends: pip is busy for as long as the test wants.
SLOW_BACKEND = """
import os, pathlib, time

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    pathlib.Path({marker!r}).write_text(str(os.getpid()))
    time.sleep(600)
    raise RuntimeError("a backend that never finishes")
"""
SLOW_PYPROJECT = """
[build-system]
requires = []
build-backend = "slow_backend"
backend-path = ["."]
"""


# --- helpers -------------------------------------------------------------------------------


def took(build: dict[str, Any]) -> str:
    return f"{(build['endTime'] - build['startTime']) / 1000:.1f}s"


def versions(hkube: Cluster, name: str) -> list[dict[str, Any]]:
    response = hkube.get(f"versions/algorithms/{name}")
    assert response.status_code == 200, response.text
    body: list[dict[str, Any]] = response.json()
    return body


def current(hkube: Cluster, name: str) -> dict[str, Any]:
    body: dict[str, Any] = hkube.get(f"store/algorithms/{name}").json()
    return body


def run_one(hkube: Cluster, algorithm: str, *inputs: object, batch: str | None = None) -> Any:
    """Run a one-node pipeline and return its node's result (a list for a batch)."""
    node_input: list[object] = [batch, *inputs] if batch else list(inputs)
    pipeline = {
        "name": f"{algorithm}-run",
        "nodes": [{"nodeName": "n", "algorithmName": algorithm, "input": node_input}],
    }
    status = hkube.run("exec/raw", pipeline)
    assert status["status"] == "completed", status
    data = hkube.results(status["jobId"])["data"]
    return [item["result"] for item in data] if batch else data[0]["result"]


def archive(tmp_path: Path, name: str, files: dict[str, str]) -> Path:
    return make_archive(tmp_path / name, files, tmp_path / f"{name}.tar.gz")


# --- dependencies from the real registries ---------------------------------------------------


def test_a_python_requirement_is_installed_from_pypi_into_the_versions_own_env(
    hkube: Cluster, tmp_path: Path
) -> None:
    # The server's own environment has another humanize: the pin proves the version's venv won.
    code = {
        "requirements.txt": "humanize==4.9.0\n",
        "main.py": (
            "import humanize\n"
            "def start(args):\n"
            "    return [humanize.__version__, humanize.intcomma(args['input'][0])]\n"
        ),
    }
    answer = hkube.send_apply({"name": "bld-py-pypi", "env": "python"}, archive(tmp_path, "py", code))
    build = hkube.build_end(answer["buildId"])

    assert build["status"] == "completed", build["result"]["data"][-3000:]
    assert "Successfully installed humanize-4.9.0" in build["result"]["data"]
    assert run_one(hkube, "bld-py-pypi", 1234567) == ["4.9.0", "1,234,567"]
    print(f"python build with a PyPI requirement: {took(build)}")


def test_a_nodejs_dependency_is_installed_from_the_npm_registry(hkube: Cluster, tmp_path: Path) -> None:
    code = {
        "package.json": json.dumps(
            {"name": "bld-js", "version": "1.0.0", "dependencies": {"is-number": "7.0.0"}}
        ),
        "index.js": (
            "const isNumber = require('is-number');\nexports.start = (args) => args.input.map(isNumber);\n"
        ),
    }
    answer = hkube.send_apply(
        {"name": "bld-js-npm", "env": "nodejs", "entryPoint": "index.js"},
        archive(tmp_path, "js", code),
    )
    build = hkube.build_end(answer["buildId"])

    assert build["status"] == "completed", build["result"]["data"][-3000:]
    assert "added 1 package" in build["result"]["data"]
    assert run_one(hkube, "bld-js-npm", "5", "x", 3) == [True, False, True]
    print(f"nodejs build with an npm dependency: {took(build)}")


@pytest.mark.skipif(shutil.which("javac") is None, reason="no JDK installed")
def test_java_sources_are_compiled_and_run_in_a_pipeline_with_python_and_nodejs(numbers: Cluster) -> None:
    hkube = numbers  # range (python) and reduce (nodejs) from examples/numbers
    example = ROOT / "examples" / "java"
    subprocess.run(["bash", str(example / "package.sh")], check=True, cwd=example)
    answer = hkube.send_apply(*example_algorithm(example, "java-multiply"))
    build = hkube.build_end(answer["buildId"])
    assert build["status"] == "completed", build["result"]["data"][-3000:]
    assert "algorithm class: example.Multiply" in build["result"]["data"]
    pipeline = yaml.safe_load((example / "numbers-java.yml").read_text())

    small = hkube.run("exec/raw", pipeline)
    began = time.monotonic()
    big = hkube.run("exec/raw", {**pipeline, "flowInput": {"data": 500, "mul": 200}})
    big_took = time.monotonic() - began

    assert small["status"] == "completed" and big["status"] == "completed", (small, big)
    assert hkube.results(small["jobId"])["data"][0]["result"] == 30
    assert hkube.results(big["jobId"])["data"][0]["result"] == 25050000
    print(f"java build (javac): {took(build)}; numbers-java with 500 java items: {big_took:.1f}s")


JAVA_PARENT = """
import hkube.algo.wrapper.IAlgorithm;
import hkube.api.IHKubeAPI;
import hkube.api.INode;
import java.util.List;
import java.util.Map;

public class Parent implements IAlgorithm {
    public void Init(Map args) {}
    public Object Start(Map args, IHKubeAPI api) {
        Object value = ((List) args.get("input")).get(0);
        INode node = new INode() {
            public String getName() { return "triple"; }
            public Object[] getInput() { return new Object[] {"@flowInput.value"}; }
            public void setInput(Object[] input) {}
            public String getAlgorithmName() { return "bld-triple"; }
            public void setAlgorithmName(String name) {}
        };
        Map flowInput = Map.of("value", value);
        INode[] nodes = {node};
        Map reply = (Map) api.startRawSubPipeLine("bld-child", nodes, flowInput, Map.of(), Map.of());
        return reply.get("response");
    }
    public void Stop() {}
    public void Cleanup() {}
}
"""


@pytest.mark.skipif(shutil.which("javac") is None, reason="no JDK installed")
def test_a_java_algorithm_starts_a_sub_pipeline_through_the_code_api(
    hkube: Cluster, algorithm_factory: Callable[..., str]
) -> None:
    algorithm_factory("bld-triple", {"main.py": "def start(args):\n    return args['input'][0] * 3\n"})
    algorithm_factory("bld-java-parent", {"Parent.java": JAVA_PARENT}, env="java", entryPoint="Parent")

    results = run_one(hkube, "bld-java-parent", 14)

    assert [item["result"] for item in results] == [42]


# --- a failed build leaves the current version serving ---------------------------------------


def test_a_broken_requirement_fails_the_build_with_pips_log_and_the_old_version_keeps_serving(
    hkube: Cluster, tmp_path: Path
) -> None:
    name = "bld-keep"
    first = hkube.send_apply(
        {"name": name, "env": "python"},
        archive(tmp_path, "v1", {"main.py": "def start(args):\n    return 'v1'\n"}),
    )
    assert hkube.build_end(first["buildId"])["status"] == "completed"
    assert run_one(hkube, name) == "v1"
    before = current(hkube, name)["version"]

    broken = {"main.py": "def start(args):\n    return 'v2'\n", "requirements.txt": BROKEN_REQUIREMENT + "\n"}
    second = hkube.send_apply({"name": name, "env": "python"}, archive(tmp_path, "v2", broken))
    build = hkube.build_end(second["buildId"])

    assert build["status"] == "failed"
    assert f"No matching distribution found for {BROKEN_REQUIREMENT}" in build["result"]["data"]
    assert f"No matching distribution found for {BROKEN_REQUIREMENT}" in build["error"]
    assert build["version"] is None
    assert current(hkube, name)["version"] == before
    assert [v["version"] for v in versions(hkube, name)] == [before]
    assert run_one(hkube, name) == "v1"  # a job after the failed build runs the old version
    listed = hkube.get(f"builds/list/{name}").json()
    assert [(b["buildId"], b["status"]) for b in listed] == [
        (second["buildId"], "failed"),
        (first["buildId"], "completed"),
    ]
    assert [b["buildId"] for b in hkube.get(f"builds/list/{name}?sort=asc&limit=1").json()] == [
        first["buildId"]
    ]
    assert hkube.get(f"builds/list/{name}?limit=0").json()["error"]["message"] == "data.limit should be >= 1"


def test_rerun_builds_a_finished_build_again_into_a_new_version(hkube: Cluster, tmp_path: Path) -> None:
    name = "bld-rerun"
    answer = hkube.send_apply(
        {"name": name, "env": "python"},
        archive(tmp_path, "r", {"main.py": "def start(args):\n    return 'same code'\n"}),
    )
    first = hkube.build_end(answer["buildId"])

    response = hkube.post("builds/rerun", {"buildId": answer["buildId"]})
    assert response.status_code == 200 and response.json() == {"message": "OK"}
    again = hkube.build_end(answer["buildId"])

    assert again["status"] == "completed" and again["version"] != first["version"]
    assert [v["version"] for v in versions(hkube, name)] == [again["version"], first["version"]]
    assert current(hkube, name)["version"] == again["version"]  # no job was using it
    assert run_one(hkube, name) == "same code"


# --- builds never block the engine; stop kills pip ---------------------------------------------


def test_jobs_run_while_a_slow_build_runs_and_stopping_it_kills_pip(hkube: Cluster, tmp_path: Path) -> None:
    quick = hkube.send_apply(
        {"name": "bld-quick", "env": "python"},
        archive(tmp_path, "q", {"main.py": "def start(args):\n    return args['input'][0] * 2\n"}),
    )
    assert hkube.build_end(quick["buildId"])["status"] == "completed"
    marker = tmp_path / "pip-is-building"
    slow_code = {
        "main.py": "def start(args):\n    return 1\n",
        "requirements.txt": "./slowpkg\n",
        "slowpkg/pyproject.toml": SLOW_PYPROJECT,
        "slowpkg/slow_backend.py": SLOW_BACKEND.format(marker=str(marker)),
    }
    slow = hkube.send_apply({"name": "bld-slow", "env": "python"}, archive(tmp_path, "slow", slow_code))
    build_id = slow["buildId"]
    eventually(marker.exists, 180, "pip to run the slow build backend")
    pip_backend = int(marker.read_text())

    # The engine and the algorithm workers do not wait for the builds queue.
    began = time.monotonic()
    assert run_one(hkube, "bld-quick", 21) == 42
    assert run_one(hkube, "bld-quick", 5, batch="#[1...20]") == [2 * i for i in range(1, 21)]
    jobs_took = time.monotonic() - began
    assert hkube.get(f"builds/status/{build_id}").json()["status"] == "active"

    refused = hkube.post("builds/rerun", {"buildId": build_id})
    assert refused.status_code == 400
    assert refused.json()["error"]["message"] == "unable to rerun build because its in active status"

    stopped_at = time.monotonic()
    assert hkube.post("builds/stop", {"buildId": build_id}).json() == {"message": "OK"}
    build = hkube.build_end(build_id, timeout=30)

    assert build["status"] == "stopped"
    eventually(lambda: not _alive(pip_backend), 10, "the stopped build's pip to be killed")
    eventually(
        lambda: "build stopped" in hkube.get(f"builds/status/{build_id}").json()["result"]["data"],
        10,
        "the stop to be logged",
    )
    again = hkube.post("builds/stop", {"buildId": build_id})
    assert again.status_code == 400
    assert again.json()["error"]["message"] == "unable to stop build because its in stopped status"
    assert current(hkube, "bld-slow")["version"] == ""  # never built: no version
    killed = time.monotonic() - stopped_at
    print(f"two jobs during a running build: {jobs_took:.1f}s; pip killed {killed:.1f}s after stop")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purposes (the builds worker reaps its own children only).
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split()[2] == "Z")


# --- versions ------------------------------------------------------------------------------------


def test_a_settings_change_makes_a_version_that_reuses_the_built_code(hkube: Cluster, tmp_path: Path) -> None:
    name = "bld-settings"
    code = archive(
        tmp_path,
        "s",
        {"main.py": "import os\ndef start(args):\n    return os.environ.get('GREETING', 'none')\n"},
    )
    built = hkube.build_end(hkube.send_apply({"name": name, "env": "python"}, code)["buildId"])
    first = built["version"]

    changed = hkube.send_apply({"name": name, "cpu": 0.2, "algorithmEnv": {"GREETING": "hello"}})

    assert "buildId" not in changed
    assert "a new version of algorithm bld-settings has been created" in changed["messages"]
    listed = versions(hkube, name)
    assert [v["version"] for v in listed][1:] == [first] and len(listed) == 2
    newest = listed[0]
    assert newest["algorithm"]["cpu"] == 0.2 and newest["semver"] == "1.0.1"
    assert newest["algorithm"]["fileInfo"]["checksum"] == listed[1]["algorithm"]["fileInfo"]["checksum"]
    # Without forceUpdate the current version stays (HKube's apply semantics).
    assert current(hkube, name)["version"] == first and run_one(hkube, name) == "none"

    applied = hkube.post("versions/algorithms/apply", {"name": name, "version": newest["version"]})

    assert applied.status_code == 201, applied.text
    assert current(hkube, name)["version"] == newest["version"] and current(hkube, name)["cpu"] == 0.2
    assert run_one(hkube, name) == "hello"  # the new settings on the code built once

    same = hkube.send_apply({"name": name, "cpu": 0.2, "algorithmEnv": {"GREETING": "hello"}})
    forced = hkube.send_apply({"name": name, "mem": "512Mi"}, options={"forceUpdate": True})

    assert not any("new version" in m for m in same["messages"])  # same as current: no version
    assert len(versions(hkube, name)) == 3
    assert forced["algorithm"]["mem"] == "512Mi"
    assert current(hkube, name)["version"] == versions(hkube, name)[0]["version"]
    assert run_one(hkube, name) == "hello"


VERSIONED = """
import pathlib, time
VERSION = {version!r}
def start(args):
    began = time.time()
    gate = pathlib.Path(args['input'][1])
    while VERSION == 'v1' and not gate.exists():
        time.sleep(0.05)
    return {{'version': VERSION, 'began': began}}
"""


def test_running_jobs_keep_the_version_they_started_with(hkube: Cluster, tmp_path: Path) -> None:
    name = "bld-pinned"
    gate = tmp_path / "gate"
    v1 = hkube.build_end(
        hkube.send_apply(
            {"name": name, "env": "python"},
            archive(tmp_path, "v1", {"main.py": VERSIONED.format(version="v1")}),
        )["buildId"],
    )
    pipeline = {
        "name": "bld-pinned",
        "nodes": [
            {"nodeName": "n", "algorithmName": name, "input": ["#@flowInput.items", "@flowInput.gate"]}
        ],
    }
    old_job = hkube.submit({**pipeline, "flowInput": {"items": list(range(6)), "gate": str(gate)}})
    eventually(
        lambda: hkube.get(f"exec/status/{old_job}").json()["status"] == "active", 60, "the first job to start"
    )

    # A new build while the job runs: its version is made but not made current (HKube: 901).
    answer = hkube.send_apply(
        {"name": name, "env": "python"},
        archive(tmp_path, "v2", {"main.py": VERSIONED.format(version="v2")}),
    )
    v2 = hkube.build_end(answer["buildId"])
    assert v2["status"] == "completed"
    assert current(hkube, name)["version"] == v1["version"]
    assert current(hkube, name)["errors"] == [901]
    assert [v["version"] for v in versions(hkube, name)] == [v2["version"], v1["version"]]

    refused = hkube.post("versions/algorithms/apply", {"name": name, "version": v2["version"]})
    assert refused.status_code == 400
    assert (
        refused.json()["error"]["message"]
        == f'there is a running pipeline which depends on "{name}" algorithm'
    )
    switched_at = time.time()
    forced = hkube.post("versions/algorithms/apply", {"name": name, "version": v2["version"], "force": True})
    assert forced.status_code == 201 and forced.json()["version"] == v2["version"]
    assert current(hkube, name)["version"] == v2["version"] and "errors" not in current(hkube, name)

    new_job = hkube.submit({**pipeline, "flowInput": {"items": list(range(3)), "gate": str(gate)}})
    gate.write_text("open")
    old = hkube.wait(old_job, 180)
    new = hkube.wait(new_job, 180)

    assert old["status"] == "completed" and new["status"] == "completed", (old, new)
    old_items = [item["result"] for item in hkube.results(old_job)["data"]]
    new_items = [item["result"] for item in hkube.results(new_job)["data"]]
    assert [item["version"] for item in old_items] == ["v1"] * 6
    assert [item["version"] for item in new_items] == ["v2"] * 3
    # Most of the first job's items started after v2 became current, and still ran v1.
    assert sum(item["began"] > switched_at for item in old_items) >= 4

    in_use = requests.delete(hkube.url(f"versions/algorithms/{name}/{v2['version']}"), timeout=60)
    assert in_use.status_code == 400
    assert in_use.json()["error"]["message"] == "unable to remove the currently used version"
    removed = requests.delete(hkube.url(f"versions/algorithms/{name}/{v1['version']}"), timeout=60)
    assert removed.status_code == 200 and removed.json() == {"deleted": 1}
    assert [v["version"] for v in versions(hkube, name)] == [v2["version"]]
    assert not (hkube.home / "algorithms" / name / v1["version"]).exists()
