"""One active supervisor: a Redis lock with a token, renewed while its holder runs.

`acquire` takes the key if free (SET NX PX); `renew` extends it only while the key still
holds our token (another instance may have taken it after our lease ran out, e.g. a long
pause); `release` deletes it only if it is ours. Renewal is throttled to a third of the
lease, so calling `renew` every pass costs a round trip only every few seconds.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import redis

_OURS = "if redis.call('get', KEYS[1]) == ARGV[1] then return "
_RENEW = _OURS + "redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
_RELEASE = _OURS + "redis.call('del', KEYS[1]) end return 0"


class RedisLock:
    def __init__(self, client: redis.Redis, key: str, lease_seconds: float = 30.0) -> None:
        self.client, self.key = client, key
        self.lease_ms = int(lease_seconds * 1000)
        self.token = uuid.uuid4().hex
        self._renewed = 0.0

    def acquire(self) -> bool:
        if self.client.set(self.key, self.token, nx=True, px=self.lease_ms):
            self._renewed = time.monotonic()
            return True
        return False

    def renew(self) -> bool:
        if time.monotonic() - self._renewed < self.lease_ms / 3000:
            return True
        held: Any = self.client.eval(_RENEW, 1, self.key, self.token, self.lease_ms)
        if held:
            self._renewed = time.monotonic()
        return bool(held)

    def release(self) -> None:
        self.client.eval(_RELEASE, 1, self.key, self.token)
