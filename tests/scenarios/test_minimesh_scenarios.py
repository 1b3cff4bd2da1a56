"""Seeded mesh scenarios with quality thresholds (CPython only: too big for a 110 KB heap)."""

from hypothesis import given, settings
from hypothesis import strategies as st

from meshbulb import wire
from meshbulb.config import Config
from meshbulb_testing import scenario
from meshbulb_testing.minimesh import MiniMesh, random_geometric


def test_200_node_mesh_converges_and_delivers() -> None:
    result = scenario.run(nodes=200, gateways=3, loss=0.1, seed=3)
    assert result["convergence_s"] is not None and result["convergence_s"] < 30
    assert result["delivery_ratio"] >= 0.99
    assert result["loops"] == 0
    assert result["control_bytes_per_node_s"] <= 30


def test_overhead_per_bulb_does_not_grow_with_mesh_size() -> None:
    # Same density of gateways (one per 25 bulbs), so each bulb keeps its k best either way.
    small = scenario.run(nodes=100, gateways=4, loss=0.0, seed=5, packets_per_node=1)
    large = scenario.run(nodes=600, gateways=24, loss=0.0, seed=5, packets_per_node=1)
    assert large["control_bytes_per_node_s"] <= 1.3 * small["control_bytes_per_node_s"]
    assert large["delivery_ratio"] >= 0.99


def _converged_mesh(seed: int) -> MiniMesh:
    mesh = MiniMesh(seed=seed, loss=0.05)
    random_geometric(mesh, 120, scenario.radius_for_degree(120, 10), 3, seed=seed)
    mesh.run(60000)
    assert mesh.converged()
    return mesh


def _served_by(mesh: MiniMesh, gw: int) -> list[int]:
    address = mesh.nodes[gw].address
    return [i for i, n in enumerate(mesh.nodes) if not n.is_gateway and n.best_gateway() == address]


def _delivery(mesh: MiniMesh, senders: list[int], tag: bytes) -> float:
    before = len(mesh.delivered)
    for i in senders:
        mesh.send_internet(i, tag + b"%d" % i)
    mesh.run(3000)
    got = {d[4] for d in mesh.delivered[before:] if mesh.nodes[d[1]].is_gateway}
    return len(got) / len(senders)


def test_gateway_uplink_failure_fails_over_within_seconds() -> None:
    mesh = _converged_mesh(11)
    gw = mesh.gateway_indices()[0]
    served = _served_by(mesh, gw)
    assert served
    mesh._handle(gw, mesh.nodes[gw].set_uplink(0, 0, mesh.clock()))
    failover_ms = None
    for step in range(1, 61):
        mesh.run(500)
        if not _served_by(mesh, gw) and mesh.converged():
            failover_ms = step * 500
            break
    assert failover_ms is not None and failover_ms <= 10000, failover_ms
    reachable = [i for i in mesh.connected_to_gateway() if not mesh.nodes[i].is_gateway]
    assert _delivery(mesh, served, b"after ") >= 0.99
    assert _delivery(mesh, reachable, b"all ") >= 0.99
    assert mesh.routing_loops() == 0


def test_silent_gateway_death_is_routed_around_while_traffic_flows() -> None:
    mesh = _converged_mesh(12)
    gw = mesh.gateway_indices()[1]
    served = _served_by(mesh, gw)
    mesh.kill(gw)
    for _ in range(10):  # traffic keeps flowing; link-layer failures reveal the dead gateway
        for i in served:
            mesh.send_internet(i, b"probe")
        mesh.run(1000)
    assert not _served_by(mesh, gw)
    assert _delivery(mesh, served, b"moved ") >= 0.99
    assert mesh.routing_loops() == 0


def test_flood_crosses_more_than_255_hops_and_respects_the_hop_limit() -> None:
    for hop_limit, expect_far_end in ((1024, True), (200, False)):
        mesh = MiniMesh(config=Config(flood_hop_limit=hop_limit))
        for _ in range(300):
            mesh.add_node()
        for i in range(299):
            mesh.link(i, i + 1)
        hops_seen: list[int] = []
        mesh.tap = lambda frame, seen=hops_seen: seen.append(int.from_bytes(frame[5:7], "big"))
        mesh.broadcast(0, b"all lamps: 10% for the night", port=7)
        mesh.run(120000)
        receivers = {d[1] for d in mesh.delivered if d[4].startswith(b"all lamps")}
        assert (299 in receivers) == expect_far_end
        if expect_far_end:
            assert receivers == set(range(1, 300))
            assert max(hops_seen) >= 297


link_changes = st.lists(
    st.tuples(st.sampled_from(["cut", "join", "kill", "uplink_down", "uplink_up"]),
              st.integers(0, 10_000), st.integers(0, 10_000), st.integers(100, 4000)),
    min_size=3, max_size=12,
)


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(1, 1000), changes=link_changes)
def test_no_snapshot_of_routing_state_ever_contains_a_loop(
    seed: int, changes: list[tuple[str, int, int, int]]
) -> None:
    mesh = MiniMesh(seed=seed, loss=0.1)
    random_geometric(mesh, 40, scenario.radius_for_degree(40, 6), 3, seed=seed)
    loops: list[int] = []

    def check() -> None:
        found = mesh.routing_loops()
        if found:
            loops.append(mesh.now_ms)

    mesh.after_event = check
    mesh.run(15000)
    count = len(mesh.nodes)
    gateways = mesh.gateway_indices()
    for kind, a, b, wait_ms in changes:
        i, j = a % count, b % count
        if kind == "cut":
            neighbours = list(mesh.links[i])
            if neighbours:
                mesh.unlink(i, neighbours[b % len(neighbours)])
        elif kind == "join" and i != j:
            mesh.link(i, j, -70)
        elif kind == "kill" and not mesh.nodes[i].is_gateway:
            mesh.kill(i)
        elif kind in ("uplink_down", "uplink_up"):
            g = gateways[a % len(gateways)]
            health = 0 if kind == "uplink_down" else 255
            mesh._handle(g, mesh.nodes[g].set_uplink(0, health, mesh.clock()))
        for k in range(0, count, 7):
            if mesh.alive[k] and not mesh.nodes[k].is_gateway:
                mesh.send_internet(k, b"t")
        mesh.run(wait_ms)
    assert loops == []


def test_data_frames_report_more_than_255_hops_in_the_header() -> None:
    buf = bytearray(wire.HEADER_LEN)
    wire.pack_header(buf, wire.T_DATA, 0, 0, 65000, 400, b"\x02" * 6, wire.BROADCAST, 1)
    parsed = wire.parse_header(bytes(buf), 250)
    assert not isinstance(parsed, str)
    assert parsed[3] == 65000 and parsed[4] == 400
