"""The cyclic garbage collector paused around a bulk decision loop.

Advancing a slice's due steps makes millions of short-lived objects (decisions,
messages, render contexts, copies of facts) next to a large long-lived heap (the facts
of every customer due). Each young collection that promotes survivors pushes towards a
full collection, which walks the whole heap: at 10,000 profiles the decision loop took
2.5 times as long with the collector on as with it off (0.57 s against 0.23 s in
``steps.advance``, benchmark world, heavy tick), and the gap grows with the heap.
Nothing in the loop relies on the collector: its objects are freed by reference
counting (a priming run and a heavy tick of the 10,000-profile benchmark world leave no
cyclic garbage: ``gc.collect()`` right after each finds 0 objects), and whatever cycles
it might make (a traceback of a refused template) are collected after it, when the
collector runs again.

:func:`paused` is re-entrant and thread-safe: the collector is switched off by the first
caller and on again by the last one, and only if it was on before (the server advances
live events in threads; a caller that switched the collector off itself keeps it off).
See :func:`gc.disable` and the CPython developer guide, "Garbage collector design".
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_was_enabled = False


@contextmanager
def paused() -> Iterator[None]:
    """Run the ``with`` body with the cyclic garbage collector off (then as it was)."""
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()
