"""A git push rebuilds the algorithms that name the pushed repository and branch (HKube's
`builds/webhook/github|gitlab`): each gets a build of the pushed commit, its algorithm as
stored with the new `gitRepository.commit` and no `algorithmImage`. The build makes the new
version when it completes (`builds.signals.build_completed`), as for uploaded code."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from algorithms.models import Algorithm
from builds import services as builds
from builds import webhooks
from hkube_site.errors import Missing


def rebuild(event: webhooks.PushEvent) -> list[dict[str, Any]]:
    """One build per matching algorithm: `[{algorithmName, buildId}]`; a 404 when none."""
    matching = [
        a
        for a in Algorithm.objects.order_by("name")
        if webhooks.matches(a.descriptor.get("gitRepository"), event)
    ]
    if not matching:
        raise Missing(webhooks.not_found_message(event))
    started = []
    with transaction.atomic():
        for algorithm in matching:
            stored = {
                k: v
                for k, v in algorithm.descriptor.items()
                if k not in ("version", "errors", "algorithmImage")
            }
            descriptor = {
                **stored,
                "type": "Git",
                "gitRepository": {**stored["gitRepository"], "gitKind": event.kind, "commit": event.commit},
            }
            build = builds.create_git_build(descriptor)
            started.append({"algorithmName": algorithm.name, "buildId": build.build_id})
    return started
