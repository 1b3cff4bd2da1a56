"""Scenario files: the shipped scenarios, one test per kind of mistake (each checked for a
message naming the file and key), [core] checked by the core's Config, and typed overrides."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from meshbulb_sim.scenario import (
    GatewayFailure,
    PowerCut,
    Scenario,
    ScenarioError,
    apply_override,
    load_scenario,
    parse_dict,
    parse_scenario,
    scenario_value,
)

SCENARIOS = Path(__file__).parents[2] / "simulator" / "scenarios"
MONACO = Path(__file__).parents[3] / "shared" / "data" / "monaco.osm.pbf"

MINIMAL = """
[scenario]
name = "t"
seed = 7
duration_s = 120

[layout]
kind = "grid"
nodes = 100
"""


def error_of(text: str, source: str = "s.toml", **kwargs: object) -> str:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, source, **kwargs)  # type: ignore[arg-type]
    return str(info.value)


def with_lines(*lines: str) -> str:
    return MINIMAL + "\n".join(lines) + "\n"


@pytest.fixture
def osm_file(tmp_path: Path) -> Path:
    path = tmp_path / "town.osm"
    path.write_text("<osm/>")
    return path


# -- the shipped scenarios -----------------------------------------------------------------

def test_ci_scenario() -> None:
    s = load_scenario(str(SCENARIOS / "ci.toml"))
    assert s.scenario.name == "ci"
    assert s.scenario.duration_s == 300 and 50 <= s.scenario.warmup_s <= 70
    assert s.layout.kind in ("grid", "clustered")
    assert s.bulb_count() is not None and 450 <= s.bulb_count() <= 550  # type: ignore[operator]
    assert s.gateways.gateways_for(s.bulb_count() or 0) == 5
    assert s.churn.diurnal and s.churn.off_fraction == pytest.approx(0.05)
    assert s.churn.gateway_failure == (GatewayFailure(at_s=180, duration_s=60, gateway=0),)


def test_district_scenario() -> None:
    s = load_scenario(str(SCENARIOS / "district.toml"))
    assert s.scenario.duration_s == 300
    assert s.layout.kind == "random" and s.bulb_count() == 5000
    assert s.churn.power_cut and s.churn.gateway_failure and s.churn.off_fraction > 0


def test_city_scenario_needs_osm_from_the_command_line() -> None:
    path = str(SCENARIOS / "city.toml")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    message = str(info.value)
    assert message.startswith(f"{path}: layout.osm_file: missing")
    assert "--osm" in message


@pytest.mark.skipif(not MONACO.exists(), reason="shared Monaco extract not present")
def test_city_scenario_with_osm() -> None:
    s = load_scenario(str(SCENARIOS / "city.toml"), {"layout.osm_file": str(MONACO)})
    assert s.layout.kind == "osm" and s.layout.osm_file == str(MONACO)
    assert s.scenario.duration_s == 300 and s.gateways.per_bulbs == 250
    assert s.bulb_count() is None


def test_city_osm_override_is_relative_to_the_current_directory(
        osm_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(osm_file.parent)
    s = load_scenario(str(SCENARIOS / "city.toml"), {"layout.osm_file": osm_file.name})
    assert s.layout.osm_file == str(osm_file)


@pytest.mark.parametrize("name", ["ci.toml", "district.toml", "city.toml"])
def test_every_key_of_the_shipped_scenarios_is_commented(name: str) -> None:
    for line in (SCENARIOS / name).read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            assert "#" in line, f"{name}: uncommented key: {line}"


@pytest.mark.parametrize("name", ["ci.toml", "district.toml"])
def test_to_dict_round_trips(name: str) -> None:
    s = load_scenario(str(SCENARIOS / name))
    assert parse_dict(s.to_dict(), s.source) == s


# -- defaults and sections -----------------------------------------------------------------

def test_minimal_scenario_gets_the_documented_defaults() -> None:
    s = parse_scenario(MINIMAL, "s.toml")
    assert s.scenario.warmup_s == 0 and s.scenario.bucket_s == 10
    assert s.layout.spacing_m == 30
    assert (s.radio.range_m, s.radio.path_loss_exponent, s.radio.shadowing_db) == (50, 3.0, 4.0)
    assert (s.radio.bitrate_kbit_s, s.radio.retries, s.radio.cca) == (1000, 7, True)
    assert (s.gateways.count, s.gateways.per_bulbs, s.gateways.uplink_kbit_s) == (None, 250, 20000)
    assert s.traffic.internet_packets_per_min == 1 and s.traffic.packet_bytes == 100
    assert s.churn.off_fraction == 0 and not s.churn.diurnal and s.churn.power_cut == ()
    assert s.core == {}
    assert isinstance(s.radio.range_m, float) and isinstance(s.layout.nodes, int)


@pytest.mark.parametrize("section", ["radio", "bulb", "gateways", "traffic", "churn",
                                     "baselines"])
def test_an_absent_key_gets_its_dataclass_default(section: str) -> None:
    """One default per key: a file without the key, the dataclass and SimSpec agree. (The
    reader gave radio.retries 3 where the dataclass and the shipped scenarios said 7.)"""
    table = getattr(parse_scenario(MINIMAL, "s.toml"), section)
    assert table == type(table)()


def test_scenario_is_frozen() -> None:
    s = parse_scenario(MINIMAL)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.radio.range_m = 3  # type: ignore[misc]


def test_layout_kinds() -> None:
    random = parse_scenario(MINIMAL.replace('kind = "grid"', 'kind = "random"\narea_m = 500'))
    assert (random.layout.kind, random.layout.nodes, random.layout.area_m) == ("random", 100, 500)
    clustered = parse_scenario(MINIMAL.replace('kind = "grid"\nnodes = 100',
                                               'kind = "clustered"\nhomes = 30\n'
                                               "bulbs_per_home_max = 3"))
    layout = clustered.layout
    assert (layout.homes, layout.bulbs_per_home_min, layout.bulbs_per_home_max) == (30, 1, 3)
    assert (layout.street_spacing_m, layout.lamp_spacing_m) == (80, 30)
    assert clustered.bulb_count() is None  # drawn when the layout is built
    assert "layout.bulbs_per_home_max: expected at least bulbs_per_home_min (4), got 3" in (
        error_of(MINIMAL.replace('kind = "grid"\nnodes = 100', 'kind = "clustered"\nhomes = 3\n'
                                 "bulbs_per_home_min = 4\nbulbs_per_home_max = 3")))
    assert 'it belongs to kind = "clustered" or "osm"' in error_of(
        MINIMAL.replace("nodes = 100", "nodes = 100\nlamp_spacing_m = 20"))


def test_relative_osm_file_is_taken_from_the_scenario_folder(osm_file: Path) -> None:
    scenario = osm_file.parent / "town.toml"
    scenario.write_text(MINIMAL.replace('kind = "grid"\nnodes = 100',
                                        'kind = "osm"\nosm_file = "town.osm"'))
    s = load_scenario(str(scenario))
    assert s.layout.osm_file == str(osm_file)
    assert (s.layout.lamp_spacing_m, s.layout.bulbs_per_building) == (30, 1)


def test_gateway_count_or_per_bulbs() -> None:
    s = parse_scenario(with_lines("[gateways]", "count = 3"))
    assert (s.gateways.count, s.gateways.per_bulbs) == (3, None)
    assert s.gateways.gateways_for(10_000) == 3
    s = parse_scenario(with_lines("[gateways]", "per_bulbs = 30"))
    assert s.gateways.gateways_for(100) == 4
    assert s.gateways.gateways_for(1) == 1


def test_churn_events() -> None:
    s = parse_scenario(with_lines(
        "[churn]", "diurnal = true", "off_fraction = 0.1", "mean_off_s = 30",
        "[[churn.power_cut]]", "at_s = 10", "duration_s = 5", "centre = true", "radius_m = 80",
        "[[churn.power_cut]]", "at_s = 20", "duration_s = 5", "x_m = 1", "y_m = -2.5",
        "radius_m = 40",
        "[[churn.gateway_failure]]", "at_s = 60", "duration_s = 30", "gateway = 0"))
    assert s.churn.power_cut == (PowerCut(10, 5, 80, None, None, True),
                                 PowerCut(20, 5, 40, 1.0, -2.5, False))
    assert s.churn.gateway_failure == (GatewayFailure(60, 30, 0),)


# -- mistakes: each names the file, the key path and what was expected ----------------------

def test_toml_syntax_error() -> None:
    assert error_of("[scenario\n").startswith("s.toml: TOML syntax error")


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read the scenario file"):
        load_scenario(str(tmp_path / "missing.toml"))


def test_unknown_section_suggests_the_closest() -> None:
    assert error_of(with_lines("[radoi]", "range_m = 40")) == (
        "s.toml: [radoi]: unknown section; did you mean 'radio'?")


def test_unknown_key_suggests_the_closest() -> None:
    assert error_of(with_lines("[radio]", "rnage_m = 40")) == (
        "s.toml: radio.rnage_m: unknown key; did you mean 'range_m'?")


def test_typo_in_a_required_key_is_pointed_out() -> None:
    message = error_of(MINIMAL.replace("duration_s", "durration_s"))
    assert message == ("s.toml: scenario.duration_s: missing; expected a number "
                       "(is 'durration_s' a typo of 'duration_s'?)")


def test_missing_sections() -> None:
    assert error_of('[layout]\nkind = "grid"\nnodes = 3\n') == (
        "s.toml: scenario: missing; expected a table")
    assert "layout.nodes: missing; expected an integer" in error_of(
        MINIMAL.replace("nodes = 100", ""))


@pytest.mark.parametrize(("line", "expected"), [
    ('nodes = "100"', "layout.nodes: expected an integer, got a string ('100')"),
    ("nodes = 2.5", "layout.nodes: expected an integer, got a number (2.5)"),
    ("nodes = true", "layout.nodes: expected an integer, got a boolean (True)"),
    ("nodes = 0", "layout.nodes: expected an integer from 1 to 10000000, got 0"),
    ('kind = "hexagon"', 'layout.kind: expected one of "grid", "random", "clustered", "osm", '
                         "got 'hexagon'"),
    ('kind = "gird"', "did you mean 'grid'?"),
    ("area_m = 100", 'layout.area_m: not a key of a kind = "grid" layout (it belongs to kind = '
                     '"random")'),
    ("spacing_m = -3", "layout.spacing_m: expected a number greater than 0 and at most 100000, "
                       "got -3"),
])
def test_bad_layout_values(line: str, expected: str) -> None:
    key = line.split(" =")[0]
    text = MINIMAL.replace(f"{key} = 100", "") if key == "nodes" else MINIMAL
    text = text.replace('kind = "grid"', "") if key == "kind" else text
    message = error_of(text.replace("[layout]", f"[layout]\n{line}"))
    assert message.startswith("s.toml: ") and expected in message


@pytest.mark.parametrize(("lines", "expected"), [
    (("[radio]", "cca = 1"), "radio.cca: expected true or false, got an integer (1)"),
    (("[radio]", "range_m = 0"), "radio.range_m: expected a number greater than 0"),
    (("[radio]", "retries = 99"), "radio.retries: expected an integer from 0 to 15, got 99"),
    (("[radio]", "bitrate_kbit_s = 54000"), "radio.bitrate_kbit_s: expected one of 1000, 2000, "
                                            "5500, 11000 (802.11b's rates"),
    (("[bulb]", "rx_buffer_bytes = -1"), "bulb.rx_buffer_bytes: expected an integer from 0 to "
                                          "1000000, got -1"),
    (("[bulb]", "frame_procesing_us = 5"), "did you mean 'frame_processing_us'"),
    (("[churn]", "off_fraction = 1.5"), "churn.off_fraction: expected a number from 0 to 1, "
                                        "got 1.5"),
    (("[traffic]", "packet_bytes = 0"), "traffic.packet_bytes: expected an integer from 1"),
    (("[gateways]", "count = 2", "per_bulbs = 30"),
     "gateways.per_bulbs: give either count or per_bulbs, not both"),
    (("[gateways]", "count = 0"), "gateways.count: expected an integer from 1"),
])
def test_bad_values_name_the_key(lines: tuple[str, ...], expected: str) -> None:
    assert expected in error_of(with_lines(*lines))


def test_a_section_that_is_not_a_table() -> None:
    assert error_of("radio = 3\n" + MINIMAL) == (
        "s.toml: radio: expected a table, got an integer (3)")


def test_timing_cross_checks() -> None:
    assert "scenario.warmup_s: expected less than duration_s (120 s), got 120" in error_of(
        MINIMAL.replace("duration_s = 120", "duration_s = 120\nwarmup_s = 120"))
    assert "scenario.duration_s: expected a number greater than 0" in error_of(
        MINIMAL.replace("duration_s = 120", "duration_s = -1"))
    assert "scenario.bucket_s: expected at most duration_s" in error_of(
        MINIMAL.replace("duration_s = 120", "duration_s = 120\nbucket_s = 200"))


def test_churn_entry_mistakes_name_the_entry() -> None:
    cut = ("[[churn.power_cut]]", "at_s = 10", "duration_s = 5", "centre = true",
           "radius_m = 80")
    assert error_of(with_lines(*cut, "[[churn.power_cut]]", "at_s = 10", "duration_s = 5",
                               "x_m = 3", "radius_m = 9")) == (
        "s.toml: churn.power_cut[2].y_m: missing; expected a number of metres (or centre = "
        "true for the layout's centre)")
    assert "churn.power_cut[1].centre: give either centre = true or x_m and y_m" in error_of(
        with_lines(*cut, "x_m = 1", "y_m = 1"))
    assert "churn.power_cut[1].at_s: expected a time before the end of the run" in error_of(
        with_lines(*cut).replace("at_s = 10", "at_s = 500"))
    assert "churn.power_cut[1].radis_m: unknown key; did you mean 'radius_m'?" in error_of(
        with_lines(*cut, "radis_m = 3"))
    assert "churn.power_cut: expected [[churn.power_cut]] entries (two brackets)" in error_of(
        with_lines("[churn.power_cut]", "at_s = 1"))


def test_gateway_failure_index_is_checked_against_the_gateway_count() -> None:
    failure = ("[[churn.gateway_failure]]", "at_s = 10", "duration_s = 5")
    message = error_of(with_lines("[gateways]", "per_bulbs = 50", *failure, "gateway = 2"))
    assert message == ("s.toml: churn.gateway_failure[1].gateway: expected a gateway index from "
                       "0 to 1 (the scenario has 2 gateways), got 2")
    assert "expected a gateway index from 0 to 0" in error_of(
        with_lines("[gateways]", "count = 1", *failure, "gateway = 1"))


def test_missing_or_wrong_osm_file(tmp_path: Path) -> None:
    osm = MINIMAL.replace('kind = "grid"\nnodes = 100', 'kind = "osm"\nosm_file = "{}"')
    message = error_of(osm.format("gone.osm.pbf"), str(tmp_path / "s.toml"))
    assert message == (f"{tmp_path}/s.toml: layout.osm_file: no such file: "
                       f"{tmp_path}/gone.osm.pbf (relative paths are taken from {tmp_path})")
    assert "layout.osm_file: expected an OpenStreetMap extract ending in .osm" in error_of(
        osm.format("map.geojson"))


# -- [core]: checked by the protocol core's own Config ---------------------------------------

def test_core_overrides_build_a_config() -> None:
    s = parse_scenario(with_lines("[core]", "mtu = 200", "max_gateways = 3"))
    assert s.core == {"mtu": 200, "max_gateways": 3}
    config = s.core_config()
    assert (config.mtu, config.max_gateways, config.hello_imin_ms) == (200, 3, 1000)


@pytest.mark.parametrize(("line", "expected"), [
    ("mtux = 200", "s.toml: core.mtux: unknown protocol-core key; did you mean 'mtu'?"),
    ("mtu = 10", "s.toml: core.mtu: mtu=10 is out of range [64, 1470]"),
    ('mtu = "big"', "s.toml: core.mtu: mtu must be an integer, got 'big'"),
    ("hello_imin_ms = 60000\nhello_doublings = 16",  # each fine alone, not together
     "s.toml: core.hello_doublings: hello_doublings=16 makes the longest HELLO interval"),
])
def test_core_mistakes_name_the_core_key(line: str, expected: str) -> None:
    assert error_of(with_lines("[core]", line)).startswith(expected)


# -- overrides -------------------------------------------------------------------------------

def test_apply_override_parses_with_the_field_type() -> None:
    s = parse_scenario(MINIMAL, "s.toml")
    assert apply_override(s, "radio.range_m", "60").radio.range_m == 60.0
    assert isinstance(apply_override(s, "radio.range_m", "60").radio.range_m, float)
    retries = apply_override(s, "radio.retries", " 5 ").radio.retries
    assert retries == 5 and isinstance(retries, int)
    assert apply_override(s, "radio.cca", "false").radio.cca is False
    assert apply_override(s, "radio.cca", "on").radio.cca is True
    assert apply_override(s, "scenario.name", "other").scenario.name == "other"
    assert apply_override(s, "core.mtu", "200").core == {"mtu": 200}
    assert apply_override(s, "layout.nodes", "9").bulb_count() == 9
    assert s.radio.range_m == 50  # the original is untouched


def test_apply_override_switches_gateway_count_and_per_bulbs() -> None:
    s = parse_scenario(with_lines("[gateways]", "per_bulbs = 50"))
    counted = apply_override(s, "gateways.count", "7")
    assert (counted.gateways.count, counted.gateways.per_bulbs) == (7, None)
    back = apply_override(counted, "gateways.per_bulbs", "25")
    assert (back.gateways.count, back.gateways.per_bulbs) == (None, 25)


def test_apply_override_of_a_churn_entry() -> None:
    s = parse_scenario(with_lines("[[churn.power_cut]]", "at_s = 10", "duration_s = 5",
                                  "centre = true", "radius_m = 80"))
    changed = apply_override(s, "churn.power_cut[1].radius_m", "120")
    assert changed.churn.power_cut[0].radius_m == 120
    assert scenario_value(changed, "churn.power_cut[1].radius_m") == 120
    assert "no such entry: the scenario has 1 [[churn.power_cut]] entries" in _override_error(
        s, "churn.power_cut[2].radius_m", "1")


def test_apply_override_keeps_osm_path(osm_file: Path) -> None:
    s = parse_scenario(MINIMAL.replace('kind = "grid"\nnodes = 100',
                                       f'kind = "osm"\nosm_file = "{osm_file}"'))
    assert apply_override(s, "layout.lamp_spacing_m", "45").layout.osm_file == str(osm_file)


def _override_error(s: Scenario, path: str, value: str) -> str:
    with pytest.raises(ScenarioError) as info:
        apply_override(s, path, value)
    return str(info.value)


@pytest.mark.parametrize(("path", "value", "expected"), [
    ("radio.range_m", "far", "s.toml: radio.range_m: expected a number, got 'far' "
                             "(override radio.range_m=far)"),
    ("radio.range_m", "nan", "radio.range_m: expected a finite number"),
    ("radio.retries", "2.5", "radio.retries: expected an integer, got '2.5'"),
    ("radio.cca", "maybe", "radio.cca: expected true or false, got 'maybe'"),
    ("radio.rnage_m", "1", "radio.rnage_m: unknown key; did you mean 'range_m'?"),
    ("raido.range_m", "1", "raido.range_m: unknown section 'raido'; did you mean 'radio'?"),
    ("core.mtux", "1", "core.mtux: unknown protocol-core key; did you mean 'mtu'?"),
    ("radio", "1", "radio: expected SECTION.KEY"),
    ("radio.range_m", "-5", "s.toml: radio.range_m: expected a number greater than 0 and at "
                            "most 10000, got -5.0 (override radio.range_m=-5)"),
    ("core.mtu", "10", "s.toml: core.mtu: mtu=10 is out of range [64, 1470] "
                       "(override core.mtu=10)"),
    ("layout.spacing_m", "0", "layout.spacing_m: expected a number greater than 0"),
])
def test_bad_overrides_name_the_key(path: str, value: str, expected: str) -> None:
    s = parse_scenario(MINIMAL, "s.toml")
    assert expected in _override_error(s, path, value)


def test_load_scenario_overrides_are_checked(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(MINIMAL)
    s = load_scenario(str(path), {"radio.range_m": "70", "scenario.seed": "9"})
    assert (s.radio.range_m, s.scenario.seed) == (70, 9)
    with pytest.raises(ScenarioError, match=r"overrides radio.range_m=0, scenario.seed=9\)"):
        load_scenario(str(path), {"radio.range_m": "0", "scenario.seed": "9"})


def test_scenario_value_and_with_seed() -> None:
    s = parse_scenario(MINIMAL)
    assert scenario_value(s, "radio.range_m") == 50
    assert scenario_value(s, "core.mtu") == 250  # the core's default
    assert s.with_seed(11).scenario.seed == 11 and s.with_seed(11).layout == s.layout
    assert os.path.basename(s.source) == "<scenario>"
