"""A dev-mode worker runs the synced code in its version's environment: a Node.js folder
synced without `node_modules` still finds the modules its build installed."""

from __future__ import annotations

import io
import shutil
import tarfile
from pathlib import Path
from typing import Any

import pytest

from algorithms import dev_sources
from algorithms.models import Algorithm, AlgorithmVersion
from algorithms.runtime.runner import Runner
from hkube_site.object_store import get_storage


def archive(tmp_path: Path, files: dict[str, str]) -> Path:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    path = tmp_path / "synced.tar.gz"
    path.write_bytes(buffer.getvalue())
    return path


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node")
@pytest.mark.django_db
def test_synced_nodejs_code_uses_the_built_modules(tmp_path: Path, settings: Any) -> None:
    settings.HKUBE_DEV_SOURCES_DIR = tmp_path / "dev-sources"
    built = tmp_path / "built"
    (built / "node_modules" / "greet").mkdir(parents=True)
    (built / "node_modules" / "greet" / "index.js").write_text("exports.hello = (w) => `hello ${w}`;\n")
    (built / "index.js").write_text("exports.start = () => 'built';\n")
    descriptor = {"name": "dev-node", "env": "nodejs", "options": {"devMode": True}}
    Algorithm.objects.create(name="dev-node", descriptor=descriptor, version="v1")
    AlgorithmVersion.objects.create(
        algorithm_name="dev-node",
        version="v1",
        semver="1.0.0",
        descriptor=descriptor,
        code_path=str(built),
        env_path=str(tmp_path / "env"),
    )
    runner = Runner(get_storage(), "dev-node-w1")
    try:
        assert runner.session_for("dev-node", "v1").run_task({"input": []}, timeout=30).result == "built"
        synced = "const greet = require('greet');\nexports.start = () => greet.hello('synced');\n"
        dev_sources.store("dev-node", archive(tmp_path, {"index.js": synced}))
        outcome = runner.session_for("dev-node", "v1").run_task({"input": []}, timeout=30)
        assert outcome.status == "done", outcome.error
        assert outcome.result == "hello synced"
    finally:
        runner.close()
