"""OpenStreetMap layouts: meshbulb_sim.osm (reading, projection, errors) and layouts.from_osm,
on a small hand-made map and on the real extracts in ../shared/data (skipped when absent)."""

from __future__ import annotations

import bz2
import gzip
import math
import time
from pathlib import Path

import numpy as np
import pytest

osmium = pytest.importorskip("osmium", reason="pyosmium (PyPI 'osmium') is not installed")

from meshbulb_sim import layouts as L  # noqa: E402
from meshbulb_sim.osm import (  # noqa: E402
    DEFAULT_STREET_CLASSES,
    LocalProjection,
    OsmError,
    read_osm,
)

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
MONACO = DATA / "monaco.osm.pbf"
OAKLAND = DATA / "West-Oakland.osm.bz2"
PLAN = LocalProjection(7.0, 45.0)      # the hand-made map is drawn in metres around here


def _need(path: Path) -> Path:
    if not path.is_file():
        pytest.skip(f"real OSM extract {path} is not there (shared/ data lives beside the repo)")
    return path


# ---------------------------------------------------------------------- a hand-made map

class _Map:
    """Builds OSM XML from shapes drawn in metres around PLAN."""

    def __init__(self) -> None:
        self.nodes: list[str] = []
        self.ways: list[str] = []
        self.relations: list[str] = []
        self.next_id = 1

    def node(self, x: float, y: float, tags: dict[str, str] | None = None) -> int:
        lon, lat = PLAN.to_lonlat(np.array([[x, y]]))[0]
        nid = self.next_id
        self.next_id += 1
        inner = "".join(f'<tag k="{k}" v="{v}"/>' for k, v in (tags or {}).items())
        self.nodes.append(f'<node id="{nid}" version="1" lat="{lat:.7f}" lon="{lon:.7f}">'
                          f"{inner}</node>")
        return nid

    def way(self, points: list[tuple[float, float]], tags: dict[str, str],
            refs: list[int] | None = None, closed: bool = False) -> int:
        ids = refs if refs is not None else [self.node(x, y) for x, y in points]
        if closed:
            ids = [*ids, ids[0]]
        wid = self.next_id
        self.next_id += 1
        body = "".join(f'<nd ref="{r}"/>' for r in ids)
        body += "".join(f'<tag k="{k}" v="{v}"/>' for k, v in tags.items())
        self.ways.append(f'<way id="{wid}" version="1">{body}</way>')
        return wid

    def multipolygon(self, outer: list[int], inner: list[int], tags: dict[str, str]) -> None:
        rid = self.next_id
        self.next_id += 1
        body = "".join(f'<member type="way" ref="{w}" role="outer"/>' for w in outer)
        body += "".join(f'<member type="way" ref="{w}" role="inner"/>' for w in inner)
        body += '<tag k="type" v="multipolygon"/>'
        body += "".join(f'<tag k="{k}" v="{v}"/>' for k, v in tags.items())
        self.relations.append(f'<relation id="{rid}" version="1">{body}</relation>')

    def xml(self) -> bytes:
        lines = ["<?xml version='1.0' encoding='UTF-8'?>", '<osm version="0.6" generator="test">',
                 *self.nodes, *self.ways, *self.relations, "</osm>", ""]
        return "\n".join(lines).encode()


# Expected building centroids of the hand-made map, in PLAN metres.
SQUARE = (30.0, 30.0)
L_SHAPE = ((400 * 80 + 300 * 65) / 700, (400 * 205 + 300 * 225) / 700)   # not the vertex mean
COURTYARD = ((1600 * 20 - 200 * 25) / 1400, 320.0)                        # outer less the hole
POINT = (500.0, 500.0)
OPEN_OUTLINE = (260.0 / 3, 250.0 / 3)                                     # vertex mean
EXPECTED_BUILDINGS = [SQUARE, L_SHAPE, COURTYARD, POINT, OPEN_OUTLINE]
EXPECTED_LAMPS = 17


