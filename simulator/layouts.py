"""Where the bulbs stand: synthetic layouts (grid, random, clustered homes) and real
OpenStreetMap extracts, plus the neighbour-pair and connectivity helpers that judge them.

Rules kept here:
1. A Layout is plain data: positions in metres (x east, y north), one kind per node ("lamp" on a
   street, "home" indoors), a building index per node (-1 when not in a building), a name and a
   source. Lamps come first, then homes, each in generation order.
2. Every generator is a pure function of its arguments: randomness comes only from
   numpy.random.default_rng(seed), so the same arguments give the same layout, bit for bit.
3. Lamps are dropped every lamp_spacing_m along each street polyline, starting at its first
   vertex; lamps closer than LAMP_MERGE_M (or half the spacing, if smaller) are merged, keeping
   the first, so junctions get one lamp rather than one per street.
4. Neighbour pairs are (i, j) rows with i < j and distance <= range_m, sorted; the KD-tree
   (scipy, when installed) and the uniform grid index (buckets of range_m) return the same array.
5. OSM reading lives in osm.py and is imported only by from_osm(), so synthetic layouts need
   numpy alone.
"""

from __future__ import annotations

import importlib
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
StrArray = npt.NDArray[np.str_]
PairMethod = Literal["auto", "kdtree", "grid"]

KINDS: tuple[str, ...] = ("lamp", "home")
LAMP_MERGE_M = 5.0          # lamps closer than this (at junctions) become one
BUILDING_JITTER_M = 4.0     # bulbs of one OSM building lie within this radius of its centroid
HOUSE_SETBACK_M = 10.0      # clustered_homes: house centre to street centre line, at least
HOUSE_PITCH_M = 20.0        # clustered_homes: distance between neighbouring house centres
HOUSE_JITTER_M = 2.0        # clustered_homes: house centres move up to this far off the plan
HOUSE_HALF_SIZE_M = 4.0     # clustered_homes: bulbs lie within +-this of their house centre
_OSM_SUFFIXES = (".pbf", ".bz2", ".gz", ".osm", ".o5m", ".opl")
_PAIR_CHUNK = 1 << 16       # grid index: points per batch of candidate pairs


@dataclass(eq=False)
class Layout:
    """Node positions and what each node is. Arrays are coerced and checked on creation.

    eq=False: layouts compare by identity (element-wise array == has no single truth value)."""

    positions_m: FloatArray          # (N, 2) float64, metres, x east, y north
    kinds: StrArray                  # (N,) "lamp" or "home"
    buildings: IntArray              # (N,) building index, -1 when not in a building
    name: str
    source: str
    origin_lonlat: tuple[float, float] | None = None   # lon/lat of (0, 0) for OSM layouts

    def __post_init__(self) -> None:
        positions = np.asarray(self.positions_m, dtype=np.float64)
        if positions.size == 0:
            positions = positions.reshape(0, 2)
        if positions.ndim != 2 or positions.shape[1] != 2:
            raise ValueError(f"positions_m must have shape (N, 2), not {positions.shape}")
        if not np.all(np.isfinite(positions)):
            raise ValueError("positions_m holds NaN or infinite values")
        n = positions.shape[0]
        kinds = np.asarray(self.kinds, dtype=np.str_).reshape(-1)
        buildings = np.asarray(self.buildings, dtype=np.int64).reshape(-1)
        if kinds.shape[0] != n or buildings.shape[0] != n:
            raise ValueError(f"{n} positions but {kinds.shape[0]} kinds and "
                             f"{buildings.shape[0]} building ids")
        unknown = sorted(set(np.unique(kinds).tolist()) - set(KINDS))
        if unknown:
            raise ValueError(f"unknown node kinds {unknown}; expected one of {list(KINDS)}")
        if n and int(buildings.min()) < -1:
            raise ValueError("building ids must be >= 0, or -1 for none")
        self.positions_m = positions
        self.kinds = kinds
        self.buildings = buildings

    def __len__(self) -> int:
        return int(self.positions_m.shape[0])

    def bounds_m(self) -> tuple[float, float, float, float]:
        """(x_min, y_min, x_max, y_max) in metres; all zero for an empty layout."""
        if len(self) == 0:
            return (0.0, 0.0, 0.0, 0.0)
        lo = self.positions_m.min(axis=0)
        hi = self.positions_m.max(axis=0)
        return (float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))

    def count(self, kind: str) -> int:
        """Number of nodes of this kind."""
        return int(np.count_nonzero(self.kinds == kind))


