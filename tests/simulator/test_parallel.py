"""One city on several processes: the split, the swap of border records, and whole runs on two
workers against the same runs on one."""

from __future__ import annotations

import socket
import threading
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from meshbulb_sim.engine import SimSpec, Simulation
from meshbulb_sim.layouts import grid
from meshbulb_sim.parallel import (
    MIN_BULBS_PER_WORKER,
    MIN_BULBS_PER_WORKER_AFRESH,
    Channel,
    WorkerError,
    auto_workers,
    run_parts,
)
from meshbulb_sim.parts import bulb_work, split_city
from meshbulb_sim.run import build_layout, place_gateways, run_scenario, spec_of
from meshbulb_sim.scenario import parse_dict

CI_TOML = Path(__file__).resolve().parents[2] / "simulator" / "scenarios" / "ci.toml"


def test_a_city_is_cut_into_equal_strips_across_its_longer_side() -> None:
    xs, ys = np.meshgrid(np.arange(40) * 30.0, np.arange(10) * 30.0)
    positions = np.column_stack([xs.ravel(), ys.ravel()])  # 1,170 m wide, 270 m high
    parts = split_city(positions, 2)
    assert [p.index for p in parts] == [0, 1] and all(p.parts == 2 for p in parts)
    assert all(sum(p.local) == 200 for p in parts)
    assert all(a != b for a, b in zip(parts[0].local, parts[1].local, strict=True))
    west = positions[np.array(parts[0].local)]
    east = positions[np.array(parts[1].local)]
    assert west[:, 0].max() < east[:, 0].min()  # cut across x, the longer side
    tall = split_city(positions[:, ::-1], 2)  # the same city turned: cut across y
    assert positions[np.array(tall[0].local), 0].max() < positions[np.array(tall[1].local),
                                                                   0].min()
    with pytest.raises(ValueError, match="parts"):
        split_city(positions, 0)


def test_a_denser_strip_is_narrower_when_the_city_is_split_by_work() -> None:
    """Rule 2 of parts.py: a bulb's work is one share plus one per bulb within radio range."""
    xs, ys = np.meshgrid(np.arange(20) * 30.0, np.arange(10) * 30.0)
    sparse = np.column_stack([xs.ravel(), ys.ravel()])  # 200 bulbs 30 m apart, west
    xs, ys = np.meshgrid(600 + np.arange(20) * 15.0, np.arange(20) * 15.0)
    dense = np.column_stack([xs.ravel(), ys.ravel()])  # 400 bulbs 15 m apart, east
    positions = np.vstack([sparse, dense])
    work = bulb_work(positions, 50.0)
    # itself and those within 50 m: a corner and an inner bulb 30 m apart, then one 15 m apart
    assert (work[0], work[25], work[200 + 210]) == (4, 9, 37)
    by_count = split_city(positions, 2)
    by_work = split_city(positions, 2, work)
    assert [sum(p.local) for p in by_count] == [300, 300]
    west, east = (work[np.array(p.local)].sum() / work.sum() for p in by_work)
    assert west == pytest.approx(0.5, abs=0.02) and east == pytest.approx(0.5, abs=0.02)
    assert sum(by_work[0].local) > 300  # the sparse west takes more bulbs
    counted_west = work[np.array(by_count[0].local)].sum() / work.sum()
    assert counted_west < 0.45  # what a split by count alone gave it
    with pytest.raises(ValueError, match="entries"):
        split_city(positions, 2, work[:-1])
    with pytest.raises(ValueError, match="positive"):
        split_city(positions, 2, np.zeros(len(positions)))


