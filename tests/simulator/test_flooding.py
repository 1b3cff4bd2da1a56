"""The plain-flooding baseline: it delivers on a small grid at a far higher cost in bytes than
routing at the same workload, and [baselines] turns it on from a scenario."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from meshbulb_sim.engine import SimSpec, Simulation
from meshbulb_sim.flooding import HEADER_BYTES, frame_bytes_on_air, run_flooding
from meshbulb_sim.radio import RadioParams, airtime_s
from meshbulb_sim.results import FLOODING_METRICS, ROUTED_BYTES_METRIC
from meshbulb_sim.run import run_scenario
from meshbulb_sim.scenario import ScenarioError, parse_scenario

SMALL = """
[scenario]
name = "flood"
seed = 3
duration_s = 60
warmup_s = 20

[layout]
kind = "grid"
nodes = 64

[gateways]
count = 1
"""


def grid(count: int, spacing_m: float = 30.0) -> np.ndarray:
    side = int(np.ceil(np.sqrt(count)))
    return np.array([((i % side) * spacing_m, (i // side) * spacing_m) for i in range(count)])


def test_frame_bytes_on_air_inverts_airtime() -> None:
    params = RadioParams()
    used_s = 3 * airtime_s(HEADER_BYTES + 100, params) + 2 * airtime_s(40, params)
    assert frame_bytes_on_air(5, used_s, params) == pytest.approx(3 * 123 + 2 * 40)


def test_flooding_delivers_at_many_times_the_bytes_of_routing() -> None:
    spec = SimSpec(name="flood", seed=5, duration_s=90, warmup_s=20)
    positions = grid(100)
    gateways = [0, 99]
    flooding = run_flooding(spec, positions, gateways)
    assert set(flooding) == set(FLOODING_METRICS)

    sim = Simulation(spec, positions, gateways)
    at_warmup: list[tuple[int, float]] = []
    sim.env.timeout(spec.warmup_s).callbacks.append(
        lambda _event: at_warmup.append((sim.medium.transmissions,
                                         sum(sim.medium.airtime_used_s))))
    routed = sim.run().metrics
    tx0, air0 = at_warmup[0]
    routed_bytes = frame_bytes_on_air(sim.medium.transmissions - tx0,
                                      sum(sim.medium.airtime_used_s) - air0, spec.radio)
    routed_per_node_s = routed_bytes / (spec.duration_s - spec.warmup_s) / len(positions)
    assert routed["control_bytes_per_node_s"] is not None
    assert routed_per_node_s > routed["control_bytes_per_node_s"]  # data on top of control

    delivery = flooding["flooding_delivery_ratio_gateway"]
    flooded = flooding["flooding_bytes_per_node_s"]
    per_packet = flooding["flooding_transmissions_per_packet"]
    assert delivery is not None and delivery >= 0.9
    assert flooded is not None and flooded > 3 * routed_per_node_s
    assert per_packet is not None and 80 <= per_packet <= 101  # nearly every bulb, once
    assert flooding["flooding_latency_ms_p50"] is not None
    util = flooding["flooding_airtime_util_p95"]
    assert util is not None and 0 < util < 1


def test_flooding_is_seeded() -> None:
    spec = SimSpec(name="repeat", seed=4, duration_s=40, warmup_s=10)
    first = run_flooding(spec, grid(36), [0])
    second = run_flooding(spec, grid(36), [0])
    first.pop("flooding_wall_s")
    second.pop("flooding_wall_s")
    assert first == second


def test_bulbs_without_good_links_are_not_counted() -> None:
    # As many bulbs that hear nobody as bulbs in the grid: counted, they would halve the ratio.
    lonely = [[5000.0 * (k + 1), 5000.0] for k in range(16)]
    positions = np.vstack([grid(16), lonely])
    spec = SimSpec(name="alone", seed=6, duration_s=40, warmup_s=5,
                   internet_packets_per_min=6.0)
    ratio = run_flooding(spec, positions, [0])["flooding_delivery_ratio_gateway"]
    assert ratio is not None and ratio > 0.9


def test_baselines_option_parses() -> None:
    assert not parse_scenario(SMALL).baselines.flooding
    s = parse_scenario(SMALL + "\n[baselines]\nflooding = true\n", "s.toml")
    assert s.baselines.flooding
    assert s.to_dict()["baselines"] == {"flooding": True}


@pytest.mark.parametrize(("lines", "expected"), [
    ("[baselines]\nfloodng = true", "s.toml: baselines.floodng: unknown key; "
                                    "did you mean 'flooding'?"),
    ("[baselines]\noracle = true", "s.toml: baselines.oracle: unknown key"),
    ("[baselines]\nflooding = 1", "s.toml: baselines.flooding: expected true or false, "
                                  "got an integer (1)"),
    ("[baseline]\nflooding = true", "s.toml: [baseline]: unknown section; "
                                    "did you mean 'baselines'?"),
])
def test_baselines_mistakes_name_the_key(lines: str, expected: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(SMALL + "\n" + lines + "\n", "s.toml")
    assert str(info.value).startswith(expected)


def test_run_scenario_with_flooding_adds_its_metrics(tmp_path: Path) -> None:
    scenario = parse_scenario(SMALL + "\n[baselines]\nflooding = true\n", "s.toml")
    result = run_scenario(scenario, tmp_path)
    for key in (*FLOODING_METRICS, ROUTED_BYTES_METRIC):
        assert key in result.metrics
    assert result.metrics["flooding_delivery_ratio_gateway"] is not None
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "Baseline: plain flooding" in page
    written = json.loads((tmp_path / "metrics.json").read_text())
    assert written["flooding_delivery_ratio_gateway"] == result.metrics[
        "flooding_delivery_ratio_gateway"]


def test_run_scenario_without_baselines_has_only_the_engine_metrics() -> None:
    result = run_scenario(parse_scenario(SMALL))
    assert not set(result.metrics) & set((*FLOODING_METRICS, ROUTED_BYTES_METRIC))
