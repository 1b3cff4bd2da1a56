# Bad input, isolation between nodes, and stats.
# Runs under CPython and MicroPython; helpers in meshkit.py.

from meshbulb.node import ACT_DELIVER
from meshbulb_testing.minimesh import NodePair
from meshkit import MICRO, line, small_config


def test_every_truncated_frame_is_rejected_before_any_table_changes():
    from meshbulb_testing import fuzz

    assert fuzz.truncations_rejected(config=small_config()) > 1000


def test_mutated_frames_never_raise_or_break_bounds():
    from meshbulb_testing import fuzz

    figures = fuzz.run(2000 if MICRO else 5000, seed=4, config=small_config())
    assert figures["rejected"] > figures["frames"] // 3
    assert "internal_error" not in figures["drops"]


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
