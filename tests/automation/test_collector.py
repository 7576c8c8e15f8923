"""The collector pause: off inside (nested and across threads), as it was after."""

from __future__ import annotations

import gc
import threading

from clm.automation import collector


def test_paused_switches_the_collector_off_and_back_on() -> None:
    assert gc.isenabled()
    with collector.paused():
        assert not gc.isenabled()
        with collector.paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer pause still holds
    assert gc.isenabled()


def test_a_collector_switched_off_before_stays_off() -> None:
    gc.disable()
    try:
        with collector.paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_overlapping_pauses_in_threads_end_with_the_collector_on() -> None:
    inside, release = threading.Barrier(2), threading.Event()

    def work() -> None:
        with collector.paused():
            inside.wait()
            release.wait(5)

    thread = threading.Thread(target=work)
    thread.start()
    with collector.paused():
        inside.wait()
    assert not gc.isenabled()  # the thread's pause outlives this one
    release.set()
    thread.join()
    assert gc.isenabled()
