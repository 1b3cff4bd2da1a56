"""The simulation engine on small seeded grids: the real core over the simpy medium."""

from __future__ import annotations

import numpy as np

from meshbulb_sim import packets
from meshbulb_sim.engine import GatewayFailure, PowerCut, SimSpec, Simulation
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
    assert "recovery_s" not in m  # no power cut
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
    # Who could reach a working gateway at the end: only bulbs that are on (some are off
    # here), as many as reachable_fraction counts.
    reach = result.reachable_at_end
    assert all(result.on_at_end[i] for i in range(len(reach)) if reach[i])
    assert 0 < sum(reach) < len(reach) and not all(result.on_at_end)
    assert sum(reach) == round(m["reachable_fraction"] * len(reach))


def test_convergence_is_measured_while_bulbs_keep_switching_on() -> None:
    # A bulb is switched on about every second, so at almost no moment has every reachable
    # bulb a route: some bulb has always just started.
    spec = SimSpec(name="switching", seed=5, duration_s=60, warmup_s=30, off_fraction=0.05,
                   mean_off_s=5)
    m = Simulation(spec, grid(900), [0, 450, 899]).run().metrics
    assert m["convergence_s"] is not None and m["convergence_s"] < 30


def test_bulbs_off_from_the_start_do_not_hold_convergence_back() -> None:
    # A third of the bulbs are off from the start and stay off. Convergence counts the bulbs
    # that are on from the first check, not from the first timeline bucket (30 s here).
    spec = SimSpec(name="off", seed=2, duration_s=60, warmup_s=0, bucket_s=30,
                   off_fraction=0.3, mean_off_s=1e6)
    m = Simulation(spec, grid(200), [0, 100, 199]).run().metrics
    assert m["convergence_s"] is not None and m["convergence_s"] < 15


def test_the_same_seed_gives_the_same_run() -> None:
    spec = SimSpec(name="repeat", seed=4, duration_s=60, warmup_s=20)
    first = Simulation(spec, grid(60), [0]).run().metrics
    second = Simulation(spec, grid(60), [0]).run().metrics
    first.pop("wall_s")
    second.pop("wall_s")
    assert first == second


def test_reachable_bulbs_follow_a_power_cut_and_its_end() -> None:
    # A 10 x 10 grid with its gateway in a corner; the cut darkens the far half's middle.
    cut = PowerCut(at_s=25, duration_s=20, x_m=135.0, y_m=270.0, radius_m=100.0)
    spec = SimSpec(name="cut", seed=6, duration_s=60, warmup_s=10, bucket_s=10,
                   power_cuts=(cut,))
    sim = Simulation(spec, grid(100), [0])
    result = sim.run()
    on = [bucket.alive_nodes for bucket in result.timeline]
    assert min(on) < 100 and on[-1] == 100
    inside = [i for i in range(100) if np.hypot(*(grid(100)[i] - (135.0, 270.0))) <= 100.0]
    assert inside and result.metrics["reachable_fraction"] == 1.0  # all back at the end
    # The darkened bulbs boot together when power is back, and are routed again seconds
    # later (timed from the cut's end, not its start, 20 s before).
    recovery_s = result.metrics["recovery_s"]
    assert recovery_s is not None and 0.5 <= recovery_s <= 10
    # The reachable set is worked out again after every switch, not kept from the start.
    sim._switch(inside[0], False)
    assert inside[0] not in sim._reachable_now()
    sim._switch(inside[0], True)
    assert inside[0] in sim._reachable_now()


class _AlwaysAsking(Simulation):
    """Asks every bulb for its next deadline after every frame, as drivers did before
    Node.timers_kept."""

    def _receive(self, j: int, i: int, frame: bytes, rssi_dbm: int) -> None:
        super()._receive(j, i, frame, rssi_dbm)
        if self.alive[j]:
            self._schedule(j)


def test_skipping_the_deadline_after_untouched_drops_changes_nothing() -> None:
    # Timers fire in the middle of their deadline's millisecond however often they are
    # re-armed, so a run that asks less is the same run.
    spec = SimSpec(name="asking", seed=7, duration_s=90, warmup_s=30, off_fraction=0.05,
                   mean_off_s=30, p2p_packets_per_min=1, group_messages_per_min=1)
    layout = grid(150, 20.0)  # dense enough for full neighbour tables
    first = Simulation(spec, layout, [0, 149]).run().metrics
    second = _AlwaysAsking(spec, layout, [0, 149]).run().metrics
    first.pop("wall_s")
    second.pop("wall_s")
    assert first == second


def test_bulb_to_bulb_peers_stay_within_the_radius() -> None:
    spec = SimSpec(name="p2p", seed=5, duration_s=30, warmup_s=10, p2p_packets_per_min=1,
                   p2p_radius_m=70)
    sim = Simulation(spec, grid(100), [0])
    for i in range(100):
        j = sim._peer_of(i)
        assert float(np.linalg.norm(sim.positions_m[i] - sim.positions_m[j])) <= 70
    far = Simulation(SimSpec(name="p2p", seed=5, duration_s=30, warmup_s=10), grid(100), [0])
    assert max(float(np.linalg.norm(far.positions_m[0] - far.positions_m[far._peer_of(0)]))
               for _ in range(50)) > 70


