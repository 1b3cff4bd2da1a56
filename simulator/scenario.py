"""Simulation scenarios: one TOML file (simulator/scenarios/*.toml), checked key by key.

Rules kept here:
1. Every unknown section or key, wrong type, out-of-range value, missing required key and
   missing OSM file raises ScenarioError. Its message names the file, the key path
   (``radio.range_m``, ``churn.power_cut[2].radius_m``; [[...]] entries count from 1) and what
   was expected, and for a typo the closest valid key.
2. Nothing is guessed: a default is used only when a key is absent. A file must state
   ``scenario.name``, ``scenario.seed``, ``scenario.duration_s``, ``layout.kind`` and the keys
   its kind needs (grid: nodes; random: nodes, area_m; clustered: homes; osm: osm_file).
   The layout keys are the parameters of the layouts module's builders.
3. The dataclasses are frozen and mirror the TOML keys one to one (same names, same value
   types); ``Scenario.to_dict`` gives the TOML shape back, so a scenario can be overridden,
   checked again and recorded next to its results.
4. A relative ``layout.osm_file`` in a file is taken from the scenario file's folder; an
   override value (``--osm``, ``--param``) from the current directory. Both are stored absolute.
5. An override is parsed with the type its field declares and the whole scenario is then
   checked again, so an override can never make a scenario that a file could not.
6. ``[core]`` keys and values are checked by the protocol core's own ``Config``.
7. Parsing reads the scenario file only; it checks that the OSM file exists but does not read it.

One module past 600 lines because the dataclasses, the checked reader and the override parser
share one set of keys; split it only as a whole.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from typing import Any, get_args, get_type_hints

from meshbulb.config import Config as _UntypedConfig
from meshbulb.config import ConfigError
from meshbulb_gateway.toml_table import REQUIRED, TomlTable, read_text
from meshbulb_gateway.toml_table import is_int as _is_int
from meshbulb_gateway.toml_table import is_number as _is_number
from meshbulb_gateway.toml_table import suggest as _suggest

from .radio import DSSS_RATES_KBIT_S
from .receiver import ESPNOW_RXBUF_BYTES, FRAME_PROCESSING_US

# The core is untyped MicroPython-compatible code; call it through Any.
Config: Any = _UntypedConfig

LAYOUT_KINDS = ("grid", "random", "clustered", "osm")
OSM_SUFFIXES = (".osm", ".osm.bz2", ".osm.pbf")
MAX_DURATION_S = 10 * 86400.0
MAX_DISTANCE_M = 100_000.0


class ScenarioError(Exception):
    """The scenario (or an override of it) is unusable; str(e) says where and why."""


@dataclass(frozen=True)
class ScenarioSection:
    """[scenario]: what the run is called, its seed and its length."""

    name: str
    seed: int
    duration_s: float
    warmup_s: float = 0.0  # metrics ignore this much of the start
    bucket_s: float = 10.0  # width of one timeline bucket


@dataclass(frozen=True)
class LayoutSection:
    """[layout]: where the bulbs are. Which keys apply depends on ``kind`` (LAYOUT_KEYS)."""

    kind: str
    nodes: int | None = None  # grid, random
    area_m: float | None = None  # random: side of the square
    spacing_m: float = 30.0  # grid
    homes: int | None = None  # clustered
    bulbs_per_home_min: int = 1  # clustered: each home gets min..max bulbs (uniform)
    bulbs_per_home_max: int = 10  # clustered
    street_spacing_m: float = 80.0  # clustered: side of one square block of homes
    osm_file: str | None = None  # osm: absolute path of a .osm, .osm.bz2 or .osm.pbf extract
    lamp_spacing_m: float = 30.0  # clustered, osm: one street lamp per this many metres
    bulbs_per_building: int = 1  # osm


LAYOUT_KEYS: dict[str, tuple[str, ...]] = {
    "grid": ("nodes", "spacing_m"),
    "random": ("nodes", "area_m"),
    "clustered": ("homes", "bulbs_per_home_min", "bulbs_per_home_max", "street_spacing_m",
                  "lamp_spacing_m"),
    "osm": ("osm_file", "lamp_spacing_m", "bulbs_per_building"),
}


@dataclass(frozen=True)
class RadioSection:
    """[radio]: the ESP-NOW medium."""

    range_m: float = 50.0  # distance at which the median link is at the reception threshold
    path_loss_exponent: float = 3.0
    shadowing_db: float = 4.0  # standard deviation of log-normal shadowing
    bitrate_kbit_s: float = 1000.0  # ESP-NOW's 1 Mbit/s PHY
    retries: int = 7  # unicast retransmissions (the 802.11 short retry limit an ESP32 uses)
    cca: bool = True  # carrier sense before sending


@dataclass(frozen=True)
class BulbSection:
    """[bulb]: how a bulb takes frames in (receiver.py): its CPU time per frame and the size of
    ESP-NOW's receive buffer in front of it."""

    frame_processing_us: float = FRAME_PROCESSING_US
    rx_buffer_bytes: int = ESPNOW_RXBUF_BYTES  # MicroPython espnow's rxbuf


