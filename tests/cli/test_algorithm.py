from __future__ import annotations

import io
import json
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from typer.testing import Result

from tests.cli.conftest import PREFIX, FakeHkube

APPLIED = {
    "messages": ["a new version of algorithm my-alg has been created"],
    "messagesCode": [1024],
    "algorithm": {"name": "my-alg", "version": "p1x9q0a7lm"},
}

Run = Callable[..., Result]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_apply_sends_translated_payload_and_empty_file_field(
    hkubectl: Run, fake_hkube: FakeHkube, tmp_path: Path
):
    fake_hkube.on("POST", "store/algorithms/apply", 200, APPLIED)
    descriptor = write(
        tmp_path / "alg.yaml",
        "name: my-alg\nimage: docker.io/me/my-alg:v1\nresources: {cpu: 0.5, gpu: 1, mem: 512Mi}\n"
        "minHotWorkers: 2\nalgorithmEnv: {KEY: VALUE}\n",
    )

    result = hkubectl("--json", "algorithm", "apply", "--f", str(descriptor))

    assert result.exit_code == 0, result.output
    [call] = fake_hkube.requests
    assert (call.method, call.path) == ("POST", PREFIX + "store/algorithms/apply")
    fields = call.multipart()
    assert set(fields) == {"payload", "file"}
    assert fields["file"] == (None, b"")
    payload = json.loads(fields["payload"][1])
    assert {k: v for k, v in payload.items() if k != "userInfo"} == {
        "name": "my-alg",
        "algorithmImage": "docker.io/me/my-alg:v1",
        "cpu": 0.5,
        "gpu": 1,
        "mem": "512Mi",
        "minHotWorkers": 2,
        "algorithmEnv": {"KEY": "VALUE"},
    }
    assert set(payload["userInfo"]) == {"platform", "hostname", "username"}
    assert json.loads(result.stdout) == APPLIED


def test_apply_prints_the_server_messages(hkubectl: Run, fake_hkube: FakeHkube):
    fake_hkube.on("POST", "store/algorithms/apply", 200, APPLIED)

    result = hkubectl("algorithm", "apply", "my-alg", "--image", "me/img:1", "--mem", "1Gi", "--cpu", "2")

    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "a new version of algorithm my-alg has been created"
    payload = json.loads(fake_hkube.requests[0].multipart()["payload"][1])
    assert (payload["name"], payload["algorithmImage"], payload["mem"], payload["cpu"]) == (
        "my-alg",
        "me/img:1",
        "1Gi",
        2,
    )


def test_apply_packs_the_code_folder_relative_to_the_file(
    hkubectl: Run, fake_hkube: FakeHkube, tmp_path: Path
):
    fake_hkube.on("POST", "store/algorithms/apply", 200, APPLIED)
    project = tmp_path / "project"
    write(project / "src" / "main.py", "def start(args, api):\n    return 42\n")
    write(project / "src" / "lib" / "util.py", "X = 1\n")
    write(project / "src" / "node_modules" / "big.js", "junk")
    write(project / "src" / "debug.log", "junk")
    write(project / "src" / ".hkubeignore", "# build output\nnode_modules/\n*.log\n")
    descriptor = write(
        project / "alg.yaml",
        "name: my-alg\nenv: python\nresources: {cpu: 0.1, mem: 256Mi}\n"
        "code: {path: ./src, entryPoint: main.py}\n",
    )

    result = hkubectl("--json", "algorithm", "apply", "--f", str(descriptor), "--cpu", "2")

    assert result.exit_code == 0, result.output
    fields = fake_hkube.requests[0].multipart()
    payload = json.loads(fields["payload"][1])
    assert payload["entryPoint"] == "main.py"
    assert payload["env"] == "python"
    assert payload["cpu"] == 2
    assert "code" not in payload and "resources" not in payload
    filename, archive = fields["file"]
    assert filename == "my-alg.tar.gz"
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        assert sorted(tar.getnames()) == [".hkubeignore", "lib/util.py", "main.py"]
        member = tar.extractfile("main.py")
        assert member is not None and b"return 42" in member.read()


def test_apply_sends_a_zip_as_it_is(hkubectl: Run, fake_hkube: FakeHkube, tmp_path: Path):
    fake_hkube.on("POST", "store/algorithms/apply", 200, APPLIED)
    code = tmp_path / "code.zip"
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("main.py", "print(1)\n")

    result = hkubectl(
        "algorithm", "apply", "my-alg", "--env", "python", "--codePath", str(code), "--entryPoint", "main"
    )

    assert result.exit_code == 0, result.output
    fields = fake_hkube.requests[0].multipart()
    assert fields["file"] == ("code.zip", code.read_bytes())
    assert json.loads(fields["payload"][1])["entryPoint"] == "main"


def test_apply_waits_for_the_build_and_sets_the_version_current(hkubectl: Run, fake_hkube: FakeHkube):
    fake_hkube.on("POST", "store/algorithms/apply", 200, {**APPLIED, "buildId": "my-alg-k218c3"})
    fake_hkube.sequence(
        "GET",
        "builds/status/my-alg-k218c3",
        [
            (200, {"buildId": "my-alg-k218c3", "status": "active", "progress": 40}),
            (
                200,
                {
                    "buildId": "my-alg-k218c3",
                    "status": "completed",
                    "progress": 100,
                    "algorithmImage": "reg/my-alg:v1",
                },
            ),
        ],
    )
    fake_hkube.on(
        "GET",
        "versions/algorithms/my-alg",
        200,
        [
            {"version": "old0000000", "buildId": None},
            {"version": "new1111111", "semver": "1.0.1", "buildId": "my-alg-k218c3"},
        ],
    )
    fake_hkube.on("POST", "versions/algorithms/apply", 201, {"name": "my-alg"})

    result = hkubectl("--json", "algorithm", "apply", "my-alg", "--env", "python", "--setCurrent")

    assert result.exit_code == 0, result.output
    assert len(fake_hkube.calls("GET", "builds/status/my-alg-k218c3")) == 2
    [set_current] = fake_hkube.calls("POST", "versions/algorithms/apply")
    assert set_current.json() == {"name": "my-alg", "version": "new1111111", "force": True}
    report = json.loads(result.stdout)
    assert report["build"]["status"] == "completed"
    assert report["currentVersion"] == "new1111111"