def test_group_messages_reach_the_bulbs_within_their_hops() -> None:
    spec = SimSpec(name="group", seed=6, duration_s=120, warmup_s=30, internet_packets_per_min=0,
                   group_messages_per_min=1, group_hops=2)
    sim = Simulation(spec, grid(100), [0])
    m = sim.run().metrics
    groups = sim.packets.groups()
    assert groups and all(len(members) >= 2 for members in groups)
    assert m["delivery_ratio_group"] is not None and m["delivery_ratio_group"] >= 0.7
    without = Simulation(SimSpec(name="none", seed=6, duration_s=30, warmup_s=10), grid(50),
                         [0]).run().metrics
    assert "delivery_ratio_group" not in without


def test_a_run_without_warmup_measures_from_the_start() -> None:
    m = Simulation(SimSpec(name="cold", seed=7, duration_s=30, warmup_s=0), grid(50),
                   [0]).run().metrics
    assert m["sim_s"] == 30 and m["delivery_ratio_gateway"] is not None


def test_a_gateway_uplink_caps_what_reaches_the_internet() -> None:
    def run(uplink_kbit_s: float) -> dict[str, float | int | None]:
        spec = SimSpec(name="uplink", seed=8, duration_s=90, warmup_s=30,
                       internet_packets_per_min=6, uplink_kbit_s=uplink_kbit_s)
        return Simulation(spec, grid(100), [0]).run().metrics

    wide, narrow = run(20000), run(4)  # 100 bulbs offer about 10 kbit/s
    assert wide["delivery_ratio_gateway"] is not None and wide["delivery_ratio_gateway"] >= 0.95
    assert narrow["delivery_ratio_gateway"] is not None
    assert narrow["delivery_ratio_gateway"] < 0.6
    assert narrow["latency_ms_p50"] is not None and narrow["latency_ms_p50"] > 300


def test_internet_flows_carry_several_packets_at_the_same_average_rate() -> None:
    def sent(flow_packets: float) -> tuple[int, int]:
        spec = SimSpec(name="flows", seed=9, duration_s=120, warmup_s=0,
                       internet_packets_per_min=6, internet_flow_packets=flow_packets)
        sim = Simulation(spec, grid(50), [0])
        sim.run()
        by_bulb: dict[int, list[float]] = {}
        sent = list(sim.packets.sent(packets.INTERNET))
        for src, t in sent:
            by_bulb.setdefault(src, []).append(t)
        bursts = 0  # packets that follow their bulb's previous one within 50 ms
        for times in by_bulb.values():
            times.sort()
            bursts += sum(1 for a, b in zip(times, times[1:], strict=False) if b - a < 0.05)
        return len(sent), bursts

    single, single_bursts = sent(1)
    flows, flow_bursts = sent(5)
    assert 0.7 < flows / single < 1.3  # the same packets per minute on average
    # ... but in bursts: 4 of a 5-packet flow's packets follow the one before it by 20 ms,
    # while single packets (0.1 per second per bulb) almost never come 50 ms apart.
    assert flow_bursts > 0.5 * flows and single_bursts < 0.05 * single


def test_a_route_through_a_bulb_just_switched_off_has_no_hop_count() -> None:
    # A line of bulbs 30 m apart with the gateway at one end. A power cut takes out the
    # middle bulb 0.1 s before the end: the bulbs beyond it still route through it, as
    # nobody has noticed yet, so they keep their chosen gateway but their chain breaks there.
    line = np.array([(i * 30.0, 0.0) for i in range(7)])
    spec = SimSpec(name="line", seed=1, duration_s=60, warmup_s=30,
                   power_cuts=(PowerCut(59.9, 100, 90.0, 0.0, 10.0),))
    result = Simulation(spec, line, [0]).run()
    assert result.on_at_end == [True, True, True, False, True, True, True]
    assert result.hops[1:3] == [1, 2]
    assert all(result.chosen_gateway[i] == 0 for i in (1, 2, 4, 5, 6))
    assert result.hops[4:] == [None, None, None]
    assert "recovery_s" not in result.metrics  # power comes back after the run


def test_recovery_after_a_power_cut_is_timed_only_when_it_happens() -> None:
    # The far end of a line of bulbs 30 m apart (gateway at x = 0) loses power for 30 s.
    line = np.array([(i * 30.0, 0.0) for i in range(7)])

    def recovery(*cuts: PowerCut) -> object:
        spec = SimSpec(name="line", seed=1, duration_s=90, warmup_s=10, power_cuts=cuts)
        return Simulation(spec, line, [0]).run().metrics.get("recovery_s", "absent")

    far_end = PowerCut(30, 30, 180.0, 0.0, 70.0)  # bulbs 4-6 boot at 60 s
    far_end_s = recovery(far_end)
    assert isinstance(far_end_s, float) and 0.5 <= far_end_s <= 10
    assert recovery(PowerCut(30, 59.8, 180.0, 0.0, 70.0)) is None  # back 0.2 s before the end
    # One cut recovered and one not yet: not the first one's figure.
    assert recovery(far_end, PowerCut(80, 9.8, 45.0, 0.0, 20.0)) is None
    assert recovery(PowerCut(30, 90, 180.0, 0.0, 70.0)) == "absent"  # back after the end
