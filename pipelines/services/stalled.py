"""Jobs whose start message was lost: `pending`, not held, past a grace period.

A `start_job` message can vanish with the engine worker that was taking it off the queue
when it was killed (kombu's Redis transport pops the message before it notes it as
unacknowledged). The periodic `expire_and_release` sends such a job's start again;
`start_job` only starts a job that is still pending, so a start that was merely slow
(a long engine queue) is not run twice.
"""

from __future__ import annotations

import logging

from pipelines import messages
from pipelines.models import Job, JobStatus, now_ms

log = logging.getLogger(__name__)

STALLED_AFTER_MS = 30_000


def restart_stalled_jobs(older_than_ms: int = STALLED_AFTER_MS) -> list[str]:
    """Send `start_job` again for the pending, not held jobs submitted over `older_than_ms` ago."""
    stalled = list(
        Job.objects.filter(
            status=JobStatus.PENDING, max_exceeded=False, start_time__lt=now_ms() - older_than_ms
        ).values_list("job_id", "priority")
    )
    for job_id, priority in stalled:
        log.warning("job %s is still pending %d s after its submission: sending its start again", job_id,
                    older_than_ms // 1000)  # fmt: skip
        messages.send_start_job(job_id, priority)
    return [job_id for job_id, _ in stalled]
