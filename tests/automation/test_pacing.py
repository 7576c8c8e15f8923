"""The token bucket behind ``channels.<name>.max_per_second``."""

from __future__ import annotations

import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clm.automation.channels.pacing import TokenBucket


class FakeTime:
    """A clock that only moves when the bucket sleeps (or a test says so)."""

    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_a_full_speed_run_takes_one_token_interval_per_send_after_the_first() -> None:
    t = FakeTime()
    bucket = TokenBucket(10.0, clock=t.clock, sleep=t.sleep)
    for _ in range(51):
        bucket.take()
    assert t.now == pytest.approx(5.0)  # 50 intervals of 0.1 s (the first token is there)


@settings(max_examples=40, deadline=None)
@given(
    rate=st.floats(0.5, 200.0),
    burst=st.floats(1.0, 20.0),
    gaps=st.lists(st.floats(0.0, 2.0), min_size=1, max_size=60),
)
def test_no_window_holds_more_than_burst_plus_rate_times_its_length(
    rate: float, burst: float, gaps: list[float]
) -> None:
    t = FakeTime()
    bucket = TokenBucket(rate, burst, clock=t.clock, sleep=t.sleep)
    times = []
    for gap in gaps:
        t.now += gap  # the caller idles, tokens build up to the burst
        bucket.take()
        times.append(t.now)
    for i, start in enumerate(times):
        for j in range(i, len(times)):
            sends = j - i + 1
            assert sends <= burst + rate * (times[j] - start) + 1e-6


def test_threads_share_one_bucket() -> None:
    bucket = TokenBucket(200.0, 1.0)
    stamps: list[float] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(15):
            bucket.take()
            with lock:
                stamps.append(time.monotonic())

    threads = [threading.Thread(target=work) for _ in range(4)]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(stamps) == 60
    assert max(stamps) - start >= 59 / 200 * 0.99  # 60 sends at 200/s with no saved burst


def test_a_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive rate"):
        TokenBucket(0.0)
