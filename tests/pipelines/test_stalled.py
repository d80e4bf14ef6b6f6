"""A pending job whose start message was lost is started again by the periodic task."""

from __future__ import annotations

import pytest

from pipelines import messages, services
from pipelines.models import Job, JobStatus, now_ms


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    calls: list[tuple[str, int]] = []
    monkeypatch.setattr(messages, "send_start_job", lambda job_id, priority: calls.append((job_id, priority)))
    return calls


def job(job_id: str, age_s: float, **fields: object) -> None:
    start = now_ms() - int(age_s * 1000)
    Job.objects.create(
        job_id=job_id, pipeline_name="p", pipeline={}, user_pipeline={}, start_time=start, **fields
    )


@pytest.mark.django_db
def test_only_old_pending_jobs_that_are_not_held_get_their_start_again(sent: list[tuple[str, int]]) -> None:
    job("lost", 31, priority=2)
    job("fresh", 5)
    job("held", 60, max_exceeded=True)
    job("running", 60, status=JobStatus.ACTIVE)

    assert services.restart_stalled_jobs() == ["lost"]
    assert sent == [("lost", 2)]
