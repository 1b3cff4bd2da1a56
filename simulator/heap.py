"""Garbage-collector settings for a long simulation run.

A city holds millions of long-lived objects (nodes, tables, link lists). CPython's cyclic
collector would walk all of them again and again as the run allocates frames and events, a
cost that grows with the city, so a run's per-bulb cost would grow with its size. Inside
`long_lived_heap()` what exists at the start is frozen out of the collector's sight, and the
youngest generation is collected less often; both are restored on leaving.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

_GEN0_THRESHOLD = 50_000


@contextmanager
def long_lived_heap() -> Iterator[None]:
    if not hasattr(gc, "freeze"):  # PyPy (interpreter.py): a generational GC of its own
        yield
        return
    thresholds = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(_GEN0_THRESHOLD, thresholds[1], thresholds[2])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
