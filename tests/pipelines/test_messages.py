"""The services send engine messages by task name; the names are those the tasks register."""

from __future__ import annotations

from hkube_site.celery import app
from pipelines import messages, tasks


def test_every_message_name_is_a_registered_engine_task() -> None:
    names = [
        messages.START_JOB,
        messages.NODE_FINISHED,
        messages.NODE_FAILED_UNEXPECTEDLY,
        messages.JOB_STATUS_EVENT,
        messages.JOB_FINISHED_EVENT,
        messages.EXPIRE_AND_RELEASE,
    ]
    assert tasks.start_job.name == messages.START_JOB
    assert all(name in app.tasks for name in names)


def test_chord_callbacks_are_immutable_and_carry_only_ids() -> None:
    callback = messages.node_finished("job-1", "a")
    errback = messages.node_failed_unexpectedly("job-1", "a")
    assert (callback.task, tuple(callback.args), callback.immutable) == (
        messages.NODE_FINISHED,
        ("job-1", "a"),
        True,
    )
    assert (errback.task, tuple(errback.args), errback.immutable) == (
        messages.NODE_FAILED_UNEXPECTEDLY,
        ("job-1", "a"),
        True,
    )
