"""The quality bar every commit must clear: the seeded scenarios/ci.toml run (about 500 bulbs,
5 simulated minutes), once with static bulbs and once as written, with light-switch churn,
bulbs joining, bulb-to-bulb and group traffic and a gateway losing its uplink for a minute."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from meshbulb_sim.run import run_scenario
from meshbulb_sim.scenario import parse_dict

CI_TOML = Path(__file__).resolve().parents[2] / "simulator" / "scenarios" / "ci.toml"


def _ci(static: bool) -> dict[str, Any]:
    data = tomllib.loads(CI_TOML.read_text(encoding="utf-8"))
    if static:
        data["churn"] = {"diurnal": False, "off_fraction": 0.0, "joins_per_min": 0.0}
    return data


@pytest.fixture(scope="module")
def static_metrics() -> dict[str, Any]:
    return run_scenario(parse_dict(_ci(static=True), str(CI_TOML))).metrics


@pytest.fixture(scope="module")
def churn_metrics() -> dict[str, Any]:
    return run_scenario(parse_dict(_ci(static=False), str(CI_TOML))).metrics


def test_ci_scenario_is_about_500_bulbs_with_churn_and_a_gateway_failure() -> None:
    data = _ci(static=False)
    assert 400 <= data["layout"]["nodes"] <= 600
    assert data["scenario"]["duration_s"] == 300
    assert data["churn"]["off_fraction"] > 0 and data["churn"]["gateway_failure"]


def test_static_bulbs_reach_the_internet(static_metrics: dict[str, Any]) -> None:
    assert static_metrics["delivery_ratio_gateway"] >= 0.99


def test_churn_and_a_gateway_failure_are_survived(churn_metrics: dict[str, Any]) -> None:
    assert churn_metrics["delivery_ratio_gateway"] >= 0.95
    assert churn_metrics["failover_s"] is not None


@pytest.mark.parametrize("which", ["static", "churn"])
def test_paths_are_short_overhead_small_and_loop_free(
    which: str, static_metrics: dict[str, Any], churn_metrics: dict[str, Any]
) -> None:
    m = static_metrics if which == "static" else churn_metrics
    assert m["stretch_vs_oracle"] <= 1.3
    assert m["control_bytes_per_node_s"] <= 30
    assert m["loops"] == 0


@pytest.mark.parametrize("which", ["static", "churn"])
def test_bulbs_reach_each_other_and_their_groups(
    which: str, static_metrics: dict[str, Any], churn_metrics: dict[str, Any]
) -> None:
    # Our own bar, beyond the issue's: bulb-to-bulb routes over good links only (node.py
    # rule 10) took seeds 1-3 from 0.87-0.92 to 0.99-1.0; groups relayed by reach (flood.py
    # rule 4) from 0.81-0.82 to 0.84-0.86, and one hop past their scope (node.py rule 12) to
    # 0.95-0.97.
    m = static_metrics if which == "static" else churn_metrics
    assert m["delivery_ratio_p2p"] >= 0.97
    assert m["delivery_ratio_group"] >= 0.93
