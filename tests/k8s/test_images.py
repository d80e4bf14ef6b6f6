"""The Dockerfiles cannot be built here (no Docker engine): check what can be checked without
one, so a moved folder or a root final stage is caught."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "k8s" / "images"
DOCKERFILES = sorted(IMAGES.glob("*.Dockerfile"))


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined, current = [], ""
    for line in path.read_text().splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        current += line.rstrip("\\").strip() + " "
        if not line.rstrip().endswith("\\"):
            joined.append(current.strip())
            current = ""
    return [(text.split(" ", 1)[0].upper(), text.split(" ", 1)[1] if " " in text else "") for text in joined]


def test_there_are_the_platform_and_three_algorithm_base_images() -> None:
    names = {path.name for path in DOCKERFILES}
    assert names == {"platform.Dockerfile", "algorithm-python.Dockerfile", "algorithm-nodejs.Dockerfile",
                     "algorithm-java.Dockerfile"}  # fmt: skip


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_every_copied_path_exists_in_the_repository(dockerfile: Path) -> None:
    for instruction, arguments in instructions(dockerfile):
        if instruction == "COPY" and not arguments.startswith("--from"):
            *sources, _destination = arguments.split()
            for source in sources:
                assert (ROOT / source).exists(), f"{dockerfile.name}: COPY {source} does not exist"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_the_final_stage_runs_as_a_non_root_user(dockerfile: Path) -> None:
    steps = instructions(dockerfile)
    last_from = max(i for i, (instruction, _) in enumerate(steps) if instruction == "FROM")
    users = [arguments for instruction, arguments in steps[last_from:] if instruction == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")


def test_the_platform_image_installs_runtime_requirements_only() -> None:
    text = (IMAGES / "platform.Dockerfile").read_text()
    assert "sed '/^# Dev and test/,$d' requirements.txt" in text
    assert "# Dev and test" in (ROOT / "requirements.txt").read_text()