@dataclass(frozen=True)
class GatewaySection:
    """[gateways]: ``count`` or ``per_bulbs`` (exactly one is not None)."""

    count: int | None = None
    per_bulbs: int | None = 250  # one gateway per this many bulbs
    uplink_kbit_s: float = 20000.0

    def gateways_for(self, bulbs: int) -> int:
        """How many gateways a layout of ``bulbs`` bulbs gets (at least one)."""
        if self.count is not None:
            return self.count
        return max(1, math.ceil(bulbs / (self.per_bulbs or 1)))


@dataclass(frozen=True)
class TrafficSection:
    """[traffic]: offered load, per bulb."""

    internet_packets_per_min: float = 1.0
    internet_flow_packets: float = 1.0  # mean packets per internet flow (geometric)
    packet_bytes: int = 100
    p2p_packets_per_min: float = 0.0
    p2p_radius_m: float = 0.0  # peers within this distance; 0: any bulb of the city
    group_messages_per_min: float = 0.0
    group_hops: int = 3  # a group message floods this many hops around its sender


@dataclass(frozen=True)
class PowerCut:
    """One [[churn.power_cut]]: every bulb within ``radius_m`` of the centre goes dark.
    The centre is (x_m, y_m), or the layout's centre when ``centre`` is true."""

    at_s: float
    duration_s: float
    radius_m: float
    x_m: float | None = None
    y_m: float | None = None
    centre: bool = False


@dataclass(frozen=True)
class GatewayFailure:
    """One [[churn.gateway_failure]]: gateway ``gateway`` (from 0) loses its uplink."""

    at_s: float
    duration_s: float
    gateway: int


@dataclass(frozen=True)
class ChurnSection:
    """[churn]: bulbs and gateways coming and going.

    ``off_fraction`` of the bulbs are switched off at the wall at any time; with ``diurnal``
    they switch off and on during the run (each off period lasting ``mean_off_s`` on average),
    without it the same bulbs stay off for the whole run."""

    diurnal: bool = False
    off_fraction: float = 0.0
    mean_off_s: float = 600.0
    joins_per_min: float = 0.0  # new bulbs joining the mesh
    power_cut: tuple[PowerCut, ...] = ()
    gateway_failure: tuple[GatewayFailure, ...] = ()


@dataclass(frozen=True)
class BaselinesSection:
    """[baselines]: reference runs made after the main run, on the same layout and traffic."""

    flooding: bool = False  # plain flooding (flooding.py), no routing protocol at all


