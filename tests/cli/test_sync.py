"""`hkubectl sync` against a fake api-server: the calls HKube's CLI makes for `start` and
`stop`, the multipart upload of `create` and `watch`, and the hints it prints."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable
from pathlib import Path

from typer.testing import Result

from tests.cli.conftest import FakeHkube

Run = Callable[..., Result]


def test_start_and_stop_update_the_algorithm_as_hkubes_cli_does(hkubectl: Run, fake_hkube: FakeHkube) -> None:
    fake_hkube.on("POST", "store/algorithms", 201, {"name": "a1"})
    assert hkubectl("sync", "start", "-a", "a1", "-f", "/src").exit_code == 0
    assert hkubectl("sync", "stop", "--algorithmName", "a1").exit_code == 0
    calls = fake_hkube.calls("POST", "store/algorithms")
    assert [c.query for c in calls] == [{"overwrite": ["true"]}] * 2
    assert [c.json() for c in calls] == [
        {"name": "a1", "options": {"devMode": True, "devFolder": "/src"}},
        {"name": "a1", "options": {"devMode": False}},
    ]


def test_create_applies_in_dev_mode_and_says_when_it_is_not_current(
    hkubectl: Run, fake_hkube: FakeHkube, tmp_path: Path
) -> None:
    (tmp_path / "main.py").write_text("x = 1\n")
    fake_hkube.on("POST", "store/algorithms/apply", 200, {"messages": ["a new version of algorithm a1"]})
    fake_hkube.on("GET", "store/algorithms/a1", 200, {"name": "a1", "options": {"devMode": False}})
    result = hkubectl("sync", "create", "-a", "a1", "-f", str(tmp_path), "--env", "python")
    assert result.exit_code == 0, result.output
    assert "run `hkubectl sync start -a a1`" in result.output
    [apply] = fake_hkube.calls("POST", "store/algorithms/apply")
    fields = apply.multipart()
    assert fields["file"][0] == "a1.tar.gz" and fields["file"][1][:2] == b"\x1f\x8b"
    assert b'"devMode": true' in fields["payload"][1] and b'"env": "python"' in fields["payload"][1]


def test_watch_once_uploads_the_folder_and_warns_off_dev_mode(
    hkubectl: Run, fake_hkube: FakeHkube, tmp_path: Path
) -> None:
    (tmp_path / "main.py").write_text("x = 1\n")
    (tmp_path / ".hkubeignore").write_text("secret.txt\n")
    (tmp_path / "secret.txt").write_text("no")
    fake_hkube.on("GET", "store/algorithms/a1", 200, {"name": "a1", "options": {}})
    fake_hkube.on("POST", "sync/a1", 200, {"name": "a1", "revision": "r1", "files": 2, "size": 20})
    result = hkubectl("sync", "watch", "-a", "a1", "-f", str(tmp_path), "--once", "--bidi")
    assert result.exit_code == 0, result.output
    assert "not in dev mode" in result.output and "--bidirectional is not supported" in result.output
    assert "revision r1" in result.output
    [upload] = fake_hkube.calls("POST", "sync/a1")
    filename, content = upload.multipart()["file"]
    with tarfile.open(fileobj=io.BytesIO(content), mode="r:gz") as tar:
        assert (filename, sorted(tar.getnames())) == ("a1.tar.gz", [".hkubeignore", "main.py"])


def test_watch_of_a_missing_folder_is_a_usage_error(hkubectl: Run, tmp_path: Path) -> None:
    result = hkubectl("sync", "watch", "-a", "a1", "-f", str(tmp_path / "nope"), "--once")
    assert result.exit_code == 2 and "not a folder" in result.output
