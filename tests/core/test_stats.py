# Unit tests for meshbulb.stats: per-node counters, drop reasons and the report snapshot.
# Plain test_* functions with asserts: they run under pytest and under tests/mpy_runner.py.

from meshbulb.stats import DROP_REASONS, Stats
from meshbulb.wire import T_ACK, T_DATA, T_HELLO, T_ROUTE, T_RREQ, TYPE_COUNT, TYPE_NAMES


def test_starts_at_zero():
    s = Stats()
    assert s.total_drops() == 0
    assert s.control_bytes() == 0
    for reason in DROP_REASONS:
        assert s.drop_count(reason) == 0, reason
    snap = s.snapshot()
    assert snap["delivered"] == 0 and snap["relayed"] == 0 and snap["link_failures"] == 0
    for t in range(1, TYPE_COUNT):
        assert snap["frames_in"][TYPE_NAMES[t]] == 0


def test_drop_reasons_are_unique_and_include_internal_error():
    assert len(set(DROP_REASONS)) == len(DROP_REASONS)
    assert "internal_error" in DROP_REASONS
    for reason in ("duplicate", "bad_payload", "reassembly_full", "table_full", "relay_full"):
        assert reason in DROP_REASONS, reason


def test_each_drop_counts_under_exactly_its_reason():
    s = Stats()
    for n, reason in enumerate(DROP_REASONS):
        s.drop(reason)
        assert s.drop_count(reason) == 1, reason
        assert s.total_drops() == n + 1
    s.drop("duplicate")
    s.drop("duplicate")
    assert s.drop_count("duplicate") == 3
    assert s.drop_count("short") == 1
    assert s.total_drops() == len(DROP_REASONS) + 2


def test_unknown_reason_counts_as_internal_error_without_raising():
    s = Stats()
    s.drop("no_such_reason")
    s.drop("")
    s.drop(None)
    assert s.drop_count("internal_error") == 3
    assert s.total_drops() == 3


def test_frames_in_and_out_by_type():
    s = Stats()
    s.count_in(T_HELLO)
    s.count_in(T_HELLO)
    s.count_in(T_DATA)
    s.count_out(T_ROUTE, 50)
    s.count_out(T_ROUTE, 70)
    s.count_out(T_DATA, 200)
    snap = s.snapshot()
    assert snap["frames_in"]["hello"] == 2
    assert snap["frames_in"]["data"] == 1
    assert snap["frames_in"]["route"] == 0
    assert snap["frames_out"]["route"] == 2
    assert snap["bytes_out"]["route"] == 120
    assert snap["frames_out"]["data"] == 1
    assert snap["bytes_out"]["data"] == 200


def test_control_bytes_exclude_data():
    s = Stats()
    s.count_out(T_HELLO, 30)
    s.count_out(T_ROUTE, 40)
    s.count_out(T_RREQ, 29)
    s.count_out(T_ACK, 27)
    s.count_out(T_DATA, 1000)
    assert s.control_bytes() == 30 + 40 + 29 + 27
    assert s.snapshot()["control_bytes"] == 126


def test_snapshot_shape_and_names():
    s = Stats()
    snap = s.snapshot()
    for key in ("frames_in", "frames_out", "bytes_out", "drops", "control_bytes",
                "delivered", "relayed", "link_failures"):
        assert key in snap, key
    names = [TYPE_NAMES[t] for t in range(1, TYPE_COUNT)]
    for key in ("frames_in", "frames_out", "bytes_out"):
        assert sorted(snap[key]) == sorted(names), key
        assert "invalid" not in snap[key]
    assert sorted(snap["drops"]) == sorted(DROP_REASONS)


def test_snapshot_reports_scalar_counters():
    s = Stats()
    s.delivered += 3
    s.relayed += 5
    s.link_failures += 2
    s.drop("own")
    snap = s.snapshot()
    assert snap["delivered"] == 3
    assert snap["relayed"] == 5
    assert snap["link_failures"] == 2
    assert snap["drops"]["own"] == 1


def test_snapshot_is_a_detached_plain_copy():
    s = Stats()
    s.count_in(T_HELLO)
    s.drop("duplicate")
    snap = s.snapshot()
    s.count_in(T_HELLO)
    s.drop("duplicate")
    s.delivered += 1
    assert snap["frames_in"]["hello"] == 1
    assert snap["drops"]["duplicate"] == 1
    assert snap["delivered"] == 0
    assert type(snap["frames_in"]["hello"]) is int
    assert type(snap["drops"]["duplicate"]) is int


def test_nodes_do_not_share_counters():
    a = Stats()
    b = Stats()
    a.count_in(T_DATA)
    a.drop("short")
    assert b.snapshot()["frames_in"]["data"] == 0
    assert b.drop_count("short") == 0


# Regression: counters wrap at 2**32 on CPython too instead of raising OverflowError.
def test_counters_wrap_at_2_pow_32_instead_of_raising():
    s = Stats()
    s.bytes_out[T_DATA] = 0xFFFFFF00
    s.frames_out[T_DATA] = 0xFFFFFFFF
    s.frames_in[T_HELLO] = 0xFFFFFFFF
    s.drops[DROP_REASONS.index("duplicate")] = 0xFFFFFFFF
    try:
        s.count_out(T_DATA, 0x200)
        s.count_in(T_HELLO)
        s.drop("duplicate")
    except OverflowError as e:
        raise AssertionError("a 32-bit counter raised instead of wrapping: %s" % e) from None
    assert s.bytes_out[T_DATA] == 0x100
    assert s.frames_out[T_DATA] == 0
    assert s.frames_in[T_HELLO] == 0
    assert s.drop_count("duplicate") == 0
