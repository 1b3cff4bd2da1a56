"""How a city is split for a run on several processes (parallel.py).

Rules kept here:
1. A city is cut into strips across its longer side, each with the same number of bulbs, so
   that the border between two strips is as short as the city is narrow and each process has
   the same share of the work.
2. A Part knows which bulbs it runs (`local`); indices stay those of the whole city.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Part:
    index: int  # 0 .. parts - 1
    parts: int
    local: list[bool]  # per bulb of the city: run by this part


def split_city(positions_m: np.ndarray, parts: int) -> list[Part]:
    """Rule 1."""
    count = len(positions_m)
    if parts < 1:
        raise ValueError(f"parts must be >= 1, got {parts}")
    if count == 0:
        return [Part(k, parts, []) for k in range(parts)]
    extent = positions_m.max(axis=0) - positions_m.min(axis=0)
    axis = 0 if extent[0] >= extent[1] else 1
    order = np.argsort(positions_m[:, axis], kind="stable")
    strip = np.empty(count, dtype=np.int64)
    strip[order] = np.arange(count) * parts // count
    owner = strip.tolist()
    return [Part(k, parts, [o == k for o in owner]) for k in range(parts)]