def test_a_swap_moves_more_than_a_socket_buffers_both_ways_at_once() -> None:
    left, right = socket.socketpair()
    a, b = Channel(left), Channel(right)
    sizes = [3_000_000, 0, 17, 1_500_000]  # megabytes on both sides at once would deadlock
    got_b: list[bytes] = []

    def other_end() -> None:
        for k, size in enumerate(sizes):
            got_b.append(b.swap(bytes([k + 100]) * size))

    thread = threading.Thread(target=other_end)
    thread.start()
    got_a = [a.swap(bytes([k]) * size) for k, size in enumerate(sizes)]
    thread.join()
    assert got_a == [bytes([k + 100]) * size for k, size in enumerate(sizes)]
    assert got_b == [bytes([k]) * size for k, size in enumerate(sizes)]
    b.close()
    with pytest.raises(ConnectionError, match="went away"):
        a.swap(b"anyone?")
    a.close()


def _grid_spec(nodes: int, minutes: float, seed: int = 1) -> tuple[SimSpec, np.ndarray, list[int]]:
    layout = grid(nodes, 30.0)
    gateways = place_gateways(layout, max(1, nodes // 100), seed)
    spec = SimSpec(name="grid", seed=seed, duration_s=minutes * 60, warmup_s=30.0)
    return spec, layout.positions_m, gateways


@pytest.fixture(scope="module")
def grid_runs() -> dict[str, Any]:
    spec, positions, gateways = _grid_spec(600, 2.0)
    one = Simulation(spec, positions, gateways).run()
    two, outcomes = run_parts(spec, positions, gateways, 2)
    progress: list[float] = []
    again, _ = run_parts(spec, positions, gateways, 2, progress=progress.append)
    return {"one": one, "two": two, "again": again, "outcomes": outcomes, "progress": progress}


def test_two_workers_route_a_grid_as_well_as_one(grid_runs: dict[str, Any]) -> None:
    one, two = grid_runs["one"].metrics, grid_runs["two"].metrics
    assert (one["workers"], two["workers"]) == (1, 2)
    assert two["delivery_ratio_gateway"] >= 0.99
    assert two["loops"] == 0
    assert two["stretch_vs_oracle"] <= 1.3
    assert two["control_bytes_per_node_s"] == pytest.approx(one["control_bytes_per_node_s"],
                                                             rel=0.15)
    assert two["latency_ms_p50"] == pytest.approx(one["latency_ms_p50"], rel=0.3)
    assert two["convergence_s"] is not None and two["convergence_s"] <= 2 * one["convergence_s"]


def test_both_parts_ran_their_own_bulbs_and_traffic_crossed(grid_runs: dict[str, Any]) -> None:
    outcomes = grid_runs["outcomes"]
    assert sorted(i for o in outcomes for i in o.local) == list(range(600))
    assert all(o.frames_in > 0 for o in outcomes)
    # Internet packets that left through a gateway of the other part.
    crossed = sum(1 for o in outcomes for a in o.arrivals if a[1] != o.part)
    assert crossed > 0
    result = grid_runs["two"]
    assert sum(1 for gw in result.chosen_gateway if gw is not None) >= 0.95 * 600


def test_the_same_seed_on_two_workers_is_the_same_run(grid_runs: dict[str, Any]) -> None:
    two, again = grid_runs["two"], grid_runs["again"]
    drop = {"wall_s"}
    assert ({k: v for k, v in two.metrics.items() if k not in drop}
            == {k: v for k, v in again.metrics.items() if k not in drop})
    assert list(two.latencies_ms) == list(again.latencies_ms)
    assert two.chosen_gateway == again.chosen_gateway


def test_ci_scenario_on_two_workers_clears_the_ci_bar() -> None:
    """Churn, joins, a gateway failure, bulb-to-bulb and group traffic across the border."""
    scenario = parse_dict(tomllib.loads(CI_TOML.read_text(encoding="utf-8")), str(CI_TOML))
    one: dict[str, Any] = run_scenario(scenario).metrics
    layout = build_layout(scenario)
    gateways = place_gateways(layout, scenario.gateways.gateways_for(len(layout)),
                              scenario.scenario.seed)
    result, outcomes = run_parts(spec_of(scenario, layout), layout.positions_m, gateways, 2)
    two: dict[str, Any] = result.metrics
    assert two["workers"] == 2
    assert two["delivery_ratio_gateway"] >= 0.95
    assert two["failover_s"] is not None
    assert two["stretch_vs_oracle"] <= 1.3 and two["loops"] == 0
    assert two["control_bytes_per_node_s"] <= 30
    assert two["delivery_ratio_p2p"] >= one["delivery_ratio_p2p"] - 0.05
    assert two["delivery_ratio_group"] >= one["delivery_ratio_group"] - 0.05
    # Every part switched the same bulbs (churn draws from a generator of its own).
    assert outcomes[0].on_at_end == outcomes[1].on_at_end
    assert 0.85 <= sum(outcomes[0].on_at_end) / len(layout) < 1.0


def test_a_part_that_fails_fails_the_run_and_says_which(monkeypatch: pytest.MonkeyPatch) -> None:
    spec, positions, gateways = _grid_spec(100, 0.5)
    run_part = Simulation.run_part

    def broken(self: Simulation, advance: Any = None) -> Any:
        if self.part.index == 1:
            raise RuntimeError("a bulb caught fire")
        return run_part(self, advance)

    monkeypatch.setattr(Simulation, "run_part", broken)
    with pytest.raises(WorkerError, match=r"part 1 of 2(.|\n)*a bulb caught fire"):
        run_parts(spec, positions, gateways, 2)


def test_a_forked_part_reports_its_progress_to_the_parent(grid_runs: dict[str, Any]) -> None:
    # Called here, not in the worker: a progress bar kept in this process sees every report.
    progress = grid_runs["progress"]
    assert progress == sorted(progress) and len(progress) >= 10
    assert 0 < progress[0] < 0.2 and progress[-1] == pytest.approx(1.0, abs=0.1)


def test_a_city_is_split_only_where_each_worker_gets_enough_bulbs() -> None:
    least = MIN_BULBS_PER_WORKER
    assert auto_workers(2 * least - 1, 2, afresh=False) == 1
    assert auto_workers(2 * least, 2, afresh=False) == 2
    assert auto_workers(100 * least, 2, afresh=False) == 2  # no more than the cores
    assert auto_workers(100 * least, 1, afresh=False) == 1
    assert auto_workers(0, 2, afresh=False) == 1
    # Workers started on another interpreter each warm up a JIT: they need more bulbs.
    assert least < MIN_BULBS_PER_WORKER_AFRESH
    assert auto_workers(2 * least, 2, afresh=True) == 1
    assert auto_workers(2 * MIN_BULBS_PER_WORKER_AFRESH, 2, afresh=True) == 2


def test_three_workers_swap_with_each_other_in_turn() -> None:
    """Strips 0 and 2 never share a border here, but every worker swaps with every other;
    on a machine with fewer cores than workers, waiting workers sleep instead of spinning."""
    spec, positions, gateways = _grid_spec(300, 1.0)
    result, outcomes = run_parts(spec, positions, gateways, 3)
    assert [o.part for o in outcomes] == [0, 1, 2]
    assert sorted(i for o in outcomes for i in o.local) == list(range(300))
    assert result.metrics["workers"] == 3 and result.metrics["loops"] == 0
    delivered = result.metrics["delivery_ratio_gateway"]
    assert delivered is not None and delivered >= 0.95


def test_a_worker_that_is_done_still_reads_until_the_other_is_done_too() -> None:
    """Rule 6 of parallel.py: a worker one window behind still sends its last records after
    the other has finished; that send must not fail."""
    left, right = socket.socketpair()
    done, behind = Channel(left), Channel(right)
    finished = threading.Thread(target=lambda: (done.stop_sending(), done.read_to_end()))
    finished.start()
    behind.sock.setblocking(True)
    assert behind.sock.recv(1) == b""  # `done` has said it sends no more
    behind.post(b"the last records" * 10_000)  # more than a socket buffers
    behind.stop_sending()
    finished.join(timeout=10)
    assert not finished.is_alive()
    done.close()
    behind.close()
