# Managed flooding of broadcasts.
# Runs under CPython and MicroPython; helpers in meshkit.py.
# micropython-heap: 150k (multi-node meshes share the heap of one bulb; at 110k they fit only
# by a few hundred bytes, so the length of the temporary path decided the outcome)

from meshkit import MICRO, line, small_config

from meshbulb import wire
from meshbulb.node import ACT_DELIVER, ACT_TX, Node
from meshbulb_testing.minimesh import MiniMesh, addr_of
from meshbulb_testing.rng import Rng


def test_broadcast_reaches_everyone_once_and_dense_clusters_stay_quiet():
    mesh = MiniMesh(config=small_config())
    count = 5 if MICRO else 12
    for _ in range(count):
        mesh.add_node()
    for i in range(count):
        for j in range(i + 1, count):
            mesh.link(i, j, -50)
    mesh.run(5000)
    mesh.broadcast(0, b"lights off")
    mesh.run(2000)
    receivers = sorted(d[1] for d in mesh.delivered if d[4] == b"lights off")
    assert receivers == list(range(1, count))
    relayed = sum(n.stats.relayed for n in mesh.nodes)
    # Counter-based suppression: after `threshold` copies nobody else relays; one more relay
    # can slip out while those copies are still in the air (2 ms link latency here).
    assert relayed <= mesh.config.flood_counter_threshold + 1, relayed
    if count >= 10:
        assert relayed < count // 2


def _scoped_receivers(hops, edge_hops):
    mesh = line(5 if MICRO else 6, config=small_config(flood_edge_hops=edge_hops))
    mesh.run(5000)
    mesh._handle(0, mesh.nodes[0].broadcast(1, b"this street", mesh.clock(), hops=hops))
    mesh.run(2000)
    return sorted(d[1] for d in mesh.delivered if d[4] == b"this street")


def test_scoped_broadcast_stops_after_its_hops():
    assert _scoped_receivers(2, 0) == [1, 2]


def test_scoped_broadcast_goes_flood_edge_hops_beyond_its_scope():
    # Rule 12: bulbs at the edge of the scope also hear the copies of their neighbours there.
    assert _scoped_receivers(2, 1) == [1, 2, 3]
    assert _scoped_receivers(1, 2) == [1, 2, 3]


def test_scoped_broadcast_rejects_a_hop_count_out_of_range():
    mesh = MiniMesh(config=small_config())
    mesh.add_node()
    for bad in (0, mesh.config.flood_hop_limit + 1):
        try:
            mesh.nodes[0].broadcast(1, b"x", mesh.clock(), hops=bad)
        except ValueError:
            continue
        raise AssertionError("hops=%d accepted" % bad)


def _copies_of_a_group_message(hops_left_list):
    """A hop-scoped broadcast from bulb 1, as relays would pass it on with these hops left."""
    source = Node(addr_of(1), small_config(), Rng(1).below, 0)
    frame = [a for a in source.broadcast(1, b"this street", 0, hops=4) if a[0] == ACT_TX][0][3]
    copies = []
    for hops_left in hops_left_list:
        copy = bytearray(frame)
        wire.set_hops(copy, hops_left, 3 - hops_left)
        copies.append(bytes(copy))
    return copies


def _relayed_hops_left(node):
    """Run the node's flood relay timer; the hops left of the DATA frames it broadcasts."""
    due = node.flood.next_deadline_ms()
    assert due is not None, "no relay waiting"
    frames = [a[3] for a in node.tick(due) if a[0] == ACT_TX and a[2] is None]
    return [wire.parse_header(f, 250)[3] for f in frames if f[0] & 0x0F == wire.T_DATA]


def test_a_group_message_that_came_the_long_way_goes_on_when_the_short_way_arrives():
    # flood.py rule 4: the first copy had used up its hops, the second has one left.
    long_way, short_way = _copies_of_a_group_message((0, 1))
    bulb = Node(addr_of(2), small_config(), Rng(2).below, 0)
    got = bulb.receive(long_way, 0, addr_of(7), -70, 10)
    assert [a[0] for a in got] == [ACT_DELIVER]
    assert bulb.receive(short_way, 0, addr_of(8), -70, 20) == []  # delivered once only
    assert _relayed_hops_left(bulb) == [0]


def test_copies_that_stop_sooner_do_not_silence_a_relay():
    ours, theirs = _copies_of_a_group_message((2, 0))
    bulb = Node(addr_of(2), small_config(), Rng(2).below, 0)
    bulb.receive(ours, 0, addr_of(7), -70, 10)
    for k in range(bulb.config.flood_counter_threshold + 1):
        bulb.receive(theirs, 0, addr_of(20 + k), -70, 11 + k)
    assert _relayed_hops_left(bulb) == [1]