def _hand_made_map() -> bytes:
    m = _Map()
    junction = m.node(0.0, 0.0)
    # Streets: 7 lamps on A, 5 more on B (its first shares A's junction lamp), 2 on a service
    # road, 3 on the far part of C (its second node is missing from the extract, which
    # leaves a lone first node and a 70 m run). No street is an exact multiple of 30 m long:
    # the 1e-7 degree rounding of OSM coordinates would make its end lamp a coin toss.
    m.way([], {"highway": "residential"}, refs=[junction, m.node(0.0, 200.0)])
    m.way([], {"highway": "primary"}, refs=[junction, m.node(75.0, 0.0), m.node(160.0, 0.0)])
    m.way([(200.0, 0.0), (200.0, 40.0)], {"highway": "service"})
    m.way([], {"highway": "residential"},
          refs=[m.node(300.0, 0.0), 999_999, m.node(300.0, 100.0), m.node(300.0, 170.0)])
    # Left out: a footway, a road tunnel, a driveway, a motorway.
    m.way([(50.0, 50.0), (50.0, 150.0)], {"highway": "footway"})
    m.way([(100.0, 50.0), (100.0, 150.0)], {"highway": "residential", "tunnel": "yes"})
    m.way([(120.0, 50.0), (120.0, 100.0)], {"highway": "service", "service": "driveway"})
    m.way([(-300.0, -300.0), (-300.0, 300.0)], {"highway": "motorway"})
    # Buildings: a clockwise square, an L, a courtyard multipolygon split over two outer
    # ways, a point, an unclosed outline; and two that do not count.
    m.way([(20, 20), (20, 40), (40, 40), (40, 20)], {"building": "yes"}, closed=True)
    m.way([(60, 200), (100, 200), (100, 210), (70, 210), (70, 240), (60, 240)],
          {"building": "house"}, closed=True)
    a, b, c, d = m.node(0, 300), m.node(40, 300), m.node(40, 340), m.node(0, 340)
    outer1 = m.way([], {}, refs=[a, b, c])
    outer2 = m.way([], {}, refs=[c, d, a])
    hole = m.way([(20, 310), (30, 310), (30, 330), (20, 330)], {}, closed=True)
    m.multipolygon([outer1, outer2], [hole], {"building": "yes"})
    m.node(*POINT, tags={"building": "yes"})
    m.way([(80, 80), (90, 80), (90, 90)], {"building": "yes"})
    m.way([(400, 400), (410, 400), (410, 410)], {"building": "no"}, closed=True)
    m.way([(420, 400), (430, 400), (430, 410)], {"building": "roof"}, closed=True)
    return m.xml()


@pytest.fixture(scope="module")
def hand_made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("osm")
    xml = _hand_made_map()
    files = {".osm": folder / "town.osm", ".osm.bz2": folder / "town.osm.bz2",
             ".osm.gz": folder / "town.osm.gz", ".osm.pbf": folder / "town.osm.pbf"}
    files[".osm"].write_bytes(xml)
    files[".osm.bz2"].write_bytes(bz2.compress(xml))
    files[".osm.gz"].write_bytes(gzip.compress(xml))
    with osmium.SimpleWriter(str(files[".osm.pbf"])) as writer:
        for obj in osmium.FileProcessor(str(files[".osm"])):
            writer.add(obj)
    return files


def _in_frame(projection: LocalProjection, xy: tuple[float, float]) -> np.ndarray:
    """A point drawn in PLAN metres, in the metres of another projection."""
    out: np.ndarray = projection.to_metres(PLAN.to_lonlat(np.array([xy])))[0]
    return out


