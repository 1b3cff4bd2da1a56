"""Read OpenStreetMap extracts (.osm, .osm.bz2, .osm.pbf) into street polylines and building
centroids in metres, for the layout generators in layouts.py.

Rules kept here:
1. One reader: pyosmium (libosmium). It streams XML, bzip2/gzip XML and PBF alike; this module
   never parses OSM formats itself.
2. Every failure of the reader becomes an OsmError that names the file and says what went wrong
   (with a hint where the libosmium text is cryptic). Nothing read before an error is returned:
   a file either loads whole or raises.
3. Streets are ways whose `highway` value is one of `street_classes` (DEFAULT_STREET_CLASSES);
   tunnels and private service spurs (driveways, parking aisles) are left out. Nodes whose
   location is missing from the extract split a polyline rather than join its ends.
4. Buildings are ways, multipolygon relations and nodes with a `building` tag (not "no" and not a
   ruin, roof or construction site); each gives one centroid: the area centroid of its outline
   (outer rings less inner rings), or the mean of its vertices when the outline is open or flat.
5. Positions are projected with a local equirectangular projection on the WGS84 ellipsoid
   around the centre of the data's bounding box (LocalProjection); x is east, y is north.
6. No global state: a call reads one file and returns a value.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import osmium

FloatArray = npt.NDArray[np.float64]

# Street classes where public lamps stand: the road network of a town, from trunk roads down to
# residential streets, service roads and pedestrian zones. Left out: motorways (lit, if at all,
# away from homes), tracks, paths, footways, steps and cycleways (footways often duplicate the
# sidewalks of streets already counted), and anything under construction or proposed.
DEFAULT_STREET_CLASSES: frozenset[str] = frozenset({
    "trunk", "trunk_link",
    "primary", "primary_link",
    "secondary", "secondary_link",
    "tertiary", "tertiary_link",
    "unclassified", "residential", "living_street", "pedestrian", "service",
})
# service=* values that are private spurs rather than lit streets.
EXCLUDED_SERVICE_VALUES: frozenset[str] = frozenset({
    "driveway", "parking_aisle", "drive-through", "emergency_access",
})
# tunnel=* values that still count as open air (a short passage under a building).
OPEN_AIR_TUNNEL_VALUES: frozenset[str] = frozenset({"no", "building_passage"})
# building=* values without bulbs inside.
EXCLUDED_BUILDING_VALUES: frozenset[str] = frozenset({
    "no", "roof", "ruins", "construction", "proposed", "demolished", "destroyed", "collapsed",
})

# WGS84 ellipsoid.
_WGS84_A_M = 6378137.0
_WGS84_F = 1.0 / 298.257223563
_WGS84_E2 = _WGS84_F * (2.0 - _WGS84_F)

# libbzip2 return codes that libosmium reports as "bzip2 error: read failed: N".
_BZIP2_HINTS: dict[str, str] = {
    "-7": "the compressed data ends early: the file looks truncated",
    "-5": "this is not bzip2 data (wrong file, or wrong extension)",
    "-4": "the compressed data is corrupt: checksum or format error",
}


class OsmError(Exception):
    """An OSM extract that cannot be read or holds nothing to lay bulbs on."""


@dataclass(frozen=True)
class LocalProjection:
    """Equirectangular projection on the WGS84 ellipsoid around (lon0_deg, lat0_deg).

    x = N(lat0) cos(lat0) (lon - lon0), y = M(lat0) (lat - lat0), angles in radians, where M and
    N are the meridional and prime-vertical radii of curvature. Scale is exact at lat0 and off
    by about tan(lat0) * |lat - lat0| (radians) elsewhere: 0.05 % at 3 km from the centre at
    45 degrees.
    """

    lon0_deg: float
    lat0_deg: float

    @property
    def metres_per_rad_x(self) -> float:
        phi = math.radians(self.lat0_deg)
        n_m = _WGS84_A_M / math.sqrt(1.0 - _WGS84_E2 * math.sin(phi) ** 2)
        return n_m * math.cos(phi)

    @property
    def metres_per_rad_y(self) -> float:
        phi = math.radians(self.lat0_deg)
        return _WGS84_A_M * (1.0 - _WGS84_E2) / math.pow(1.0 - _WGS84_E2 * math.sin(phi) ** 2, 1.5)

    def to_metres(self, lonlat_deg: FloatArray) -> FloatArray:
        """(K, 2) lon/lat in degrees -> (K, 2) x/y in metres."""
        lonlat = np.asarray(lonlat_deg, dtype=np.float64).reshape(-1, 2)
        out = np.empty_like(lonlat)
        out[:, 0] = np.radians(lonlat[:, 0] - self.lon0_deg) * self.metres_per_rad_x
        out[:, 1] = np.radians(lonlat[:, 1] - self.lat0_deg) * self.metres_per_rad_y
        return out

    def to_lonlat(self, xy_m: FloatArray) -> FloatArray:
        """(K, 2) x/y in metres -> (K, 2) lon/lat in degrees (inverse of to_metres)."""
        xy = np.asarray(xy_m, dtype=np.float64).reshape(-1, 2)
        out = np.empty_like(xy)
        out[:, 0] = self.lon0_deg + np.degrees(xy[:, 0] / self.metres_per_rad_x)
        out[:, 1] = self.lat0_deg + np.degrees(xy[:, 1] / self.metres_per_rad_y)
        return out

    def scale_error(self, lat_min_deg: float, lat_max_deg: float) -> float:
        """Largest relative east-west scale error between these latitudes (0.001 = 0.1 %)."""
        worst = 0.0
        for lat in (lat_min_deg, lat_max_deg):
            true_x = LocalProjection(self.lon0_deg, lat).metres_per_rad_x
            worst = max(worst, abs(self.metres_per_rad_x / true_x - 1.0))
        return worst


@dataclass(frozen=True)
class OsmFeatures:
    """What an extract offers for bulbs, in metres around `projection`'s origin."""

    path: str
    projection: LocalProjection
    streets_m: list[FloatArray]          # polylines, each (K, 2), K >= 2
    street_classes: list[str]            # highway=* of each polyline
    buildings_m: FloatArray              # (B, 2) building centroids
    scale_error: float                   # worst relative scale error of the projection
    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class _Collector:
    """Lon/lat geometry gathered while streaming one file."""

    street_classes: frozenset[str]
    streets: list[FloatArray] = field(default_factory=list)
    street_kinds: list[str] = field(default_factory=list)
    buildings: list[tuple[float, float]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: {
        "street_ways": 0, "tunnel_ways": 0, "building_ways": 0, "building_relations": 0,
        "building_nodes": 0, "missing_locations": 0,
    })

    def way(self, way: osmium.osm.Way) -> None:
        tags = way.tags
        highway = tags.get("highway")
        if highway is not None and highway in self.street_classes and self._is_lit_street(way):
            self._add_street(way, highway)
        building = tags.get("building")
        if building is not None and building not in EXCLUDED_BUILDING_VALUES:
            lonlat = self._locations(way.nodes)
            if lonlat:
                self.counts["building_ways"] += 1
                self.buildings.append(_outline_centroid([lonlat], []))

    def area(self, area: osmium.osm.Area) -> None:
        # Closed ways come through way(); areas only add multipolygon relations.
        if area.from_way():
            return
        building = area.tags.get("building")
        if building is None or building in EXCLUDED_BUILDING_VALUES:
            return
        outers: list[list[tuple[float, float]]] = []
        inners: list[list[tuple[float, float]]] = []
        for outer in area.outer_rings():
            outers.append(self._locations(outer))
            inners.extend(self._locations(inner) for inner in area.inner_rings(outer))
        outers = [ring for ring in outers if ring]
        if outers:
            self.counts["building_relations"] += 1
            self.buildings.append(_outline_centroid(outers, [r for r in inners if r]))

    def node(self, node: osmium.osm.Node) -> None:
        building = node.tags.get("building")
        if building is not None and building not in EXCLUDED_BUILDING_VALUES \
                and node.location.valid():
            self.counts["building_nodes"] += 1
            self.buildings.append((node.location.lon, node.location.lat))

    def _is_lit_street(self, way: osmium.osm.Way) -> bool:
        tags = way.tags
        if tags.get("tunnel", "no") not in OPEN_AIR_TUNNEL_VALUES:
            self.counts["tunnel_ways"] += 1
            return False
        return tags.get("highway") != "service" or tags.get("service") \
            not in EXCLUDED_SERVICE_VALUES

    def _add_street(self, way: osmium.osm.Way, highway: str) -> None:
        run: list[tuple[float, float]] = []
        added = False
        for ref in way.nodes:
            loc = ref.location
            if loc.valid():
                run.append((loc.lon, loc.lat))
                continue
            self.counts["missing_locations"] += 1
            added = self._flush_run(run, highway) or added
            run = []
        added = self._flush_run(run, highway) or added
        if added:
            self.counts["street_ways"] += 1

    def _flush_run(self, run: list[tuple[float, float]], highway: str) -> bool:
        if len(run) < 2:
            return False
        self.streets.append(np.array(run, dtype=np.float64))
        self.street_kinds.append(highway)
        return True

    def _locations(self, refs: Iterable[osmium.osm.NodeRef]) -> list[tuple[float, float]]:
        out: list[tuple[float, float]] = []
        for ref in refs:
            loc = ref.location
            if loc.valid():
                out.append((loc.lon, loc.lat))
            else:
                self.counts["missing_locations"] += 1
        return out


