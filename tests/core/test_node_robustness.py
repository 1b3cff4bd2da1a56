# Bad input, isolation between nodes, and stats.
# Runs under CPython and MicroPython; helpers in meshkit.py.
# micropython-heap: 150k  (holds a mesh of three or four nodes in one heap)

from meshkit import MICRO, line, small_config

from meshbulb import wire
from meshbulb.node import ACT_DELIVER, ACT_TX
from meshbulb_testing.minimesh import NodePair, addr_of


def test_two_meshes_share_one_process_without_interfering():
    size = 2 if MICRO else 4
    first = line(size, gateways=(size - 1,), seed=9)
    second = line(size, gateways=(size - 1,), seed=9)
    for _ in range(20):
        first.run(500)
        second.run(500)
        second.send_internet(0, b"only in second")
    assert not [d for d in first.delivered if d[4] == b"only in second"]
    interleaved = first.nodes[0].stats.snapshot()
    first = second = None
    alone = line(size, gateways=(size - 1,), seed=9)
    alone.run(10000)
    assert interleaved == alone.nodes[0].stats.snapshot()


def test_stats_count_frames_bytes_and_table_sizes():
    pair = NodePair(gateway=True, config=small_config())
    pair.run(5000)
    stats = pair.nodes[0].stats.snapshot()
    assert stats["frames_out"]["hello"] >= 2 and stats["frames_in"]["route"] >= 1
    assert stats["control_bytes"] == sum(v for k, v in stats["bytes_out"].items() if k != "data")
    assert pair.nodes[0].table_sizes()["neighbours"] == 1
    actions = pair.nodes[1].receive(b"\x10", 0, pair.nodes[0].address, -50, pair.clock())
    assert len(actions) == 0 and pair.nodes[1].stats.drop_count("short") == 1
    assert [a for a in actions if a[0] == ACT_DELIVER] == []


def test_a_broadcast_asking_every_bulb_for_an_ack_is_refused():
    pair = NodePair(config=small_config())
    pair.run(3000)
    node = pair.nodes[1]
    buf = bytearray(wire.HEADER_LEN + wire.DATA_FIXED + 2)
    for flags in (wire.F_ACK_REQ, wire.F_ANY_GW, wire.F_FLOOD):
        wire.pack_header(buf, wire.T_DATA, flags, 0, 5, 0, addr_of(9), wire.BROADCAST, flags)
        wire.pack_data_header(buf, wire.HEADER_LEN, 1, 2)
        actions = node.receive(bytes(buf), 0, pair.nodes[0].address, -50, pair.clock())
        assert len(actions) == 0
    assert node.stats.drop_count("bad_flags") == 3
    assert len(node.dedup) == 0


def test_link_verdicts_never_disturb_the_actions_being_executed():
    pair = NodePair(gateway=True, config=small_config())
    pair.run(5000)
    bulb, gw = pair.nodes
    actions = bulb.send_internet(1, b"x", pair.clock())
    assert len(actions) == 1
    assert bulb.link_ok(0, gw.address, pair.clock()) is None
    assert bulb.link_failed(0, gw.address, pair.clock()) is None
    assert len(actions) == 1 and actions[0][0] == ACT_TX