@pytest.mark.parametrize("suffix", [".osm", ".osm.bz2", ".osm.gz", ".osm.pbf"])
def test_hand_made_map_features(hand_made: dict[str, Path], suffix: str) -> None:
    features = read_osm(hand_made[suffix])
    assert features.counts == {"street_ways": 4, "tunnel_ways": 1, "building_ways": 3,
                               "building_relations": 1, "building_nodes": 1,
                               "missing_locations": 1}
    assert sorted(features.street_classes) == ["primary", "residential", "residential",
                                               "service"]
    assert len(features.buildings_m) == len(EXPECTED_BUILDINGS)
    for expected in EXPECTED_BUILDINGS:
        want = _in_frame(features.projection, expected)
        nearest = np.min(np.hypot(*(features.buildings_m - want).T))
        assert nearest < 0.05, (expected, nearest)
    # The projection's origin is the centre of the data's bounding box.
    lo = PLAN.to_lonlat(np.array([[0.0, 0.0]]))[0]
    hi = PLAN.to_lonlat(np.array([[500.0, 500.0]]))[0]
    assert features.projection.lon0_deg == pytest.approx((lo[0] + hi[0]) / 2, abs=1e-7)
    assert features.projection.lat0_deg == pytest.approx((lo[1] + hi[1]) / 2, abs=1e-7)


def test_hand_made_map_layout(hand_made: dict[str, Path]) -> None:
    layout = L.from_osm(hand_made[".osm.bz2"], lamp_spacing_m=30.0, bulbs_per_building=1)
    assert layout.name == "town"
    assert layout.source == str(hand_made[".osm.bz2"])
    assert layout.count("lamp") == EXPECTED_LAMPS
    assert layout.count("home") == len(EXPECTED_BUILDINGS)
    assert layout.origin_lonlat is not None
    lamps = layout.positions_m[layout.kinds == "lamp"]
    projection = LocalProjection(*layout.origin_lonlat)
    for x, y in [(0, 0), (0, 180), (30, 0), (150, 0), (200, 30), (300, 100), (300, 160)]:
        want = _in_frame(projection, (x, y))
        assert np.min(np.hypot(*(lamps - want).T)) < 0.05, (x, y)
    # Nothing on the footway, tunnel, driveway or motorway.
    for x, y in [(50, 90), (100, 110), (120, 80), (-300, 0)]:
        want = _in_frame(projection, (x, y))
        assert np.min(np.hypot(*(lamps - want).T)) > 10.0, (x, y)
    # Other street classes on request: the 100 m footway adds lamps at 0, 30, 60, 90 m.
    walkers = L.from_osm(hand_made[".osm"], street_classes=DEFAULT_STREET_CLASSES | {"footway"})
    assert walkers.count("lamp") == EXPECTED_LAMPS + 4


def test_bulbs_per_building_and_jitter(hand_made: dict[str, Path]) -> None:
    one = L.from_osm(hand_made[".osm"], bulbs_per_building=1, seed=1)
    ten = L.from_osm(hand_made[".osm"], bulbs_per_building=10, seed=1)
    again = L.from_osm(hand_made[".osm"], bulbs_per_building=10, seed=1)
    other = L.from_osm(hand_made[".osm"], bulbs_per_building=10, seed=2)
    assert ten.count("home") == 10 * len(EXPECTED_BUILDINGS)
    assert np.array_equal(ten.positions_m, again.positions_m)
    assert not np.array_equal(ten.positions_m, other.positions_m)
    assert np.array_equal(ten.positions_m[ten.kinds == "lamp"],
                          other.positions_m[other.kinds == "lamp"])
    features = read_osm(hand_made[".osm"])
    homes = ten.kinds == "home"
    owners = ten.buildings[homes]
    assert np.array_equal(np.bincount(owners), [10] * len(EXPECTED_BUILDINGS))
    offsets = ten.positions_m[homes] - features.buildings_m[owners]
    assert np.hypot(*offsets.T).max() <= L.BUILDING_JITTER_M
    assert np.hypot(*offsets.T).max() > 0.5            # they really are spread
    lamps_only = L.from_osm(hand_made[".osm"], bulbs_per_building=0)
    assert lamps_only.count("home") == 0 and len(lamps_only) == EXPECTED_LAMPS
    assert one.count("home") == len(EXPECTED_BUILDINGS)
    with pytest.raises(ValueError):
        L.from_osm(hand_made[".osm"], lamp_spacing_m=0.0)


# ---------------------------------------------------------------------------- projection

