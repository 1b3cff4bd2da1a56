"""How a city is split for a run on several processes (parallel.py).

Rules kept here:
1. A city is cut into strips across its longer side, so that the border between two strips
   is as short as the city is narrow, each strip holding the same share of the work.
2. A bulb's work is what it takes in: one share for its own timers and traffic, plus one
   for each bulb within radio range, which it hears about half the time at that range and
   more often nearer (`bulb_work`). Where bulbs are dense each hears more, so a strip of a
   real city cut by bulb count alone was unbalanced: in Monaco one of two strips took in
   15 % more frames than the other, which waited for it (docs/simulator.md). Without
   weights, each strip has the same number of bulbs.
3. A Part knows which bulbs it runs (`local`); indices stay those of the whole city.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Part:
    index: int  # 0 .. parts - 1
    parts: int
    local: list[bool]  # per bulb of the city: run by this part


def bulb_work(positions_m: np.ndarray, range_m: float) -> np.ndarray:
    """Rule 2: each bulb's share of a run's work."""
    if len(positions_m) == 0:
        return np.zeros(0)
    from scipy.spatial import cKDTree  # only the parent splits; a worker may lack scipy

    # query_ball_point counts the bulb itself: its own share
    return cKDTree(positions_m).query_ball_point(positions_m, range_m,
                                                 return_length=True).astype(np.float64)


def split_city(positions_m: np.ndarray, parts: int,
               work: np.ndarray | None = None) -> list[Part]:
    """Rule 1, with each bulb's work from bulb_work (rule 2), or one each when None."""
    count = len(positions_m)
    if parts < 1:
        raise ValueError(f"parts must be >= 1, got {parts}")
    if work is not None and len(work) != count:
        raise ValueError(f"work has {len(work)} entries for {count} bulbs")
    if count == 0:
        return [Part(k, parts, []) for k in range(parts)]
    extent = positions_m.max(axis=0) - positions_m.min(axis=0)
    axis = 0 if extent[0] >= extent[1] else 1
    order = np.argsort(positions_m[:, axis], kind="stable")
    ordered = np.ones(count) if work is None else np.asarray(work, dtype=np.float64)[order]
    if not ordered.min() > 0:
        raise ValueError("every bulb's work must be positive")
    before = np.cumsum(ordered) - ordered  # the work west of (or below) each bulb
    strip = np.empty(count, dtype=np.int64)
    strip[order] = np.minimum(parts - 1, (before * parts / ordered.sum()).astype(np.int64))
    owner = strip.tolist()
    return [Part(k, parts, [o == k for o in owner]) for k in range(parts)]