@dataclass(frozen=True)
class Scenario:
    """A checked scenario. ``core`` holds protocol-core Config overrides; ``source`` names the
    file it came from (for messages; not part of the scenario)."""

    scenario: ScenarioSection
    layout: LayoutSection
    radio: RadioSection = field(default_factory=RadioSection)
    bulb: BulbSection = field(default_factory=BulbSection)
    gateways: GatewaySection = field(default_factory=GatewaySection)
    traffic: TrafficSection = field(default_factory=TrafficSection)
    churn: ChurnSection = field(default_factory=ChurnSection)
    core: dict[str, int] = field(default_factory=dict)
    baselines: BaselinesSection = field(default_factory=BaselinesSection)
    source: str = field(default="<scenario>", compare=False)

    def bulb_count(self) -> int | None:
        """Bulbs a grid or random layout will have; None when only building the layout can
        tell (clustered homes draw their bulbs, an OSM extract has its own streets)."""
        return self.layout.nodes if self.layout.kind in ("grid", "random") else None

    def core_config(self) -> Any:
        """The protocol core's ``meshbulb.config.Config`` with the [core] overrides."""
        return Config(**self.core)

    def with_seed(self, seed: int) -> Scenario:
        """The same scenario with another seed."""
        return replace(self, scenario=replace(self.scenario, seed=seed))

    def to_dict(self) -> dict[str, Any]:
        """The scenario in TOML shape: parse_dict(s.to_dict()) == s (for an absolute osm_file)."""
        layout = {"kind": self.layout.kind}
        for key in LAYOUT_KEYS.get(self.layout.kind, ()):
            value = getattr(self.layout, key)
            if value is not None:
                layout[key] = value
        gateways = _plain(self.gateways)
        churn = _plain(self.churn)
        churn["power_cut"] = [_plain(cut) for cut in self.churn.power_cut]
        churn["gateway_failure"] = [_plain(f) for f in self.churn.gateway_failure]
        return {"scenario": _plain(self.scenario), "layout": layout, "radio": _plain(self.radio),
                "bulb": _plain(self.bulb), "gateways": gateways, "traffic": _plain(self.traffic),
                "churn": churn, "core": dict(self.core), "baselines": _plain(self.baselines)}


def _plain(section: Any) -> dict[str, Any]:
    """A section's fields as a TOML table: None (absent) values left out."""
    return {f.name: getattr(section, f.name) for f in fields(section)
            if getattr(section, f.name) is not None}


# -- reading TOML tables ---------------------------------------------------------------------

_SECTIONS = ("scenario", "layout", "radio", "bulb", "gateways", "traffic", "churn", "core",
             "baselines")
_SECTION_TYPES: dict[str, type] = {
    "scenario": ScenarioSection, "layout": LayoutSection, "radio": RadioSection,
    "bulb": BulbSection, "gateways": GatewaySection, "traffic": TrafficSection,
    "churn": ChurnSection, "baselines": BaselinesSection,
}
_ENTRY_TYPES: dict[str, type] = {"power_cut": PowerCut, "gateway_failure": GatewayFailure}


class _Table(TomlTable):
    """A scenario table (toml_table.py) with numbers and [[array]] entries."""

    error_type = ScenarioError

    def number(self, key: str, default: object, low: float, high: float,
               above: bool = False) -> Any:
        """A float in [low, high], or in (low, high] when ``above``."""
        value = self._get(key, default, "a number", _is_number)
        if value is None:
            return None
        if not (low < value <= high if above else low <= value <= high):
            bound = f"greater than {low:g} and at most" if above else f"from {low:g} to"
            raise self.error(key, f"expected a number {bound} {high:g}, got {value}")
        return float(value)

    def entries(self, key: str) -> list[_Table]:
        """The [[path.key]] entries, each a _Table named ``path.key[i]``."""
        self.known.append(key)
        raw = self.data.get(key, [])
        if isinstance(raw, dict):
            raise self.error(key, f"expected [[{self.path}.{key}]] entries (two brackets), "
                             f"got a [{self.path}.{key}] table")
        if not isinstance(raw, list) or not all(isinstance(v, dict) for v in raw):
            raise self.error(key, f"expected [[{self.path}.{key}]] entries")
        return [_Table(v, f"{self.path}.{key}[{i}]", self.source) for i, v in enumerate(raw, 1)]

    def sub(self, key: str, required: bool = False) -> _Table:
        value = self._get(key, REQUIRED if required else {}, "a table",
                          lambda v: isinstance(v, dict))
        return _Table(value, key, self.source)


# -- sections --------------------------------------------------------------------------------