def _degree_lengths_m(lat_deg: float) -> tuple[float, float]:
    """Metres per degree of longitude and latitude on WGS84: the usual series expansions."""
    phi = math.radians(lat_deg)
    lon = 111412.84 * math.cos(phi) - 93.5 * math.cos(3 * phi) + 0.118 * math.cos(5 * phi)
    lat = 111132.954 - 559.822 * math.cos(2 * phi) + 1.175 * math.cos(4 * phi)
    return lon, lat


@pytest.mark.parametrize("lat0", [0.0, 30.0, 43.74, 45.0, 60.0, -37.8])
def test_projection_matches_the_ellipsoid(lat0: float) -> None:
    p = LocalProjection(7.0, lat0)
    per_lon, per_lat = _degree_lengths_m(lat0)
    xy = p.to_metres(np.array([[7.001, lat0], [7.0, lat0 + 0.001], [7.0, lat0]]))
    assert xy[0, 0] == pytest.approx(per_lon / 1000, rel=1e-5)
    assert xy[1, 1] == pytest.approx(per_lat / 1000, rel=1e-5)
    assert np.allclose(xy[2], 0.0)
    assert xy[0, 1] == 0.0 and xy[1, 0] == 0.0
    points = np.array([[7.42, lat0 + 0.01], [6.5, lat0 - 0.2]])
    assert np.allclose(p.to_lonlat(p.to_metres(points)), points, atol=1e-12)


def test_projection_scale_error() -> None:
    # East-west scale is off by about tan(lat0) * dlat: 0.05 % at 3 km from the centre at 45 N.
    p = LocalProjection(0.0, 45.0)
    assert p.scale_error(45.0, 45.0) == 0.0
    assert p.scale_error(45.0 - 0.027, 45.0 + 0.027) == pytest.approx(
        math.tan(math.radians(45.0)) * math.radians(0.027), rel=0.02)
    assert p.scale_error(44.973, 45.027) < 0.001


# --------------------------------------------------------------------------------- errors