def _ring_moments(ring: list[tuple[float, float]], lon_ref: float, lat_ref: float,
                  cos_ref: float) -> tuple[float, float, float]:
    """Shoelace (area, area*cx, area*cy) of a closed ring in a local frame (degrees of
    latitude), signed so that the area is positive whatever the ring's orientation.

    Plain Python: rings are short, and numpy's per-call cost would dominate."""
    area2 = mx6 = my6 = 0.0
    x0 = (ring[0][0] - lon_ref) * cos_ref
    y0 = ring[0][1] - lat_ref
    for lon, lat in ring[1:]:
        x1 = (lon - lon_ref) * cos_ref
        y1 = lat - lat_ref
        cross = x0 * y1 - x1 * y0
        area2 += cross
        mx6 += (x0 + x1) * cross
        my6 += (y0 + y1) * cross
        x0, y0 = x1, y1
    sign = 1.0 if area2 >= 0 else -1.0
    return sign * area2 / 2.0, sign * mx6 / 6.0, sign * my6 / 6.0


def _outline_centroid(outers: list[list[tuple[float, float]]],
                      inners: list[list[tuple[float, float]]]) -> tuple[float, float]:
    """Area centroid (lon, lat) of outer rings less inner rings; vertex mean if degenerate."""
    lon_ref, lat_ref = outers[0][0]
    cos_ref = math.cos(math.radians(lat_ref))
    area = mx = my = 0.0
    closed = all(len(r) >= 4 and r[0] == r[-1] for r in [*outers, *inners])
    if closed:
        for rings, sign in ((outers, 1.0), (inners, -1.0)):
            for ring in rings:
                a, ax, ay = _ring_moments(ring, lon_ref, lat_ref, cos_ref)
                area += sign * a
                mx += sign * ax
                my += sign * ay
    # 1e-12 deg^2 is about 0.01 m^2: below that the outline is a line or a point.
    if closed and area > 1e-12:
        return lon_ref + mx / area / cos_ref, lat_ref + my / area
    vertices = np.array([p for ring in outers
                         for p in (ring[:-1] if len(ring) > 1 and ring[0] == ring[-1] else ring)],
                        dtype=np.float64)
    mean = vertices.mean(axis=0)
    return float(mean[0]), float(mean[1])


