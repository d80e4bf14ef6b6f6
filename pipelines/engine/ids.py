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
