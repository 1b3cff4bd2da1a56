"""From a checked scenario to a simulation (run.py): every [radio] key reaches the medium of
the routed run and of the flooding baseline."""

from __future__ import annotations

from meshbulb_sim.flooding import run_flooding
from meshbulb_sim.run import build_layout, place_gateways, simulation_of, spec_of
from meshbulb_sim.scenario import parse_scenario

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
