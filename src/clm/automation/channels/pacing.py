"""A channel's send rate cap (``channels.<name>.max_per_second``): a token bucket.

Providers cap how fast an account may send (per second, often with a short burst
allowance). The bucket holds at most ``burst`` tokens and gains ``rate`` tokens per
second; a send takes one, waiting until there is one (the classic token bucket, e.g.
Tanenbaum, *Computer Networks*, §5.4.2). Over any interval of length ``t`` at most
``burst + rate * t`` sends pass. Thread-safe: the sending threads of a channel share
one bucket.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved (default: one second's worth,
    at least 1)."""

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("a token bucket needs a positive rate")
        self.rate = rate
        self.burst = max(1.0, rate if burst is None else burst)
        self._clock, self._sleep = clock, sleep
        self._tokens = 1.0  # start nearly empty: no burst at the start of a run
        self._at: float | None = None  # the clock starts at the first take
        self._lock = threading.Lock()

    def take(self) -> None:
        """Take one token, waiting for it if the bucket is empty.

        The token is reserved at once (the count may go below zero: a debt later sends
        wait behind), then the caller sleeps until it is due, outside the lock."""
        with self._lock:
            now = self._clock()
            since = 0.0 if self._at is None else now - self._at
            self._tokens = min(self.burst, self._tokens + since * self.rate)
            self._at = now
            self._tokens -= 1.0
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)