def _reader_message(path: str, error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    hint = ""
    if text.startswith("bzip2 error: read failed:"):
        hint = _BZIP2_HINTS.get(text.rsplit(":", 1)[1].strip(), "")
    elif "unexpected EOF" in text or "truncated" in text:
        hint = "the file looks truncated"
    elif text.startswith("failed to uncompress"):
        hint = "the compressed data is corrupt"
    elif text.startswith("XML parsing error"):
        hint = "not well-formed OSM XML (truncated, or not an OSM file)"
    elif text.startswith("PBF error"):
        hint = "not a valid OSM PBF file (truncated, corrupt, or not an OSM file)"
    elif text.startswith("Could not detect file format"):
        hint = "expected .osm, .osm.bz2, .osm.gz or .osm.pbf"
    suffix = f" ({hint})" if hint else ""
    return f"cannot read OpenStreetMap file {path}: {text}{suffix}"


def read_osm(path: str | os.PathLike[str],
             street_classes: frozenset[str] = DEFAULT_STREET_CLASSES) -> OsmFeatures:
    """Stream one extract and return its street polylines and building centroids in metres.

    Raises OsmError if the file is missing, unreadable, truncated or corrupt, or holds no
    streets and no buildings.
    """
    name = os.fspath(path)
    file = Path(name)
    if not file.exists():
        raise OsmError(f"cannot read OpenStreetMap file {name}: no such file")
    if not file.is_file():
        raise OsmError(f"cannot read OpenStreetMap file {name}: not a regular file")

    collector = _Collector(street_classes=street_classes)
    processor = (
        osmium.FileProcessor(name)
        .with_areas(osmium.filter.KeyFilter("building"))
        .with_filter(osmium.filter.KeyFilter("highway", "building"))
    )
    try:
        for obj in processor:
            if isinstance(obj, osmium.osm.Way):
                collector.way(obj)
            elif isinstance(obj, osmium.osm.Area):
                collector.area(obj)
            elif isinstance(obj, osmium.osm.Node):
                collector.node(obj)
    except (RuntimeError, ValueError, OSError, osmium.InvalidLocationError) as error:
        raise OsmError(_reader_message(name, error)) from error

    if not collector.streets and not collector.buildings:
        raise OsmError(
            f"no streets or buildings in {name}: found no way tagged highway="
            f"{'|'.join(sorted(street_classes))} and nothing tagged building=*")
    return _project(name, collector)


def _project(name: str, collector: _Collector) -> OsmFeatures:
    chunks = [*collector.streets]
    if collector.buildings:
        chunks.append(np.array(collector.buildings, dtype=np.float64))
    every = np.concatenate(chunks)
    lo = every.min(axis=0)
    hi = every.max(axis=0)
    projection = LocalProjection(float(lo[0] + hi[0]) / 2.0, float(lo[1] + hi[1]) / 2.0)
    buildings = (projection.to_metres(np.array(collector.buildings, dtype=np.float64))
                 if collector.buildings else np.zeros((0, 2), dtype=np.float64))
    return OsmFeatures(
        path=name,
        projection=projection,
        streets_m=[projection.to_metres(line) for line in collector.streets],
        street_classes=list(collector.street_kinds),
        buildings_m=buildings,
        scale_error=projection.scale_error(float(lo[1]), float(hi[1])),
        counts=dict(collector.counts),
    )
