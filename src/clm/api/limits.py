"""Request limits: body sizes (413) and per-key rates (429 with ``Retry-After``).

The rate limit is a token bucket per key (Turner 1986, "New directions in
communications"): ``rate`` tokens a second up to ``rate × burst_seconds``; a request
takes one token per message it carries. A request that finds too few tokens is
refused with the seconds until there would be enough.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass


class TooLarge(Exception):
    """The body is larger than allowed."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"the body is larger than {limit:,} bytes")


@dataclass
class Bucket:
    tokens: float
    stamp: float


class RateLimiter:
    """Token buckets by key id."""

    def __init__(self, burst_seconds: float) -> None:
        self.burst_seconds = burst_seconds
        self._buckets: dict[str, Bucket] = {}

    def take(self, key_id: str, rate: float, cost: float = 1.0) -> float:
        """Take ``cost`` tokens; return 0 if allowed, else the seconds to wait."""
        now = time.monotonic()
        capacity = max(rate * self.burst_seconds, cost)
        bucket = self._buckets.get(key_id)
        if bucket is None:
            bucket = self._buckets[key_id] = Bucket(capacity, now)
        bucket.tokens = min(capacity, bucket.tokens + (now - bucket.stamp) * rate)
        bucket.stamp = now
        if bucket.tokens >= cost:
            bucket.tokens -= cost
            return 0.0
        return (cost - bucket.tokens) / rate


def retry_after(seconds: float) -> str:
    """A ``Retry-After`` value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))