def _scenario(t: _Table) -> ScenarioSection:
    section = ScenarioSection(
        name=t.string("name", REQUIRED),
        seed=t.integer("seed", REQUIRED, 0, 2**63 - 1),
        duration_s=t.number("duration_s", REQUIRED, 0, MAX_DURATION_S, above=True),
        warmup_s=t.number("warmup_s", 0.0, 0, MAX_DURATION_S),
        bucket_s=t.number("bucket_s", 10.0, 0, MAX_DURATION_S, above=True),
    )
    if not section.name.strip():
        raise t.error("name", "expected a name, got an empty string")
    if section.warmup_s >= section.duration_s:
        raise t.error("warmup_s", f"expected less than duration_s ({section.duration_s:g} s), "
                      f"got {section.warmup_s:g}")
    if section.bucket_s > section.duration_s:
        raise t.error("bucket_s", f"expected at most duration_s ({section.duration_s:g} s), "
                      f"got {section.bucket_s:g}")
    t.done()
    return section


def _layout(t: _Table, base_dir: str) -> LayoutSection:
    kind = t.string("kind", REQUIRED, LAYOUT_KINDS)
    applies = LAYOUT_KEYS[kind]
    for key in t.data:
        owners = [k for k, keys in LAYOUT_KEYS.items() if key in keys]
        if key != "kind" and key not in applies and owners:
            raise t.error(key, f'not a key of a kind = "{kind}" layout (it belongs to kind = '
                          + " or ".join(f'"{k}"' for k in owners) + ")")
    values: dict[str, Any] = {}
    if kind in ("grid", "random"):
        values["nodes"] = t.integer("nodes", REQUIRED, 1, 10_000_000)
    if kind == "grid":
        values["spacing_m"] = t.number("spacing_m", 30.0, 0, MAX_DISTANCE_M, above=True)
    if kind == "random":
        values["area_m"] = t.number("area_m", REQUIRED, 0, MAX_DISTANCE_M, above=True)
    if kind == "clustered":
        values["homes"] = t.integer("homes", REQUIRED, 1, 10_000_000)
        low = values["bulbs_per_home_min"] = t.integer("bulbs_per_home_min", 1, 1, 1000)
        high = values["bulbs_per_home_max"] = t.integer("bulbs_per_home_max", 10, 1, 1000)
        if high < low:
            raise t.error("bulbs_per_home_max", f"expected at least bulbs_per_home_min ({low}), "
                          f"got {high}")
        values["street_spacing_m"] = t.number("street_spacing_m", 80.0, 0, MAX_DISTANCE_M,
                                              above=True)
    if kind in ("clustered", "osm"):
        values["lamp_spacing_m"] = t.number("lamp_spacing_m", 30.0, 0, MAX_DISTANCE_M,
                                            above=True)
    if kind == "osm":
        values["bulbs_per_building"] = t.integer("bulbs_per_building", 1, 0, 1000)
        values["osm_file"] = _osm_file(t, base_dir)
    t.done()
    return LayoutSection(kind=kind, **values)


def _osm_file(t: _Table, base_dir: str) -> str:
    if "osm_file" not in t.data:
        t.known.append("osm_file")
        raise t.error("osm_file", 'missing; a kind = "osm" layout needs an OpenStreetMap '
                      "extract (" + ", ".join(OSM_SUFFIXES) + "): set osm_file in the "
                      "scenario or give it on the command line with --osm FILE")
    path: str = t.string("osm_file", REQUIRED)
    if not path.lower().endswith(OSM_SUFFIXES):
        raise t.error("osm_file", "expected an OpenStreetMap extract ending in "
                      + ", ".join(OSM_SUFFIXES) + f", got {path!r}")
    full = os.path.normpath(os.path.join(base_dir, os.path.expanduser(path)))
    if not os.path.isfile(full):
        where = "" if os.path.isabs(path) else f" (relative paths are taken from {base_dir})"
        raise t.error("osm_file", f"no such file: {full}{where}")
    return full


def _radio(t: _Table) -> RadioSection:
    section = RadioSection(
        range_m=t.number("range_m", 50.0, 0, 10_000, above=True),
        path_loss_exponent=t.number("path_loss_exponent", 3.0, 1.0, 8.0),
        shadowing_db=t.number("shadowing_db", 4.0, 0, 30),
        bitrate_kbit_s=_dsss_rate(t),
        retries=t.integer("retries", RadioSection.retries, 0, 15),
        cca=t.boolean("cca", True),
    )
    t.done()
    return section


