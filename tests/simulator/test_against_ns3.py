"""The issue's ns-3 comparison, rebuilt here: 400 nodes at mean degree about 10, one central
gateway, 60 s from a cold start, every node sending three 64-byte packets. ns-3's AODV
delivered 99 % of them (97-100 % at 100 to 400 nodes); docs/simulator.md has the wall times."""

from __future__ import annotations

import numpy as np

from meshbulb_sim.engine import SimSpec, Simulation
from meshbulb_sim.radio import RadioParams

NODES = 400
SIDE_M = 1121.0  # 400 nodes with a 100 m range at mean degree 10: 400 * pi * 100^2 / 10 = side^2


def test_a_cold_started_400_node_mesh_delivers_like_ns3_aodv() -> None:
    rng = np.random.default_rng(1)
    positions_m = rng.uniform(0, SIDE_M, size=(NODES, 2))
    centre = int(np.argmin(np.linalg.norm(positions_m - SIDE_M / 2, axis=1)))
    spec = SimSpec(name="ns3", seed=1, duration_s=60, warmup_s=0,
                   radio=RadioParams(range_m=100.0, shadowing_db=0.0),
                   internet_packets_per_min=3, packet_bytes=64)
    sim = Simulation(spec, positions_m, [centre])
    good_links = sum(sum(1 for prr in row if prr >= 0.5) for row in sim.links.prr) / NODES
    assert 8 <= good_links <= 11  # comparable to ns-3's strict 100 m disc at degree 10
    metrics = sim.run().metrics
    assert metrics["reachable_fraction"] == 1.0
    # Internet traffic without a route waits for one (node.py rule 13); before it did, seeds
    # 1-8 delivered 0.937-0.955 of the minute's packets, now 0.997-1.0.
    assert metrics["delivery_ratio_gateway"] >= 0.97
    assert metrics["loops"] == 0
