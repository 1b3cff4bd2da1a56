"""A worker's progress, sent to the process that started it over a pipe.

Rules kept here:
1. Progress is the fraction of the simulated time done, as one 8-byte double per report.
2. The parent's progress callback runs in the parent, on a thread that reads the pipe,
   whether the worker was forked or started on another interpreter: whatever the callback
   keeps (a progress bar's line, the moment a minute was done) stays the parent's.
3. The thread ends when the worker closes its end; join it before reading what it kept.
4. This module keeps to Python 3.9 (worker.py rule 4).
"""

from __future__ import annotations

import os
import struct
import threading
from collections.abc import Callable

FRACTION = struct.Struct("<d")


def reporter(fd: int) -> Callable[[float], None]:
    """The worker's end: a progress callback that writes to fd."""
    def report(fraction: float) -> None:
        os.write(fd, FRACTION.pack(fraction))
    return report


def follow(fd: int, progress: Callable[[float], None]) -> threading.Thread:
    """The parent's end: a thread that hands each fraction read from fd to progress."""
    def read() -> None:
        with os.fdopen(fd, "rb") as source:
            while True:
                chunk = source.read(FRACTION.size)
                if len(chunk) < FRACTION.size:
                    return
                progress(FRACTION.unpack(chunk)[0])
    thread = threading.Thread(target=read, name="meshbulb-progress", daemon=True)
    thread.start()
    return thread
