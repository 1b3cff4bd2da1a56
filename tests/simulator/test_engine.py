"""The simulation engine on small seeded grids: the real core over the simpy medium."""

from __future__ import annotations

import numpy as np

from meshbulb_sim.engine import GatewayFailure, SimSpec, Simulation
from meshbulb_sim.radio import RadioParams, airtime_s, build_links


def grid(count: int, spacing_m: float = 30.0) -> np.ndarray:
    side = int(np.ceil(np.sqrt(count)))
    return np.array([((i % side) * spacing_m, (i // side) * spacing_m) for i in range(count)])


def test_links_follow_distance_and_are_symmetric() -> None:
    links = build_links(grid(100), RadioParams(range_m=50.0), seed=1)
    for i, neighbours in enumerate(links.neighbours):
        for k, j in enumerate(neighbours):
            assert i in links.neighbours[j]
            assert links.prr[j][links.neighbours[j].index(i)] == links.prr[i][k]
    near = links.prr[0][links.neighbours[0].index(1)]  # 30 m apart
    assert near > 0.5
    assert 8 <= links.degree_mean() <= 30
    assert airtime_s(250, RadioParams()) > airtime_s(50, RadioParams())


def test_a_static_grid_converges_and_delivers_without_loops() -> None:
    spec = SimSpec(name="static", seed=2, duration_s=180, warmup_s=60)
    result = Simulation(spec, grid(200), [0, 100, 199]).run()
    m = result.metrics
    assert m["convergence_s"] is not None and m["convergence_s"] < 30
    assert m["delivery_ratio_gateway"] is not None and m["delivery_ratio_gateway"] >= 0.98
    assert m["loops"] == 0
    assert m["control_bytes_per_node_s"] is not None and m["control_bytes_per_node_s"] <= 30
    assert m["stretch_vs_oracle"] is not None and m["stretch_vs_oracle"] <= 1.4
    assert len(result.timeline) >= 17 and result.latencies_ms


def test_a_failed_gateway_is_left_within_seconds_and_churn_is_survived() -> None:
    spec = SimSpec(name="churn", seed=3, duration_s=200, warmup_s=60, off_fraction=0.05,
                   mean_off_s=60, gateway_failures=(GatewayFailure(100, 60, 0),))
    result = Simulation(spec, grid(200), [0, 100, 199]).run()
    m = result.metrics
    assert m["failover_s"] is not None and m["failover_s"] <= 10
    assert m["delivery_ratio_gateway"] is not None and m["delivery_ratio_gateway"] >= 0.93
    assert m["loops"] == 0
    assert any("uplink fails" in e.label for e in result.events)


def test_the_same_seed_gives_the_same_run() -> None:
    spec = SimSpec(name="repeat", seed=4, duration_s=60, warmup_s=20)
    first = Simulation(spec, grid(60), [0]).run().metrics
    second = Simulation(spec, grid(60), [0]).run().metrics
    first.pop("wall_s")
    second.pop("wall_s")
    assert first == second