def _dsss_rate(t: _Table) -> float:
    """radio.py rule 4: the medium's timing is 802.11b's, so only its rates are modelled."""
    rate = t.number("bitrate_kbit_s", RadioSection.bitrate_kbit_s, 0, 1_000_000, above=True)
    if rate not in DSSS_RATES_KBIT_S:
        rates = ", ".join(str(r) for r in DSSS_RATES_KBIT_S)
        raise t.error("bitrate_kbit_s", f"expected one of {rates} (802.11b's rates: the medium "
                      f"models DSSS timing, not that of OFDM rates), got {rate:g}")
    return rate


def _bulb(t: _Table) -> BulbSection:
    section = BulbSection(
        frame_processing_us=t.number("frame_processing_us", BulbSection.frame_processing_us,
                                     0, 1_000_000),
        rx_buffer_bytes=t.integer("rx_buffer_bytes", BulbSection.rx_buffer_bytes, 0, 1_000_000),
    )
    t.done()
    return section


def _gateways(t: _Table) -> GatewaySection:
    count = t.integer("count", None, 1, 100_000)
    per_bulbs = t.integer("per_bulbs", None, 1, 10_000_000)
    if count is not None and per_bulbs is not None:
        raise t.error("per_bulbs", "give either count or per_bulbs, not both")
    section = GatewaySection(
        count=count,
        per_bulbs=per_bulbs if count is not None or per_bulbs is not None else 250,
        uplink_kbit_s=t.number("uplink_kbit_s", 20000.0, 0, 100_000_000, above=True),
    )
    t.done()
    return section


def _traffic(t: _Table) -> TrafficSection:
    section = TrafficSection(
        internet_packets_per_min=t.number("internet_packets_per_min", 1.0, 0, 60_000),
        internet_flow_packets=t.number("internet_flow_packets", 1.0, 1, 10_000),
        packet_bytes=t.integer("packet_bytes", 100, 1, 65535),
        p2p_packets_per_min=t.number("p2p_packets_per_min", 0.0, 0, 60_000),
        p2p_radius_m=t.number("p2p_radius_m", 0.0, 0, 1_000_000),
        group_messages_per_min=t.number("group_messages_per_min", 0.0, 0, 60_000),
        group_hops=t.integer("group_hops", 3, 1, 64),
    )
    t.done()
    return section


def _event_times(t: _Table, run: ScenarioSection) -> tuple[float, float]:
    at_s = t.number("at_s", REQUIRED, 0, MAX_DURATION_S)
    if at_s >= run.duration_s:
        raise t.error("at_s", f"expected a time before the end of the run (scenario.duration_s "
                      f"= {run.duration_s:g} s), got {at_s:g}")
    return at_s, t.number("duration_s", REQUIRED, 0, MAX_DURATION_S, above=True)


def _power_cut(t: _Table, run: ScenarioSection) -> PowerCut:
    at_s, duration_s = _event_times(t, run)
    radius_m = t.number("radius_m", REQUIRED, 0, MAX_DISTANCE_M, above=True)
    centre = t.boolean("centre", False)
    x_m = t.number("x_m", None, -MAX_DISTANCE_M, MAX_DISTANCE_M)
    y_m = t.number("y_m", None, -MAX_DISTANCE_M, MAX_DISTANCE_M)
    if centre and (x_m is not None or y_m is not None):
        raise t.error("centre", "give either centre = true or x_m and y_m, not both")
    if not centre:
        for key, value in (("x_m", x_m), ("y_m", y_m)):
            if value is None:
                raise t.error(key, "missing; expected a number of metres (or centre = true "
                              "for the layout's centre)")
    t.done()
    return PowerCut(at_s, duration_s, radius_m, x_m, y_m, centre)


def _gateway_failure(t: _Table, run: ScenarioSection, gateways: int | None) -> GatewayFailure:
    at_s, duration_s = _event_times(t, run)
    high = gateways - 1 if gateways is not None else 100_000
    index = t._get("gateway", REQUIRED, "a gateway index (from 0)", _is_int)
    if not 0 <= index <= high:
        known = f" (the scenario has {gateways} gateways)" if gateways is not None else ""
        raise t.error("gateway", f"expected a gateway index from 0 to {high}{known}, "
                      f"got {index}")
    t.done()
    return GatewayFailure(at_s, duration_s, index)


