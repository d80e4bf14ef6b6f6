"""Names and labels every object this package creates carries.

Labels are how the supervisor finds what a release owns (`hkube.io/release`), what kind of
thing it is (`hkube.io/component`: `worker` or `build`) and whose it is (`hkube.io/algorithm`,
`hkube.io/worker-id`, `hkube.io/build-id`). Plain Python.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

RELEASE = "hkube.io/release"
COMPONENT = "hkube.io/component"
ALGORITHM = "hkube.io/algorithm"
WORKER_ID = "hkube.io/worker-id"
BUILD_ID = "hkube.io/build-id"
VERSION_ANNOTATION = "hkube.io/algorithm-version"
MANAGED_BY = "app.kubernetes.io/managed-by"
WORKER = "worker"
BUILD = "build"

# A Job's pods are named `<job>-<5 random>`: keep Job names short enough for that to be a
# valid 63-character label value (`job-name` / `batch.kubernetes.io/job-name`).
MAX_JOB_NAME = 52
_NOT_DNS = re.compile(r"[^a-z0-9-]+")
_NOT_LABEL = re.compile(r"[^A-Za-z0-9_.-]+")


def job_name(text: str) -> str:
    """`text` as a DNS-1123 label of at most 52 characters (`My_Alg-1` -> `my-alg-1`)."""
    name = _NOT_DNS.sub("-", text.lower())[:MAX_JOB_NAME].strip("-")
    if not name:
        raise ValueError(f"{text!r} has no character usable in a Kubernetes name")
    return name


def label_value(text: str) -> str:
    """`text` as a label value: 63 characters at most, alphanumeric at both ends."""
    return _NOT_LABEL.sub("-", text)[:63].strip("-_.")


def selector(labels: Mapping[str, str]) -> str:
    """A label selector matching all of `labels` (`a=b,c=d`)."""
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))


def merged(reserved: Mapping[str, str], user: Mapping[str, object] | None) -> dict[str, str]:
    """A descriptor's `labels`/`annotations` plus ours; ours win (as HKube's reserved keys do)."""
    result = {str(k): str(v) for k, v in (user or {}).items()}
    result.update(reserved)
    return dict(sorted(result.items()))
