"""Synthetic layouts, lamp placement and the neighbour/connectivity helpers of
meshbulb_sim.layouts (OSM layouts are tested in test_osm.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from meshbulb_sim import layouts as L
from meshbulb_sim.layouts import Layout


def _layout(positions: object, kinds: list[str], buildings: list[int],
            name: str = "test") -> Layout:
    """A Layout from plain lists (the constructor coerces them; this keeps mypy content)."""
    return Layout(np.asarray(positions, dtype=np.float64), np.array(kinds, dtype=np.str_),
                  np.array(buildings, dtype=np.int64), name, "test")


def _brute_pairs(points: np.ndarray, range_m: float) -> np.ndarray:
    """Every pair compared: the reference both indexes must match."""
    i, j = np.triu_indices(len(points), k=1)
    delta = points[i] - points[j]
    close = np.einsum("ij,ij->i", delta, delta) <= range_m * range_m
    return np.column_stack([i[close], j[close]]).astype(np.int64)


def _has_scipy() -> bool:
    return L._scipy_spatial() is not None


# ------------------------------------------------------------------------------------- Layout

def test_layout_coerces_and_checks() -> None:
    layout = _layout([[0, 0], [3, 4]], ["lamp", "home"], [-1, 0], "two")
    assert layout.positions_m.dtype == np.float64
    assert len(layout) == 2
    assert layout.bounds_m() == (0.0, 0.0, 3.0, 4.0)
    assert layout.count("lamp") == 1 and layout.count("home") == 1
    assert list(layout.kinds) == ["lamp", "home"]
    empty = _layout(np.zeros((0, 2)), [], [], "empty")
    assert len(empty) == 0 and empty.bounds_m() == (0.0, 0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="shape"):
        _layout(np.zeros((3, 3)), ["lamp"] * 3, [-1] * 3)
    with pytest.raises(ValueError, match="kinds"):
        _layout(np.zeros((2, 2)), ["lamp"], [-1, -1])
    with pytest.raises(ValueError, match="unknown node kinds"):
        _layout(np.zeros((1, 2)), ["tree"], [-1])
    with pytest.raises(ValueError, match="NaN"):
        _layout([[np.nan, 0.0]], ["lamp"], [-1])
    with pytest.raises(ValueError, match="building ids"):
        _layout([[0.0, 0.0]], ["home"], [-2])


# ------------------------------------------------------------------------------ generators

@pytest.mark.parametrize("nodes", [1, 2, 10, 100, 101, 1000])
def test_grid_counts_and_spacing(nodes: int) -> None:
    layout = L.grid(nodes, spacing_m=25.0)
    assert len(layout) == nodes
    assert layout.count("lamp") == nodes
    assert np.all(layout.buildings == -1)
    cols = math.ceil(math.sqrt(nodes))
    x0, y0, x1, y1 = layout.bounds_m()
    assert (x0, y0) == (0.0, 0.0)
    assert x1 == 25.0 * (min(nodes, cols) - 1)
    assert y1 == 25.0 * (math.ceil(nodes / cols) - 1)
    if nodes > 1:
        # Nearest neighbours are exactly one spacing apart.
        assert L.pairs_within(layout.positions_m, 24.9).shape == (0, 2)
        assert L.largest_component_fraction(layout, 25.0) == 1.0
    assert L.grid(nodes, 25.0).positions_m.tobytes() == layout.positions_m.tobytes()


def test_grid_interior_degree() -> None:
    layout = L.grid(100, spacing_m=30.0)
    pairs = L.neighbour_pairs(layout, 30.0)
    assert len(pairs) == 2 * 10 * 9           # 10x10 grid: 180 edges
    assert L.mean_neighbours(layout, 30.0) == pytest.approx(3.6)
    assert L.largest_component_fraction(layout, 29.0) == pytest.approx(1 / 100)


def test_uniform_random_counts_bounds_and_seed() -> None:
    a = L.uniform_random(500, area_m=400.0, seed=7)
    b = L.uniform_random(500, area_m=400.0, seed=7)
    c = L.uniform_random(500, area_m=400.0, seed=8)
    assert len(a) == 500 and a.count("home") == 500
    assert np.array_equal(a.positions_m, b.positions_m)
    assert not np.array_equal(a.positions_m, c.positions_m)
    x0, y0, x1, y1 = a.bounds_m()
    assert x0 >= 0.0 and y0 >= 0.0 and x1 <= 400.0 and y1 <= 400.0
    assert x1 - x0 > 350.0 and y1 - y0 > 350.0


@pytest.mark.parametrize("bad", [
    lambda: L.grid(0),
    lambda: L.grid(4, spacing_m=0.0),
    lambda: L.uniform_random(0, 10.0, 1),
    lambda: L.uniform_random(5, -1.0, 1),
    lambda: L.clustered_homes(0),
    lambda: L.clustered_homes(5, bulbs_per_home=(0, 3)),
    lambda: L.clustered_homes(5, bulbs_per_home=(4, 3)),
    lambda: L.clustered_homes(5, lamp_spacing_m=0.0),
])
def test_generators_reject_bad_arguments(bad: object) -> None:
    with pytest.raises(ValueError):
        bad()  # type: ignore[operator]


def test_clustered_homes_structure() -> None:
    homes = 200
    layout = L.clustered_homes(homes, bulbs_per_home=(1, 10), street_spacing_m=80.0,
                               lamp_spacing_m=30.0, seed=3)
    is_lamp = layout.kinds == "lamp"
    lamps = layout.positions_m[is_lamp]
    bulbs = layout.positions_m[~is_lamp]
    owners = layout.buildings[~is_lamp]
    assert np.all(layout.buildings[is_lamp] == -1)
    # Every home is a building with 1..10 bulbs, numbered 0..homes-1.
    per_home = np.bincount(owners)
    assert len(per_home) == homes and per_home.min() >= 1 and per_home.max() <= 10
    assert per_home.min() < per_home.max()                   # counts really vary
    # Bulbs of one home are a few metres apart: within the house square.
    for home in range(homes):
        pts = bulbs[owners == home]
        span = pts.max(axis=0) - pts.min(axis=0)
        assert np.all(span <= 2 * L.HOUSE_HALF_SIZE_M + 1e-9)
    # Lamps stand on the street lines, 30 m apart along them, merged at junctions.
    on_x = np.isclose(np.mod(lamps[:, 0] + 1e-9, 80.0), 0.0, atol=1e-6)
    on_y = np.isclose(np.mod(lamps[:, 1] + 1e-9, 80.0), 0.0, atol=1e-6)
    assert np.all(on_x | on_y)
    assert len(L.pairs_within(lamps, L.LAMP_MERGE_M)) == 0
    gaps = np.sort(np.unique(np.round(np.abs(np.diff(lamps[on_x & ~on_y][:, 1])), 6)))
    assert 30.0 in gaps
    # Houses keep off the streets: no bulb nearer than setback - jitter - half size.
    clearance = L.HOUSE_SETBACK_M - L.HOUSE_JITTER_M - L.HOUSE_HALF_SIZE_M
    off_x = np.abs((bulbs[:, 0] + 40.0) % 80.0 - 40.0)
    off_y = np.abs((bulbs[:, 1] + 40.0) % 80.0 - 40.0)
    assert np.minimum(off_x, off_y).min() >= clearance - 1e-9
    # Dense flats: a bulb's nearest neighbour is usually in its own home.
    assert L.mean_neighbours(layout, 10.0) > 2.0


def test_clustered_homes_is_seeded() -> None:
    a = L.clustered_homes(50, seed=11)
    b = L.clustered_homes(50, seed=11)
    c = L.clustered_homes(50, seed=12)
    assert np.array_equal(a.positions_m, b.positions_m)
    assert np.array_equal(a.kinds, b.kinds) and np.array_equal(a.buildings, b.buildings)
    assert not (len(a) == len(c) and np.array_equal(a.positions_m, c.positions_m))


def test_clustered_homes_fixed_bulbs_per_home() -> None:
    layout = L.clustered_homes(30, bulbs_per_home=(10, 10), seed=1)
    assert layout.count("home") == 300
    assert np.all(np.bincount(layout.buildings[layout.buildings >= 0]) == 10)


# ------------------------------------------------------------------------------ lamp placement

def test_points_along_polyline() -> None:
    line = np.array([[0.0, 0.0], [100.0, 0.0]])
    assert np.allclose(L.points_along_polyline(line, 30.0), [[0, 0], [30, 0], [60, 0], [90, 0]])
    exact = np.array([[0.0, 0.0], [90.0, 0.0]])
    assert len(L.points_along_polyline(exact, 30.0)) == 4             # the end gets a lamp too
    bend = np.array([[0.0, 0.0], [20.0, 0.0], [20.0, 0.0], [20.0, 40.0]])
    assert np.allclose(L.points_along_polyline(bend, 30.0), [[0, 0], [20, 10], [20, 40]])
    assert np.allclose(L.points_along_polyline(np.array([[5.0, 5.0]]), 30.0), [[5, 5]])
    short = np.array([[0.0, 0.0], [3.0, 4.0]])
    assert np.allclose(L.points_along_polyline(short, 30.0), [[0, 0]])
    assert L.points_along_polyline(np.zeros((0, 2)), 30.0).shape == (0, 2)


def test_merge_close_points_keeps_the_first() -> None:
    pts = np.array([[0.0, 0.0], [3.0, 0.0], [6.0, 0.0], [20.0, 0.0], [20.0, 4.9]])
    kept = L.merge_close_points(pts, 5.0)
    # 3 m merges into 0 m; 6 m stays (its only close partner was dropped); 4.9 m merges.
    assert np.allclose(kept, [[0, 0], [6, 0], [20, 0]])


def test_lamps_along_merges_junctions() -> None:
    cross = [np.array([[-60.0, 0.0], [60.0, 0.0]]), np.array([[0.0, -60.0], [0.0, 60.0]]),
             np.array([[0.0, 0.0], [45.0, 45.0]])]
    lamps = L.lamps_along(cross, 30.0)
    # 5 along x; the y street adds 4 (its lamp at (0, 0) merges with the x street's);
    # the diagonal adds 2 (its start merges too).
    assert len(lamps) == 5 + 4 + 2
    assert len(L.pairs_within(lamps, 5.0)) == 0


# ------------------------------------------------------------------------- neighbour pairs

def _random_layouts() -> list[tuple[str, np.ndarray, float]]:
    rng = np.random.default_rng(5)
    cases: list[tuple[str, np.ndarray, float]] = []
    for n, side, r in [(2, 10.0, 20.0), (50, 100.0, 15.0), (400, 300.0, 25.0),
                       (3000, 2000.0, 50.0), (1500, 50.0, 10.0)]:
        cases.append((f"uniform-{n}", rng.uniform(-side, side, size=(n, 2)), r))
    clustered = L.clustered_homes(120, seed=4)
    cases.append(("clustered", clustered.positions_m, 50.0))
    cases.append(("grid-exact-range", L.grid(400, 30.0).positions_m, 30.0))
    cases.append(("grid-diagonal", L.grid(400, 30.0).positions_m, 30.0 * math.sqrt(2)))
    cases.append(("duplicates", np.zeros((30, 2)), 1.0))
    cases.append(("line", np.column_stack([np.arange(200.0) * 7.0, np.zeros(200)]), 7.0))
    return cases


@pytest.mark.parametrize("name,points,range_m", _random_layouts(),
                         ids=[c[0] for c in _random_layouts()])
def test_grid_index_agrees_with_kdtree_and_brute_force(name: str, points: np.ndarray,
                                                       range_m: float) -> None:
    grid_pairs = L.pairs_within(points, range_m, method="grid")
    assert grid_pairs.dtype == np.int64 and grid_pairs.shape[1] == 2
    assert np.all(grid_pairs[:, 0] < grid_pairs[:, 1])
    assert len(np.unique(grid_pairs, axis=0)) == len(grid_pairs)
    if len(points) <= 3000:
        assert np.array_equal(grid_pairs, _brute_pairs(points, range_m))
    if _has_scipy():
        assert np.array_equal(grid_pairs, L.pairs_within(points, range_m, method="kdtree"))


def test_kdtree_and_grid_agree_on_larger_random_layouts() -> None:
    if not _has_scipy():
        pytest.skip("scipy not installed: only the grid index is available")
    for seed in range(5):
        layout = L.uniform_random(5000, area_m=3000.0, seed=seed)
        for range_m in (20.0, 50.0, 120.0):
            a = L.neighbour_pairs(layout, range_m, method="kdtree")
            b = L.neighbour_pairs(layout, range_m, method="grid")
            assert np.array_equal(a, b), (seed, range_m)


def test_auto_falls_back_to_grid_without_scipy(monkeypatch: pytest.MonkeyPatch) -> None:
    layout = L.uniform_random(300, area_m=200.0, seed=2)
    expected = L.neighbour_pairs(layout, 20.0, method="grid")
    monkeypatch.setattr(L, "_scipy_spatial", lambda: None)
    assert np.array_equal(L.neighbour_pairs(layout, 20.0), expected)
    with pytest.raises(RuntimeError, match="scipy"):
        L.neighbour_pairs(layout, 20.0, method="kdtree")
    with pytest.raises(ValueError, match="range_m"):
        L.neighbour_pairs(layout, 0.0)


def test_neighbour_pairs_small_layouts() -> None:
    one = L.grid(1)
    assert L.neighbour_pairs(one, 50.0, method="grid").shape == (0, 2)
    assert L.largest_component_fraction(one, 50.0) == 1.0
    empty = _layout(np.zeros((0, 2)), [], [], "empty")
    assert L.largest_component_fraction(empty, 50.0) == 0.0
    assert L.mean_neighbours(empty, 50.0) == 0.0


# -------------------------------------------------------------------------- connectivity

def _bfs_components(n: int, pairs: np.ndarray) -> np.ndarray:
    adjacent: list[list[int]] = [[] for _ in range(n)]
    for i, j in pairs.tolist():
        adjacent[i].append(j)
        adjacent[j].append(i)
    label = np.full(n, -1, dtype=np.int64)
    for start in range(n):
        if label[start] >= 0:
            continue
        label[start] = start
        todo = [start]
        while todo:
            node = todo.pop()
            for other in adjacent[node]:
                if label[other] < 0:
                    label[other] = start
                    todo.append(other)
    return label


@pytest.mark.parametrize("seed", range(6))
def test_component_labels_match_bfs(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 600))
    points = rng.uniform(0.0, 1000.0, size=(n, 2))
    pairs = L.pairs_within(points, float(rng.uniform(20.0, 90.0)), method="grid")
    # Shuffle the node numbering so components are not built in index order.
    perm = rng.permutation(n)
    pairs = np.sort(perm[pairs], axis=1)
    assert np.array_equal(L.component_labels(n, pairs), _bfs_components(n, pairs))


def test_largest_component_fraction_two_islands() -> None:
    left = L.grid(60, 30.0).positions_m
    right = L.grid(40, 30.0).positions_m + [10_000.0, 0.0]
    layout = _layout(np.concatenate([left, right]), ["lamp"] * 100, [-1] * 100, "two")
    assert L.largest_component_fraction(layout, 30.0) == pytest.approx(0.6)
    pairs = L.neighbour_pairs(layout, 30.0)
    assert L.largest_component_fraction(layout, 30.0, pairs=pairs) == pytest.approx(0.6)
    assert L.largest_component_fraction(layout, 20_000.0) == 1.0
