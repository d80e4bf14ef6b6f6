"""Identifiers in HKube's formats: opaque random strings of [0-9a-z]."""

from __future__ import annotations

import hashlib
import secrets

ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def uid(length: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def job_id() -> str:
    return uid(12)


def version_id() -> str:
    return uid(10)


def next_semver(last: str | None) -> str:
    """HKube's version numbers: 1.0.0, then patch++ up to 500, then minor, then major."""
    if not last:
        return "1.0.0"
    major, minor, patch = (int(p) for p in last.split("."))
    patch += 1
    if patch > 500:
        patch, minor = 0, minor + 1
    if minor > 500:
        minor, major = 0, major + 1
    return f"{major}.{minor}.{patch}"


def task_id(job_id: str, node_name: str, batch_index: int) -> str:
    """The 8-character taskId of one task, derived from its place in the job.

    Deriving it (instead of drawing it) lets every part of the system name a task's
    storage path without a lookup: a child's reference to item k of a 10,000-item batch
    is computed, not read, and a redelivered message writes to the same place.
    """
    digest = hashlib.blake2b(f"{job_id}/{node_name}/{batch_index}".encode(), digest_size=8).digest()
    number = int.from_bytes(digest, "big")
    chars = []
    for _ in range(8):
        number, rem = divmod(number, 36)
        chars.append(ALPHABET[rem])
    return "".join(chars)