def test_missing_file_and_directory(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.osm.pbf"
    with pytest.raises(OsmError, match="no such file") as info:
        L.from_osm(missing)
    assert str(missing) in str(info.value)
    with pytest.raises(OsmError, match="not a regular file"):
        read_osm(tmp_path)


@pytest.mark.parametrize("name,content,words", [
    ("notes.txt", b"<osm/>", "Could not detect file format"),
    ("hello.osm", b"hello world\n", "XML"),
    ("noise.osm.pbf", bytes(range(256)) * 20, "PBF"),
    ("gzipped.osm.bz2", gzip.compress(b"<osm/>"), "not bzip2 data"),
    ("empty.osm.pbf", b"", "PBF"),
    ("empty.osm", b"", "XML"),
])
def test_non_osm_files_raise(tmp_path: Path, name: str, content: bytes, words: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(OsmError, match=words) as info:
        read_osm(path)
    assert str(path) in str(info.value)


def test_extract_without_streets_or_buildings(tmp_path: Path) -> None:
    m = _Map()
    m.node(0.0, 0.0, tags={"amenity": "bench"})
    m.way([(0.0, 0.0), (0.0, 100.0)], {"highway": "footway"})
    path = tmp_path / "park.osm"
    path.write_bytes(m.xml())
    with pytest.raises(OsmError, match="no streets or buildings in .*park.osm"):
        L.from_osm(path)


def _truncations(data: bytes) -> list[int]:
    size = len(data)
    # size - 3 cuts into the closing "</osm>" of XML (size - 1 would only drop its newline).
    return sorted({1, 10, size // 7, size // 3, size // 2, (size * 9) // 10, size - 3})


@pytest.mark.parametrize("suffix", [".osm", ".osm.bz2", ".osm.pbf"])
def test_truncated_hand_made_map_raises(hand_made: dict[str, Path], tmp_path: Path,
                                        suffix: str) -> None:
    data = hand_made[suffix].read_bytes()
    for cut in _truncations(data):
        path = tmp_path / f"cut{cut}{suffix}"
        path.write_bytes(data[:cut])
        with pytest.raises(OsmError) as info:
            L.from_osm(path)
        assert str(path) in str(info.value), cut


def _corrupt(data: bytes, at: int) -> bytes:
    return data[:at] + bytes(b ^ 0x5A for b in data[at:at + 64]) + data[at + 64:]


@pytest.mark.parametrize("source", ["monaco", "oakland"])
def test_truncated_and_corrupt_real_files_raise(tmp_path: Path, source: str) -> None:
    original = _need(MONACO if source == "monaco" else OAKLAND)
    data = original.read_bytes()
    suffix = ".osm.pbf" if source == "monaco" else ".osm.bz2"
    cases = {f"cut{cut}": data[:cut] for cut in _truncations(data)}
    cases["corrupt-middle"] = _corrupt(data, len(data) // 2)
    cases["corrupt-start"] = _corrupt(data, 40)
    for label, content in cases.items():
        path = tmp_path / f"{label}{suffix}"
        path.write_bytes(content)
        with pytest.raises(OsmError) as info:
            L.from_osm(path)
        message = str(info.value)
        assert str(path) in message, label
        print(f"{source} {label}: {message}")


# ------------------------------------------------------------------------ real extracts

@pytest.fixture(scope="module")
def monaco() -> tuple[L.Layout, float]:
    path = _need(MONACO)
    start = time.perf_counter()
    layout = L.from_osm(path, lamp_spacing_m=30.0, bulbs_per_building=1)
    return layout, time.perf_counter() - start


def test_monaco_loads_about_35000_bulbs(monaco: tuple[L.Layout, float]) -> None:
    layout, seconds = monaco
    print(f"\nmonaco: {len(layout)} bulbs = {layout.count('lamp')} lamps + "
          f"{layout.count('home')} building bulbs, loaded in {seconds:.2f} s, "
          f"bounds {tuple(round(v) for v in layout.bounds_m())} m")
    assert 20_000 <= len(layout) <= 50_000
    assert 5_000 <= layout.count("lamp") <= 25_000
    assert 15_000 <= layout.count("home") <= 35_000
    assert seconds < 20.0
    assert layout.name == "monaco"
    assert layout.origin_lonlat is not None
    lon, lat = layout.origin_lonlat
    assert 7.35 < lon < 7.50 and 43.70 < lat < 43.78
    x0, y0, x1, y1 = layout.bounds_m()
    assert 8_000 < x1 - x0 < 14_000 and 4_000 < y1 - y0 < 9_000


def test_monaco_connectivity_at_50_m(monaco: tuple[L.Layout, float]) -> None:
    layout, _ = monaco
    pairs = L.neighbour_pairs(layout, 50.0)
    mean = L.mean_neighbours(layout, 50.0, pairs=pairs)
    largest = L.largest_component_fraction(layout, 50.0, pairs=pairs)
    print(f"\nmonaco at 50 m: {mean:.2f} neighbours on average, largest component "
          f"{100 * largest:.1f} %")
    assert 12.0 <= mean <= 26.0
    assert 0.85 <= largest <= 0.99
    assert np.array_equal(pairs, L.neighbour_pairs(layout, 50.0, method="grid"))


def test_monaco_projection_error_is_small() -> None:
    features = read_osm(_need(MONACO))
    print(f"\nmonaco: worst projection scale error {100 * features.scale_error:.3f} %, "
          f"counts {features.counts}")
    assert features.scale_error < 0.001


def test_west_oakland_loads() -> None:
    path = _need(OAKLAND)
    layout = L.from_osm(path)
    pairs = L.neighbour_pairs(layout, 50.0)
    print(f"\nWest Oakland: {len(layout)} bulbs = {layout.count('lamp')} lamps + "
          f"{layout.count('home')} building bulbs; at 50 m "
          f"{L.mean_neighbours(layout, 50.0, pairs=pairs):.2f} neighbours, largest component "
          f"{100 * L.largest_component_fraction(layout, 50.0, pairs=pairs):.1f} %")
    assert layout.name == "West-Oakland"
    assert 100 <= layout.count("lamp") <= 1_000
    assert 10 <= layout.count("home") <= 100
    assert layout.origin_lonlat is not None
    lon, lat = layout.origin_lonlat
    assert -122.32 < lon < -122.28 and 37.79 < lat < 37.83
