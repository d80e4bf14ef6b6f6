"""hkubectl commands HKube's CLI has: `algorithm version`, `pipeline store --readmeFile`,
`export` and `import`, against the fake api-server."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import yaml
from typer.testing import Result

from hkubectl.transfer import replace_registry
from tests.cli.conftest import PREFIX, FakeHkube, Recorded

Run = Callable[..., Result]

VERSIONS = [
    {
        "version": "v2abc",
        "semver": "1.0.1",
        "versionAlias": "v1.0.1",
        "name": "my-alg",
        "buildId": None,
        "tags": [],
        "created": 2,
        "algorithm": {"name": "my-alg", "algorithmImage": "me/img:2"},
    },
    {
        "version": "v1abc",
        "semver": "1.0.0",
        "versionAlias": "stable",
        "name": "my-alg",
        "buildId": None,
        "tags": [],
        "created": 1,
        "algorithm": {"name": "my-alg", "algorithmImage": "me/img:1"},
    },
]


def versions_server(fake: FakeHkube) -> None:
    fake.on("GET", "versions/algorithms/my-alg", 200, VERSIONS)
    fake.on("GET", "store/algorithms/my-alg", 200, {"name": "my-alg", "version": "v1abc"})
    fake.on_call(
        "POST", "versions/algorithms/apply", lambda r: (201, {**VERSIONS[0], "name": r.json()["name"]})
    )


def test_version_lists_the_versions_marking_the_current_one(hkubectl: Run, fake_hkube: FakeHkube):
    versions_server(fake_hkube)

    result = hkubectl("algorithm", "version", "my-alg")

    assert result.exit_code == 0, result.output
    header, newer, older = result.stdout.strip().splitlines()
    assert header.split()[:4] == ["CURRENT", "VERSION", "SEMVER", "ALIAS"]
    assert newer.split()[:5] == ["False", "v2abc", "1.0.1", "v1.0.1", "me/img:2"]
    assert older.split()[:4] == ["True", "v1abc", "1.0.0", "stable"]
    as_json = json.loads(hkubectl("--json", "algorithm", "version", "my-alg").stdout)
    assert [(v["version"], v["current"]) for v in as_json] == [("v2abc", False), ("v1abc", True)]


def test_set_current_by_image_sends_the_version_hkube_needs(hkubectl: Run, fake_hkube: FakeHkube):
    versions_server(fake_hkube)

    result = hkubectl("algorithm", "version", "my-alg", "--setCurrent", "me/img:2", "--force")

    assert result.exit_code == 0, result.output
    [call] = fake_hkube.calls("POST", "versions/algorithms/apply")
    assert call.json() == {"name": "my-alg", "version": "v2abc", "force": True}
    assert "version v2abc of my-alg is now current" in result.stdout


def test_version_apply_takes_an_id_semver_or_alias(hkubectl: Run, fake_hkube: FakeHkube):
    versions_server(fake_hkube)

    for value in ("v1abc", "1.0.0", "stable"):
        result = hkubectl("algorithm", "version", "apply", "my-alg", value)
        assert result.exit_code == 0, result.output
    sent = [c.json() for c in fake_hkube.calls("POST", "versions/algorithms/apply")]
    assert sent == [{"name": "my-alg", "version": "v1abc", "force": False}] * 3


def test_an_unknown_version_is_an_error_and_applies_nothing(hkubectl: Run, fake_hkube: FakeHkube):
    versions_server(fake_hkube)

    result = hkubectl("algorithm", "version", "my-alg", "--set", "me/img:9")

    assert result.exit_code == 1
    assert "version me/img:9 of algorithm my-alg Not Found (versions: v2abc, v1abc)" in result.stderr
    assert fake_hkube.calls("POST", "versions/algorithms/apply") == []


def test_version_with_bad_words_is_a_usage_error(hkubectl: Run, fake_hkube: FakeHkube):
    result = hkubectl("algorithm", "version", "apply", "my-alg")

    assert result.exit_code == 2
    assert fake_hkube.requests == []


def test_version_of_an_unknown_algorithm_shows_the_server_error(hkubectl: Run, fake_hkube: FakeHkube):
    fake_hkube.on(
        "GET",
        "versions/algorithms/nope",
        404,
        {"error": {"code": 404, "message": "algorithm nope Not Found"}},
    )

    result = hkubectl("algorithm", "version", "nope")

    assert result.exit_code == 1
    assert "algorithm nope Not Found" in result.stderr


PIPELINE_YAML = "name: simple\nnodes:\n  - nodeName: one\n    algorithmName: green-alg\n    input: [1]\n"


def test_store_with_readme_uploads_it_after_storing(hkubectl: Run, fake_hkube: FakeHkube, tmp_path: Path):
    fake_hkube.on("POST", "store/pipelines", 201, {"name": "simple"})
    fake_hkube.on("POST", "readme/pipelines/simple", 201, {"message": "OK"})
    (tmp_path / "p.yaml").write_text(PIPELINE_YAML)
    (tmp_path / "README.md").write_text("# simple\nadds one\n")

    result = hkubectl(
        "pipeline", "store", "--f", str(tmp_path / "p.yaml"), "--readmeFile", str(tmp_path / "README.md")
    )

    assert result.exit_code == 0, result.output
    store, readme = fake_hkube.requests
    assert (store.method, store.path) == ("POST", PREFIX + "store/pipelines")
    assert (readme.method, readme.path) == ("POST", PREFIX + "readme/pipelines/simple")
    assert readme.multipart() == {"README.md": ("README.md", b"# simple\nadds one\n")}


def test_update_with_readme_replaces_it(hkubectl: Run, fake_hkube: FakeHkube, tmp_path: Path):
    fake_hkube.on("PUT", "store/pipelines", 200, {"name": "simple"})
    fake_hkube.on("POST", "readme/pipelines/simple", 201, {"message": "OK"})
    (tmp_path / "p.yaml").write_text(PIPELINE_YAML)
    (tmp_path / "R.md").write_text("new")

    result = hkubectl(
        "pipeline", "update", "--f", str(tmp_path / "p.yaml"), "--readmeFile", str(tmp_path / "R.md")
    )

    assert result.exit_code == 0, result.output
    assert fake_hkube.calls("POST", "readme/pipelines/simple")[0].multipart()["README.md"][1] == b"new"


def test_a_missing_readme_stores_nothing(hkubectl: Run, fake_hkube: FakeHkube, tmp_path: Path):
    (tmp_path / "p.yaml").write_text(PIPELINE_YAML)

    result = hkubectl("pipeline", "store", "--f", str(tmp_path / "p.yaml"), "--readmeFile", "nope.md")

    assert result.exit_code == 2
    assert "nope.md: file not found" in result.stderr
    assert fake_hkube.requests == []


def test_a_refused_store_sends_no_readme(hkubectl: Run, fake_hkube: FakeHkube, tmp_path: Path):
    fake_hkube.on(
        "POST", "store/pipelines", 409, {"error": {"code": 409, "message": "pipeline simple already exists"}}
    )
    (tmp_path / "p.yaml").write_text(PIPELINE_YAML)
    (tmp_path / "R.md").write_text("x")

    result = hkubectl(
        "pipeline", "store", "--f", str(tmp_path / "p.yaml"), "--readmeFile", str(tmp_path / "R.md")
    )

    assert result.exit_code == 1
    assert fake_hkube.calls("POST", "readme/pipelines/simple") == []


STORED_ALGORITHM = {
    "name": "green-alg",
    "algorithmImage": "docker.io/me/green:1",
    "cpu": 0.5,
    "mem": "256Mi",
    "version": "x1",
    "created": 1,
    "modified": 2,
    "auditTrail": [{"user": "u", "timestamp": 1, "version": "x1"}],
    "unscheduledReason": "no room",
}
STORED_PIPELINE = {
    "name": "simple:one",
    "nodes": [{"nodeName": "one", "algorithmName": "green-alg", "input": [1]}],
    "version": "p1",
    "created": 1,
    "modified": 2,
    "auditTrail": [],
}


def test_export_all_writes_one_file_per_descriptor_without_server_fields(
    hkubectl: Run, fake_hkube: FakeHkube, tmp_path: Path
):
    fake_hkube.on("GET", "store/algorithms", 200, [STORED_ALGORITHM])
    fake_hkube.on("GET", "store/pipelines", 200, [STORED_PIPELINE])

    result = hkubectl("export", "all", str(tmp_path / "out"))

    assert result.exit_code == 0, result.output
    algorithm = json.loads((tmp_path / "out/algorithms/green-alg.json").read_text())
    pipeline = json.loads((tmp_path / "out/pipelines/simple:one.json").read_text())
    assert algorithm == {
        "name": "green-alg",
        "algorithmImage": "docker.io/me/green:1",
        "cpu": 0.5,
        "mem": "256Mi",
    }
    assert pipeline == {"name": "simple:one", "nodes": STORED_PIPELINE["nodes"]}


def test_export_one_kind_as_yaml_with_the_output_option(hkubectl: Run, fake_hkube: FakeHkube, tmp_path: Path):
    fake_hkube.on("GET", "store/pipelines", 200, [STORED_PIPELINE])

    result = hkubectl("--json", "export", "pipelines", "--output", str(tmp_path / "o"), "--format", "yaml")

    assert result.exit_code == 0, result.output
    assert [c.path for c in fake_hkube.requests] == [PREFIX + "store/pipelines"]
    assert yaml.safe_load((tmp_path / "o/pipelines/simple:one.yaml").read_text())["name"] == "simple:one"
    assert json.loads(result.stdout)[0]["name"] == "simple:one"
    assert not (tmp_path / "o/algorithms").exists()


def _echo_or_refuse(request: Recorded) -> tuple[int, object]:
    answers: list[object] = []
    for item in request.json():
        if item["name"] == "taken":
            answers.append({"error": {"code": 409, "message": "algorithm taken already exists"}})
        else:
            answers.append({**item, "version": "new"})
    return 201, answers


def test_import_sends_arrays_and_reports_each_file(hkubectl: Run, fake_hkube: FakeHkube, tmp_path: Path):
    fake_hkube.on_call("POST", "store/algorithms", _echo_or_refuse)
    fake_hkube.on_call("POST", "store/pipelines", _echo_or_refuse)
    (tmp_path / "in/algorithms").mkdir(parents=True)
    (tmp_path / "in/pipelines").mkdir()
    (tmp_path / "in/algorithms/a.json").write_text(json.dumps({**STORED_ALGORITHM, "name": "alg-a"}))
    (tmp_path / "in/algorithms/b.yaml").write_text("name: taken\nalgorithmImage: me/t:1\n")
    (tmp_path / "in/algorithms/notes.txt").write_text("ignored")
    (tmp_path / "in/pipelines/p.json").write_text(json.dumps(STORED_PIPELINE))

    result = hkubectl("--json", "import", "all", str(tmp_path / "in"), "--replace", "registry.local:5000")

    assert result.exit_code == 1  # one file failed
    report = json.loads(result.stdout)
    assert [(Path(r["file"]).name, r["name"], r["result"]) for r in report] == [
        ("a.json", "alg-a", "stored"),
        ("b.yaml", "taken", "error"),
        ("p.json", "simple:one", "stored"),
    ]
    assert report[1]["message"] == "algorithm taken already exists"
    algorithms = fake_hkube.calls("POST", "store/algorithms")[0]
    assert algorithms.query == {}
    assert [a["algorithmImage"] for a in algorithms.json()] == [
        "registry.local:5000/me/green:1",
        "registry.local:5000/me/t:1",
    ]
    assert "version" not in algorithms.json()[0] and "auditTrail" not in algorithms.json()[0]
    # Algorithms before pipelines: pipelines name them.
    assert [r.path for r in fake_hkube.requests] == [PREFIX + "store/algorithms", PREFIX + "store/pipelines"]


def test_import_overwrite_and_a_bad_file(hkubectl: Run, fake_hkube: FakeHkube, tmp_path: Path):
    fake_hkube.on_call("POST", "store/pipelines", _echo_or_refuse)
    (tmp_path / "good.yaml").write_text(PIPELINE_YAML)
    (tmp_path / "bad.json").write_text("{not json")

    result = hkubectl("import", "pipelines", str(tmp_path), "--overwrite")

    assert result.exit_code == 1
    [call] = fake_hkube.requests
    assert call.query == {"overwrite": ["true"]}
    assert [p["name"] for p in call.json()] == ["simple"]
    lines = result.stdout.strip().splitlines()
    assert lines[0].split() == ["FILE", "NAME", "RESULT", "MESSAGE"]
    assert "bad.json" in lines[1] and "error" in lines[1]
    assert "good.yaml" in lines[2] and "stored" in lines[2]


def test_import_of_a_missing_folder_is_a_usage_error(hkubectl: Run, fake_hkube: FakeHkube, tmp_path: Path):
    result = hkubectl("import", "all", str(tmp_path / "nope"))

    assert result.exit_code == 2
    assert "is not a folder" in result.stderr
    assert fake_hkube.requests == []


def test_replace_registry():
    assert replace_registry("docker.io/me/img:1", "r.io") == "r.io/me/img:1"
    assert replace_registry("me/img:1", "r.io/") == "r.io/me/img:1"
    assert replace_registry("img", "localhost:5000") == "localhost:5000/img"
    assert replace_registry("localhost/img", "r.io") == "r.io/img"
