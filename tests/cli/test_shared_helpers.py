"""The helpers the store and wait commands share, tested directly."""

from __future__ import annotations

from typing import Any

import pytest

from hkubectl import waiting
from hkubectl.client import HkubeError
from hkubectl.store import names_of


class Answers:
    """A client whose every GET returns the next of the given answers (the last one repeats)."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.paths: list[str] = []

    def get(self, path: str) -> Any:
        self.paths.append(path)
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def test_names_of_keeps_the_names_of_objects_only() -> None:
    assert names_of([{"name": "a"}, "junk", {"name": "b", "x": 1}, {"other": 1}]) == ["a", "b", None]
    assert names_of(None) == []


def test_a_job_is_polled_until_its_status_is_final() -> None:
    client = Answers({"status": "active", "data": {"progress": 50}}, {"status": "completed", "data": {}})
    status = waiting.wait_for_job(client, "job one", interval=0)  # type: ignore[arg-type]
    assert status["status"] == "completed"
    assert client.paths == ["exec/status/job%20one"] * 2


def test_the_job_progress_line_shows_the_details() -> None:
    assert waiting._describe_job({"status": "active", "data": {"details": "2 of 4", "progress": 50}}) == (
        "active: 2 of 4",
        50,
    )
    assert waiting._describe_job({"status": "pending", "data": None}) == ("pending", None)


def test_waiting_for_a_build_past_the_limit_says_how_to_follow_it() -> None:
    client = Answers({"status": "running", "progress": 10})
    with pytest.raises(waiting.WaitTimeout, match="build b1 is still running after 0 minutes; follow it in"):
        waiting.wait_for_build(client, "b1", interval=0, limit=0)  # type: ignore[arg-type]


def test_a_non_object_answer_is_an_error_naming_the_job() -> None:
    with pytest.raises(HkubeError, match="unexpected status answer for job j1: 'oops'"):
        waiting.wait_for_job(Answers("oops"), "j1", interval=0)  # type: ignore[arg-type]