def _churn(t: _Table, run: ScenarioSection, gateways: int | None) -> ChurnSection:
    section = ChurnSection(
        diurnal=t.boolean("diurnal", False),
        off_fraction=t.number("off_fraction", 0.0, 0, 1),
        mean_off_s=t.number("mean_off_s", 600.0, 0, MAX_DURATION_S, above=True),
        joins_per_min=t.number("joins_per_min", 0.0, 0, 60_000),
        power_cut=tuple(_power_cut(e, run) for e in t.entries("power_cut")),
        gateway_failure=tuple(_gateway_failure(e, run, gateways)
                              for e in t.entries("gateway_failure")),
    )
    t.done()
    return section


def _baselines(t: _Table) -> BaselinesSection:
    section = BaselinesSection(flooding=t.boolean("flooding", False))
    t.done()
    return section


def _core(t: _Table) -> dict[str, int]:
    keys = Config.keys()
    for key in t.data:
        if key not in keys:
            raise t.error(key, "unknown protocol-core key" + _suggest(key, keys))
        try:
            Config(**{key: t.data[key]})
        except ConfigError as e:
            raise t.error(key, str(e)) from None
    core = dict(t.data)
    try:
        Config(**core)
    except ConfigError as e:
        match = re.match(r"\w+", str(e))
        key = match.group(0) if match and match.group(0) in core else ""
        raise t.error(key, str(e)) if key else ScenarioError(f"{t.source}: core: {e}") from None
    return core


# -- entry points ----------------------------------------------------------------------------

def parse_dict(data: dict[str, Any], source: str = "<scenario>",
               base_dir: str | None = None) -> Scenario:
    """Check a scenario already in TOML shape (as tomllib gives it, or Scenario.to_dict)."""
    if base_dir is None:
        base_dir = os.path.dirname(os.path.abspath(source)) if not source.startswith("<") else ""
    for key in data:
        if key not in _SECTIONS:
            raise ScenarioError(f"{source}: [{key}]: unknown section" + _suggest(key, _SECTIONS))
    root = _Table(data, "", source)
    run = _scenario(root.sub("scenario", required=True))
    layout = _layout(root.sub("layout", required=True), base_dir or os.getcwd())
    radio = _radio(root.sub("radio"))
    bulb = _bulb(root.sub("bulb"))
    gateways = _gateways(root.sub("gateways"))
    bulbs = Scenario(run, layout).bulb_count()
    count = gateways.count
    if count is None and bulbs is not None:
        count = gateways.gateways_for(bulbs)
    return Scenario(
        scenario=run, layout=layout, radio=radio, bulb=bulb, gateways=gateways,
        traffic=_traffic(root.sub("traffic")),
        churn=_churn(root.sub("churn"), run, count),
        core=_core(root.sub("core")),
        baselines=_baselines(root.sub("baselines")),
        source=source,
    )


def parse_scenario(text: str, source: str = "<scenario>", base_dir: str | None = None,
                   overrides: dict[str, str] | None = None) -> Scenario:
    """Parse and check a scenario; relative paths are taken from ``base_dir`` (default: the
    folder of ``source`` when it is a file name, else the current directory). ``overrides``
    ({"radio.range_m": "60"}) are applied before the check, so they may fill required keys."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError(f"{source}: TOML syntax error: {e}") from None
    for path, value in (overrides or {}).items():
        _override_raw(data, path, value, source)
    try:
        return parse_dict(data, source, base_dir)
    except ScenarioError as e:
        raise _with_overrides(e, overrides) from None


def load_scenario(path: str, overrides: dict[str, str] | None = None) -> Scenario:
    """Read and check the scenario file at ``path``, with command-line ``overrides`` such as
    {"layout.osm_file": "monaco.osm.pbf", "radio.range_m": "60"}."""
    text = read_text(path, "scenario file", ScenarioError)
    return parse_scenario(text, path, os.path.dirname(os.path.abspath(path)), overrides)


def apply_override(scenario: Scenario, path: str, value: str) -> Scenario:
    """The scenario with the key at ``path`` ("radio.range_m", "core.mtu",
    "churn.power_cut[1].radius_m") set to ``value`` parsed with that key's type, checked again."""
    data = scenario.to_dict()
    _override_raw(data, path, value, scenario.source)
    try:
        return parse_dict(data, scenario.source, base_dir=os.getcwd())
    except ScenarioError as e:
        raise _with_overrides(e, {path: value}) from None


