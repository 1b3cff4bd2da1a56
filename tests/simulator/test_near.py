"""The bulbs within a radius of a bulb (near.py)."""

from __future__ import annotations

import numpy as np
import pytest

from meshbulb_sim.near import WithinRadius


def test_the_grid_finds_what_a_scan_finds_in_ascending_order() -> None:
    rng = np.random.default_rng(7)
    positions = rng.uniform(-400.0, 900.0, size=(2_000, 2))
    for radius_m in (35.0, 150.0):
        near = WithinRadius(positions, radius_m)
        for i in rng.integers(0, len(positions), 60).tolist():
            delta = positions - positions[i]
            scanned = np.flatnonzero(delta[:, 0] ** 2 + delta[:, 1] ** 2 <= radius_m ** 2)
            found = near.of(i)
            assert found == scanned.tolist() and i in found


def test_a_bulb_exactly_at_the_radius_is_near_and_one_past_it_is_not() -> None:
    positions = np.array([[0.0, 0.0], [100.0, 0.0], [0.0, 100.0001], [-60.0, -80.0]])
    assert WithinRadius(positions, 100.0).of(0) == [0, 1, 3]
    assert WithinRadius(positions, 100.0).of(2) == [2]


def test_a_radius_must_be_positive() -> None:
    with pytest.raises(ValueError, match="radius_m"):
        WithinRadius(np.zeros((3, 2)), 0.0)