def _make(lamps_m: FloatArray, homes_m: FloatArray, home_buildings: IntArray, name: str,
          source: str, origin_lonlat: tuple[float, float] | None = None) -> Layout:
    lamps = np.asarray(lamps_m, dtype=np.float64).reshape(-1, 2)
    homes = np.asarray(homes_m, dtype=np.float64).reshape(-1, 2)
    kinds = np.array(["lamp"] * len(lamps) + ["home"] * len(homes), dtype=np.str_)
    buildings = np.concatenate([np.full(len(lamps), -1, dtype=np.int64),
                                np.asarray(home_buildings, dtype=np.int64).reshape(-1)])
    return Layout(np.concatenate([lamps, homes]), kinds, buildings, name, source, origin_lonlat)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


# ---------------------------------------------------------------------------- synthetic layouts

def grid(nodes: int, spacing_m: float = 30.0) -> Layout:
    """`nodes` lamps on a near-square grid, row by row from the origin, spacing_m apart."""
    _require(nodes >= 1, "nodes must be >= 1")
    _require(spacing_m > 0, "spacing_m must be > 0")
    cols = math.ceil(math.sqrt(nodes))
    index = np.arange(nodes)
    positions = np.column_stack([index % cols, index // cols]).astype(np.float64) * spacing_m
    return _make(positions, np.zeros((0, 2)), np.zeros(0, dtype=np.int64), "grid",
                 f"grid(nodes={nodes}, spacing_m={spacing_m})")


def uniform_random(nodes: int, area_m: float, seed: int) -> Layout:
    """`nodes` indoor bulbs uniformly at random in a square of side area_m metres."""
    _require(nodes >= 1, "nodes must be >= 1")
    _require(area_m > 0, "area_m (the side of the square) must be > 0")
    rng = np.random.default_rng(seed)
    positions = rng.uniform(0.0, area_m, size=(nodes, 2))
    return _make(np.zeros((0, 2)), positions, np.full(nodes, -1, dtype=np.int64), "random",
                 f"uniform_random(nodes={nodes}, area_m={area_m}, seed={seed})")


def _house_offsets_m(street_spacing_m: float) -> FloatArray:
    """House centres inside one block (relative to its corner), HOUSE_PITCH_M apart."""
    room = street_spacing_m - 2.0 * HOUSE_SETBACK_M
    per_side = int(room // HOUSE_PITCH_M) + 1 if room >= 0 else 1
    start = (street_spacing_m - (per_side - 1) * HOUSE_PITCH_M) / 2.0
    line = start + HOUSE_PITCH_M * np.arange(per_side, dtype=np.float64)
    gx, gy = np.meshgrid(line, line, indexing="ij")
    return np.column_stack([gx.ravel(), gy.ravel()])


def clustered_homes(homes: int, bulbs_per_home: tuple[int, int] = (1, 10),
                    street_spacing_m: float = 80.0, lamp_spacing_m: float = 30.0,
                    seed: int = 1) -> Layout:
    """A street grid with lamps along the streets and houses in the blocks between them.

    Blocks are street_spacing_m square, in a near-square arrangement just large enough for
    `homes` houses. House sites sit HOUSE_PITCH_M apart, at least HOUSE_SETBACK_M from the
    streets; `homes` of them are drawn at random. Each house holds between bulbs_per_home[0] and
    bulbs_per_home[1] bulbs (inclusive, uniform), within HOUSE_HALF_SIZE_M of its centre: the
    dense clusters of a flat. Each house is one building.
    """
    low, high = bulbs_per_home
    _require(homes >= 1, "homes must be >= 1")
    _require(1 <= low <= high, "bulbs_per_home must be (low, high) with 1 <= low <= high")
    _require(street_spacing_m > 0, "street_spacing_m must be > 0")
    _require(lamp_spacing_m > 0, "lamp_spacing_m must be > 0")
    rng = np.random.default_rng(seed)

    block_sites = _house_offsets_m(street_spacing_m)
    blocks = math.ceil(homes / len(block_sites))
    blocks_x = math.ceil(math.sqrt(blocks))
    blocks_y = math.ceil(blocks / blocks_x)
    corners = np.array([(bx, by) for by in range(blocks_y) for bx in range(blocks_x)],
                       dtype=np.float64) * street_spacing_m
    sites = (corners[:, None, :] + block_sites[None, :, :]).reshape(-1, 2)
    chosen = np.sort(rng.choice(len(sites), size=homes, replace=False))
    houses = sites[chosen] + rng.uniform(-HOUSE_JITTER_M, HOUSE_JITTER_M, size=(homes, 2))

    bulbs = rng.integers(low, high + 1, size=homes)
    owner = np.repeat(np.arange(homes, dtype=np.int64), bulbs)
    spread = rng.uniform(-HOUSE_HALF_SIZE_M, HOUSE_HALF_SIZE_M, size=(len(owner), 2))
    home_positions = houses[owner] + spread

    width_m = blocks_x * street_spacing_m
    height_m = blocks_y * street_spacing_m
    streets = [np.array([[x, 0.0], [x, height_m]])
               for x in street_spacing_m * np.arange(blocks_x + 1)]
    streets += [np.array([[0.0, y], [width_m, y]])
                for y in street_spacing_m * np.arange(blocks_y + 1)]
    lamps = lamps_along(streets, lamp_spacing_m)
    return _make(lamps, home_positions, owner, "clustered_homes",
                 f"clustered_homes(homes={homes}, bulbs_per_home=({low}, {high}), "
                 f"street_spacing_m={street_spacing_m}, lamp_spacing_m={lamp_spacing_m}, "
                 f"seed={seed})")


# ------------------------------------------------------------------------------- street lamps

def points_along_polyline(polyline_m: FloatArray, spacing_m: float) -> FloatArray:
    """Points every spacing_m along a polyline, measured along it from its first vertex.

    The first vertex always gets a point; the last one only if the length is a multiple of
    spacing_m. Repeated vertices are ignored.
    """
    _require(spacing_m > 0, "spacing_m must be > 0")
    pts = np.asarray(polyline_m, dtype=np.float64).reshape(-1, 2)
    if len(pts) == 0:
        return np.zeros((0, 2), dtype=np.float64)
    seg = np.hypot(*np.diff(pts, axis=0).T)
    pts = np.asarray(pts[np.concatenate([[True], seg > 0])], dtype=np.float64)
    seg = seg[seg > 0]
    if len(pts) == 1:
        return pts.copy()
    along = np.concatenate([[0.0], np.cumsum(seg)])
    steps = math.floor(along[-1] / spacing_m * (1.0 + 1e-12))
    targets = spacing_m * np.arange(steps + 1, dtype=np.float64)
    return np.column_stack([np.interp(targets, along, pts[:, 0]),
                            np.interp(targets, along, pts[:, 1])])


def merge_close_points(points_m: FloatArray, min_distance_m: float) -> FloatArray:
    """Drop every point within min_distance_m of an earlier kept point (greedy, in order)."""
    pts = np.asarray(points_m, dtype=np.float64).reshape(-1, 2)
    if len(pts) < 2 or min_distance_m <= 0:
        return pts.copy()
    pairs = _pairs_grid(pts, min_distance_m)
    keep = np.ones(len(pts), dtype=bool)
    if len(pairs):
        pairs = pairs[np.lexsort((pairs[:, 0], pairs[:, 1]))]
        later, starts = np.unique(pairs[:, 1], return_index=True)
        ends = np.append(starts[1:], len(pairs))
        # Every partner i of j has i < j, so keep[i] is final by the time j is decided.
        for j, begin, end in zip(later.tolist(), starts.tolist(), ends.tolist(), strict=True):
            if keep[pairs[begin:end, 0]].any():
                keep[j] = False
    return pts[keep]


def lamps_along(streets_m: list[FloatArray], lamp_spacing_m: float) -> FloatArray:
    """Lamps every lamp_spacing_m along each street, merged where streets meet."""
    _require(lamp_spacing_m > 0, "lamp_spacing_m must be > 0")
    chunks = [points_along_polyline(line, lamp_spacing_m) for line in streets_m]
    if not chunks:
        return np.zeros((0, 2), dtype=np.float64)
    return merge_close_points(np.concatenate(chunks),
                              min(LAMP_MERGE_M, lamp_spacing_m / 2.0))


# --------------------------------------------------------------------------------- OSM layouts

def _osm_name(path: str) -> str:
    name = Path(path).name
    stripped = True
    while stripped:
        stripped = False
        for suffix in _OSM_SUFFIXES:
            if name.lower().endswith(suffix) and len(name) > len(suffix):
                name = name[: -len(suffix)]
                stripped = True
    return name


def from_osm(path: str | os.PathLike[str], lamp_spacing_m: float = 30.0,
             bulbs_per_building: int = 1, seed: int = 1,
             street_classes: frozenset[str] | None = None) -> Layout:
    """Lamps along the streets and bulbs in the buildings of an OpenStreetMap extract.

    Reads .osm, .osm.bz2 or .osm.pbf through osm.read_osm (raises osm.OsmError on any problem
    with the file). Lamps stand along ways whose highway=* is in street_classes (default
    osm.DEFAULT_STREET_CLASSES). Each building gets bulbs_per_building bulbs, uniformly within
    BUILDING_JITTER_M of its centroid (seeded). (0, 0) is the centre of the extract's data.
    """
    from .osm import DEFAULT_STREET_CLASSES, read_osm  # osmium is needed only for real maps

    _require(lamp_spacing_m > 0, "lamp_spacing_m must be > 0")
    _require(bulbs_per_building >= 0, "bulbs_per_building must be >= 0")
    name = os.fspath(path)
    features = read_osm(name, DEFAULT_STREET_CLASSES if street_classes is None
                        else street_classes)
    lamps = lamps_along(features.streets_m, lamp_spacing_m)

    rng = np.random.default_rng(seed)
    count = len(features.buildings_m) * bulbs_per_building
    owner = np.repeat(np.arange(len(features.buildings_m), dtype=np.int64), bulbs_per_building)
    radius = BUILDING_JITTER_M * np.sqrt(rng.uniform(0.0, 1.0, size=count))
    angle = rng.uniform(0.0, 2.0 * math.pi, size=count)
    homes = features.buildings_m[owner] + np.column_stack([radius * np.cos(angle),
                                                           radius * np.sin(angle)])
    origin = (features.projection.lon0_deg, features.projection.lat0_deg)
    return _make(lamps, homes, owner, _osm_name(name), name, origin)


# ------------------------------------------------------------------------ neighbours and graphs

def _scipy_spatial() -> Any | None:
    try:
        return importlib.import_module("scipy.spatial")
    except ImportError:
        return None


def _pairs_kdtree(points: FloatArray, range_m: float) -> IntArray:
    spatial = _scipy_spatial()
    if spatial is None:
        raise RuntimeError("method='kdtree' needs scipy, which is not installed")
    pairs = spatial.cKDTree(points).query_pairs(range_m, output_type="ndarray")
    return np.asarray(pairs, dtype=np.int64).reshape(-1, 2)


def _pairs_grid(points: FloatArray, range_m: float) -> IntArray:
    """All pairs within range_m through a uniform grid of range_m buckets (i < j, unsorted)."""
    n = len(points)
    if n < 2:
        return np.zeros((0, 2), dtype=np.int64)
    cell = np.floor((points - points.min(axis=0)) / range_m).astype(np.int64)
    rows = int(cell[:, 1].max()) + 3          # +1 margin on each side: no wrap between columns
    key = (cell[:, 0] + 1) * rows + (cell[:, 1] + 1)
    order = np.argsort(key, kind="stable")
    cells, first, size = np.unique(key[order], return_index=True, return_counts=True)
    limit = range_m * range_m
    found: list[IntArray] = []
    # Each point looks at its own bucket and four of its eight neighbours; the other four see
    # it from their side, so every pair is met exactly once.
    for dx, dy in ((0, 0), (1, -1), (1, 0), (1, 1), (0, 1)):
        for lo in range(0, n, _PAIR_CHUNK):
            i = np.arange(lo, min(n, lo + _PAIR_CHUNK), dtype=np.int64)
            target = key[i] + dx * rows + dy
            slot = np.minimum(np.searchsorted(cells, target), len(cells) - 1)
            hit = cells[slot] == target
            i, slot = i[hit], slot[hit]
            counts = size[slot]
            total = int(counts.sum())
            if total == 0:
                continue
            starts = np.repeat(first[slot] - (np.cumsum(counts) - counts), counts)
            j = order[starts + np.arange(total)]
            i = np.repeat(i, counts)
            if dx == 0 and dy == 0:
                ahead = i < j
                i, j = i[ahead], j[ahead]
            delta = points[i] - points[j]
            close = np.einsum("ij,ij->i", delta, delta) <= limit
            i, j = i[close], j[close]
            found.append(np.column_stack([np.minimum(i, j), np.maximum(i, j)]))
    if not found:
        return np.zeros((0, 2), dtype=np.int64)
    return np.concatenate(found)


def pairs_within(points_m: FloatArray, range_m: float,
                 method: PairMethod = "auto") -> IntArray:
    """Sorted (M, 2) array of index pairs (i < j) no more than range_m apart.

    method "kdtree" uses scipy's cKDTree.query_pairs, "grid" a uniform grid index, "auto" the
    KD-tree when scipy is installed. Both give the same array.
    """
    _require(range_m > 0, "range_m must be > 0")
    points = np.asarray(points_m, dtype=np.float64).reshape(-1, 2)
    if method == "auto":
        method = "kdtree" if _scipy_spatial() is not None else "grid"
    if method == "kdtree":
        pairs = _pairs_kdtree(points, range_m)
    elif method == "grid":
        pairs = _pairs_grid(points, range_m)
    else:
        raise ValueError(f"unknown method {method!r}; use 'auto', 'kdtree' or 'grid'")
    return pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]


def neighbour_pairs(layout: Layout, range_m: float, method: PairMethod = "auto") -> IntArray:
    """Pairs of nodes of `layout` within range_m of each other; see pairs_within."""
    return pairs_within(layout.positions_m, range_m, method)


def component_labels(nodes: int, pairs: IntArray) -> IntArray:
    """Connected-component label of each node: the smallest node index in its component."""
    parent = np.arange(nodes, dtype=np.int64)
    edges = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    while len(edges):
        # Hook the larger root of every edge onto the smaller one, then flatten all chains.
        a = parent[edges[:, 0]]
        b = parent[edges[:, 1]]
        split = a != b
        if not split.any():
            break
        edges = edges[split]
        np.minimum.at(parent, np.maximum(a[split], b[split]), np.minimum(a[split], b[split]))
        while True:
            grand = parent[parent]
            if np.array_equal(grand, parent):
                break
            parent = grand
    return parent


def largest_component_fraction(layout: Layout, range_m: float,
                               pairs: IntArray | None = None) -> float:
    """Share of nodes in the largest connected component of the range_m disc graph.

    Pass `pairs` (from neighbour_pairs with the same range) to skip recomputing them.
    """
    n = len(layout)
    if n == 0:
        return 0.0
    links = neighbour_pairs(layout, range_m) if pairs is None else pairs
    labels = component_labels(n, links)
    return float(np.bincount(labels).max()) / n


def mean_neighbours(layout: Layout, range_m: float, pairs: IntArray | None = None) -> float:
    """Mean number of nodes within range_m of a node."""
    n = len(layout)
    if n == 0:
        return 0.0
    links = neighbour_pairs(layout, range_m) if pairs is None else pairs
    return 2.0 * len(links) / n