def scenario_value(scenario: Scenario, path: str) -> Any:
    """The value at a key path as apply_override names it ("radio.range_m", "core.mtu")."""
    section, _, rest = path.partition(".")
    if section == "core":
        return scenario.core.get(rest, getattr(Config, rest, None))
    value: Any = getattr(scenario, section)
    for part in rest.split("."):
        match = re.fullmatch(r"(\w+)\[(\d+)\]", part)
        value = getattr(value, match[1])[int(match[2]) - 1] if match else getattr(value, part)
    return value


def _with_overrides(error: ScenarioError, overrides: dict[str, str] | None) -> ScenarioError:
    if not overrides:
        return error
    given = ", ".join(f"{k}={v}" for k, v in overrides.items())
    return ScenarioError(f"{error} (override{'s' if len(overrides) > 1 else ''} {given})")


def _override_raw(data: dict[str, Any], path: str, text: str, source: str) -> None:
    """Set ``path`` in the TOML-shaped ``data`` to ``text`` parsed with the field's type."""
    def error(message: str) -> ScenarioError:
        return ScenarioError(f"{source}: {path}: {message} (override {path}={text})")

    parts = path.split(".")
    section = parts[0]
    if section not in _SECTIONS:
        raise error(f"unknown section {section!r}" + _suggest(section, _SECTIONS))
    table = data.setdefault(section, {})
    if not isinstance(table, dict) or len(parts) not in (2, 3):
        raise error("expected SECTION.KEY, such as radio.range_m or core.mtu")
    kind: Any
    if section == "core":
        core_keys = Config.keys()
        if len(parts) != 2 or parts[1] not in core_keys:
            raise error("unknown protocol-core key" + _suggest(parts[-1], core_keys))
        kind = int
    else:
        cls = _SECTION_TYPES[section]
        if len(parts) == 3:
            match = re.fullmatch(r"(\w+)\[(\d+)\]", parts[1])
            if section != "churn" or not match or match[1] not in _ENTRY_TYPES:
                raise error("expected churn.power_cut[N].KEY or churn.gateway_failure[N].KEY")
            entries = table.get(match[1], [])
            index = int(match[2])
            if not isinstance(entries, list) or not 1 <= index <= len(entries):
                raise error(f"no such entry: the scenario has {len(entries)} "
                            f"[[churn.{match[1]}]] entries (counted from 1)")
            cls, table = _ENTRY_TYPES[match[1]], entries[index - 1]
        hints = get_type_hints(cls)
        names = [name for name in hints if name not in _ENTRY_TYPES]
        if parts[-1] not in names:
            raise error("unknown key" + _suggest(parts[-1], names))
        kind = hints[parts[-1]]
    value = _parse_text(text, kind, error)
    key = parts[-1]
    if path == "layout.osm_file":
        value = os.path.abspath(os.path.expanduser(value))
    if section == "gateways" and key in ("count", "per_bulbs"):
        table.pop("per_bulbs" if key == "count" else "count", None)
    table[key] = value


def _parse_text(text: str, kind: Any, error: Callable[[str], ScenarioError]) -> Any:
    options = [k for k in get_args(kind) if k is not type(None)] or [kind]
    kind = options[0]
    word = text.strip()
    if kind is bool:
        lowered = word.lower()
        if lowered in ("true", "1", "yes", "on"):
            return True
        if lowered in ("false", "0", "no", "off"):
            return False
        raise error(f"expected true or false, got {text!r}")
    if kind is int:
        try:
            return int(word, 10)
        except ValueError:
            raise error(f"expected an integer, got {text!r}") from None
    if kind is float:
        try:
            number = float(word)
        except ValueError:
            raise error(f"expected a number, got {text!r}") from None
        if not math.isfinite(number):
            raise error(f"expected a finite number, got {text!r}")
        return number
    return text
