"""From a checked scenario to a simulation (run.py): the [radio] keys reach the medium of the
routed run and of the flooding baseline, and every scalar key changes what the simulation is
given."""

from __future__ import annotations

import dataclasses

import pytest

from meshbulb_sim.flooding import run_flooding
from meshbulb_sim.run import build_layout, place_gateways, simulation_of, spec_of
from meshbulb_sim.scenario import apply_override, parse_scenario, scenario_value

DENSE = """
[scenario]
name = "cca"
seed = 2
duration_s = 40

[layout]
kind = "grid"
nodes = 100
spacing_m = 10

[gateways]
count = 2

[traffic]
internet_packets_per_min = 6
"""


def collisions(radio: str) -> int:
    sim = simulation_of(parse_scenario(DENSE + "\n[radio]\n" + radio))
    sim.run()
    return sim.medium.collisions


def test_carrier_sense_follows_the_scenario() -> None:
    # Until this was wired, cca = false was checked, then ignored: both runs were identical.
    with_cca, without = collisions("cca = true"), collisions("cca = false")
    assert without > 2 * with_cca > 0


def test_radio_keys_reach_both_media() -> None:
    scenario = parse_scenario(DENSE + "\n[radio]\ncca = false\nretries = 2\n")
    sim = simulation_of(scenario)
    assert (sim.medium.cca, sim.medium.retries) == (False, 2)
    layout = build_layout(scenario)
    gateways = place_gateways(layout, 2, scenario.scenario.seed)
    # The flooding baseline's medium is private to it: carrier sense shows in what it measures.
    flooded = [run_flooding(spec_of(parse_scenario(DENSE + "\n[radio]\ncca = " + cca), layout),
                            layout.positions_m, gateways) for cca in ("true", "false")]
    assert flooded[0] != flooded[1]


BASE = DENSE + """
[churn]
diurnal = true
off_fraction = 0.1
mean_off_s = 300
joins_per_min = 1

[[churn.power_cut]]
at_s = 10
duration_s = 5
radius_m = 30
x_m = 20
y_m = 20

[[churn.gateway_failure]]
at_s = 10
duration_s = 5
gateway = 0
"""


def changed(value: object) -> str:
    """Another valid value of a key, as an override spells it."""
    if isinstance(value, bool):
        return "false" if value else "true"
    if isinstance(value, str):
        return value + "2"
    if isinstance(value, int):
        return str(value + 1)
    assert isinstance(value, float)
    return repr(value * 2 if value else 1.0)


@pytest.mark.parametrize("section", ["scenario", "radio", "bulb", "traffic", "churn",
                                     "churn.power_cut[1]", "churn.gateway_failure[1]"])
def test_every_key_of_a_section_reaches_the_simulation(section: str) -> None:
    """A key that is checked but never passed on (as radio.cca was) fails here: an override of
    each scalar key must change what the simulation is given."""
    base = parse_scenario(BASE)
    layout = build_layout(base)
    table = scenario_value(base, section) if "." in section else getattr(base, section)
    keys = [f.name for f in dataclasses.fields(table)
            if isinstance(getattr(table, f.name), (bool, int, float, str))]
    assert keys
    for key in keys:
        if (section, key) == ("churn.power_cut[1]", "centre"):
            continue  # it excludes x_m and y_m: checked below
        other = apply_override(base, f"{section}.{key}", changed(getattr(table, key)))
        assert spec_of(other, layout) != spec_of(base, layout), f"{section}.{key}"
    if section == "churn.power_cut[1]":
        centred = parse_scenario(BASE.replace("x_m = 20\ny_m = 20", "centre = true"))
        assert spec_of(centred, layout) != spec_of(base, layout)