def test_apply_after_a_build_hints_when_the_new_version_is_not_current(hkubectl: Run, fake_hkube: FakeHkube):
    fake_hkube.on("POST", "store/algorithms/apply", 200, {**APPLIED, "buildId": "my-alg-b2"})
    fake_hkube.on("GET", "builds/status/my-alg-b2", 200, {"status": "completed", "progress": 100})
    fake_hkube.on(
        "GET",
        "versions/algorithms/my-alg",
        200,
        [{"version": "v2", "semver": "1.0.1", "buildId": "my-alg-b2"}],
    )
    fake_hkube.on("GET", "store/algorithms/my-alg", 200, {"name": "my-alg", "version": "v1"})

    result = hkubectl("algorithm", "apply", "my-alg", "--env", "python")

    assert result.exit_code == 0, result.output
    assert "build my-alg-b2 completed, version 1.0.1" in result.stdout
    assert "make it current with --setCurrent" in result.stdout
    assert fake_hkube.calls("POST", "versions/algorithms/apply") == []


def test_apply_set_current_without_build_uses_the_returned_version(hkubectl: Run, fake_hkube: FakeHkube):
    fake_hkube.on("POST", "store/algorithms/apply", 200, APPLIED)
    fake_hkube.on("POST", "versions/algorithms/apply", 201, {})

    result = hkubectl("algorithm", "apply", "my-alg", "--image", "me/img:2", "--setCurrent")

    assert result.exit_code == 0, result.output
    [set_current] = fake_hkube.calls("POST", "versions/algorithms/apply")
    assert set_current.json() == {"name": "my-alg", "version": "p1x9q0a7lm", "force": True}


def test_apply_reports_a_failed_build_with_its_log_tail(hkubectl: Run, fake_hkube: FakeHkube):
    fake_hkube.on("POST", "store/algorithms/apply", 200, {**APPLIED, "buildId": "my-alg-bad"})
    fake_hkube.on(
        "GET",
        "builds/status/my-alg-bad",
        200,
        {
            "status": "failed",
            "progress": 80,
            "error": "pip install failed",
            "result": {"data": "step 1\nERROR: No matching distribution for nope\n", "errors": ""},
        },
    )

    result = hkubectl("algorithm", "apply", "my-alg", "--env", "python")

    assert result.exit_code == 1
    assert "build my-alg-bad failed: pip install failed" in result.stderr
    assert "No matching distribution for nope" in result.stderr
    assert "Traceback" not in result.output


def test_apply_no_wait_does_not_poll_the_build(hkubectl: Run, fake_hkube: FakeHkube):
    fake_hkube.on("POST", "store/algorithms/apply", 200, {**APPLIED, "buildId": "my-alg-k218c3"})

    result = hkubectl("algorithm", "apply", "my-alg", "--env", "python", "--noWait")

    assert result.exit_code == 0, result.output
    assert fake_hkube.calls("GET") == []


def test_apply_without_a_name_is_a_usage_error(hkubectl: Run, fake_hkube: FakeHkube):
    result = hkubectl("algorithm", "apply", "--image", "me/img:1")

    assert result.exit_code == 2
    assert "algorithm name is required" in result.stderr
    assert fake_hkube.requests == []


def test_apply_with_a_missing_code_folder_names_it(hkubectl: Run, fake_hkube: FakeHkube, tmp_path: Path):
    descriptor = write(tmp_path / "alg.yaml", "name: my-alg\ncode: {path: ./nowhere}\n")

    result = hkubectl("algorithm", "apply", "--f", str(descriptor))

    assert result.exit_code == 2
    assert "nowhere" in result.stderr and "code path not found" in result.stderr
    assert fake_hkube.requests == []


def test_list_prints_names(hkubectl: Run, fake_hkube: FakeHkube):
    fake_hkube.on("GET", "store/algorithms", 200, [{"name": "green-alg"}, {"name": "black-alg"}])

    assert hkubectl("algorithm", "list").stdout.split() == ["green-alg", "black-alg"]
    assert json.loads(hkubectl("-j", "algorithm", "list").stdout) == ["green-alg", "black-alg"]


def test_get_and_delete_with_force(hkubectl: Run, fake_hkube: FakeHkube):
    fake_hkube.on("GET", "store/algorithms/green-alg", 200, {"name": "green-alg", "cpu": 1})
    fake_hkube.on(
        "DELETE", "store/algorithms/green-alg", 200, {"message": "algorithm green-alg successfully deleted"}
    )

    got = hkubectl("--json", "algorithm", "get", "green-alg")
    deleted = hkubectl("algorithm", "delete", "green-alg", "--force")

    assert json.loads(got.stdout) == {"name": "green-alg", "cpu": 1}
    assert deleted.exit_code == 0
    assert "successfully deleted" in deleted.stdout
    [call] = fake_hkube.calls("DELETE")
    assert call.query == {"force": ["true"]}
