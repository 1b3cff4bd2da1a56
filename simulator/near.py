"""The bulbs within a radius of a bulb, for bulb-to-bulb traffic to a nearby peer.

Rules kept here:
1. A uniform grid of radius-sized cells: a bulb's peers lie in its own cell and the eight
   around it, so building costs one pass over the bulbs and a query the bulbs of nine cells.
   Peers are found per query, not all at once as layouts.pairs_within finds links: within
   city.toml's 150 m Monaco's 34,295 bulbs have 133 peers each on average, 2.3 million
   pairs to build and hold in every worker, where a run draws peers for the bulbs that send.
2. A query returns indices in ascending order, with distance <= radius as numpy computes it:
   the same answer on every interpreter, with or without scipy (interpreter.py), so a seeded
   run draws the same peers on CPython and on PyPy. (scipy's KD-tree answers in its own
   order, which until this module made the draw depend on the tree.)
"""

from __future__ import annotations

import numpy as np


class WithinRadius:
    def __init__(self, positions_m: np.ndarray, radius_m: float) -> None:
        if radius_m <= 0:
            raise ValueError(f"radius_m must be > 0, got {radius_m}")
        self.positions_m = np.asarray(positions_m, dtype=np.float64).reshape(-1, 2)
        self.radius_m = radius_m
        self._cell_of: list[tuple[int, int]] = [
            (int(x), int(y)) for x, y in np.floor(self.positions_m / radius_m).tolist()]
        self._cells: dict[tuple[int, int], list[int]] = {}
        for i, cell in enumerate(self._cell_of):  # rule 1; each list ascending
            self._cells.setdefault(cell, []).append(i)

    def of(self, i: int) -> list[int]:
        """Rule 2: the bulbs within radius_m of bulb i, i among them, in ascending order."""
        cx, cy = self._cell_of[i]
        candidates: list[int] = []
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                candidates.extend(self._cells.get((cx + dx, cy + dy), ()))
        candidates.sort()
        delta = self.positions_m[candidates] - self.positions_m[i]
        close = delta[:, 0] * delta[:, 0] + delta[:, 1] * delta[:, 1] <= self.radius_m ** 2
        found: list[int] = np.asarray(candidates, dtype=np.int64)[close].tolist()
        return found
