# Unit tests for meshbulb.sources: feasibility distances (Babel FD) per gateway.
# Plain test_* functions with asserts: they run under pytest and under tests/mpy_runner.py.

from meshbulb.compat import TICKS_PERIOD, seqno_add, ticks_add
from meshbulb.sources import SourceTable
from meshbulb.wire import METRIC_INF


def gw(i):
    return bytes((0x06, 0, 0, 0, 0, i))


def test_no_fd_means_everything_feasible():
    s = SourceTable(4)
    assert s.find(gw(1)) is None
    assert s.feasible(gw(1), 0, 0)
    assert s.feasible(gw(1), 0xFFFF, 0xFFFE)
    assert len(s) == 0


def test_update_records_fd():
    s = SourceTable(4)
    s.update(gw(1), 10, 300, 1000)
    assert s.find(gw(1)) == (10, 300, 1000)
    assert len(s) == 1


def test_retraction_always_feasible():
    s = SourceTable(4)
    s.update(gw(1), 10, 100, 0)
    assert s.feasible(gw(1), 10, METRIC_INF)
    assert s.feasible(gw(1), 3, METRIC_INF)  # even with an older seqno


def test_same_seqno_needs_strictly_smaller_metric():
    s = SourceTable(4)
    s.update(gw(1), 10, 100, 0)
    assert s.feasible(gw(1), 10, 99)
    assert s.feasible(gw(1), 10, 0)
    assert not s.feasible(gw(1), 10, 100)
    assert not s.feasible(gw(1), 10, 101)


def test_newer_seqno_feasible_at_any_metric():
    s = SourceTable(4)
    s.update(gw(1), 10, 100, 0)
    assert s.feasible(gw(1), 11, 100)
    assert s.feasible(gw(1), 11, 5000)
    assert s.feasible(gw(1), 10 + 0x7FFF, 5000)


def test_older_seqno_unfeasible_even_at_zero_metric():
    s = SourceTable(4)
    s.update(gw(1), 10, 100, 0)
    assert not s.feasible(gw(1), 9, 0)
    assert not s.feasible(gw(1), seqno_add(10, -0x7FFF), 0)


def test_seqno_wraparound_in_feasibility():
    s = SourceTable(4)
    s.update(gw(1), 0xFFFF, 100, 0)
    assert s.feasible(gw(1), 0, 500), "0 follows 0xFFFF"
    assert s.feasible(gw(1), 5, 500)
    t = SourceTable(4)
    t.update(gw(1), 2, 100, 0)
    assert not t.feasible(gw(1), 0xFFFF, 0), "0xFFFF precedes 2"


def test_fd_is_per_gateway():
    s = SourceTable(4)
    s.update(gw(1), 10, 100, 0)
    assert s.feasible(gw(2), 1, 10000)
    assert not s.feasible(gw(1), 1, 10)


def test_advertising_lower_metric_lowers_fd():
    s = SourceTable(4)
    s.update(gw(1), 10, 100, 0)
    s.update(gw(1), 10, 60, 5)
    assert s.find(gw(1))[:2] == (10, 60)
    assert not s.feasible(gw(1), 10, 60)
    assert s.feasible(gw(1), 10, 59)


def test_advertising_higher_metric_never_raises_fd_but_refreshes():
    s = SourceTable(4)
    s.update(gw(1), 10, 100, 0)
    s.update(gw(1), 10, 300, 50)
    assert s.find(gw(1)) == (10, 100, 50)
    assert not s.feasible(gw(1), 10, 200)


def test_newer_seqno_replaces_fd_even_with_higher_metric():
    s = SourceTable(4)
    s.update(gw(1), 10, 100, 0)
    s.update(gw(1), 11, 400, 10)
    assert s.find(gw(1)) == (11, 400, 10)
    assert not s.feasible(gw(1), 10, 0)
    assert s.feasible(gw(1), 11, 399)


def test_older_seqno_advertisement_ignored():
    s = SourceTable(4)
    s.update(gw(1), 10, 100, 0)
    s.update(gw(1), 9, 10, 20)
    assert s.find(gw(1))[:2] == (10, 100)


def test_infinite_metric_never_recorded():
    s = SourceTable(4)
    s.update(gw(1), 10, METRIC_INF, 0)
    assert s.find(gw(1)) is None
    assert len(s) == 0
    s.update(gw(1), 10, 100, 0)
    s.update(gw(1), 11, METRIC_INF, 5)
    assert s.find(gw(1)) == (10, 100, 0)


def test_bounded_and_forgets_row_refreshed_longest_ago():
    s = SourceTable(3)
    s.update(gw(1), 1, 100, 0)
    s.update(gw(2), 1, 100, 100)
    s.update(gw(3), 1, 100, 200)
    s.update(gw(1), 1, 100, 300)  # refresh gw1: gw2 is now the oldest
    s.update(gw(4), 1, 100, 400)
    assert len(s) == 3
    assert s.find(gw(2)) is None
    for i in (1, 3, 4):
        assert s.find(gw(i)) is not None, i
    for i in range(5, 30):
        s.update(gw(i), 1, 100, 400 + i)
        assert len(s) == 3


def test_updating_existing_row_when_full_evicts_nothing():
    s = SourceTable(2)
    s.update(gw(1), 1, 100, 0)
    s.update(gw(2), 1, 100, 10)
    s.update(gw(1), 2, 50, 20)
    assert len(s) == 2
    assert s.find(gw(2)) is not None
    assert s.find(gw(1))[:2] == (2, 50)


def test_eviction_age_across_tick_wraparound():
    start = TICKS_PERIOD - 100
    s = SourceTable(2)
    s.update(gw(1), 1, 100, start)  # older, numerically large
    s.update(gw(2), 1, 100, ticks_add(start, 150))  # newer, numerically small
    s.update(gw(3), 1, 100, ticks_add(start, 300))
    assert s.find(gw(1)) is None, "the row from before the wrap is the oldest"
    assert s.find(gw(2)) is not None and s.find(gw(3)) is not None


# Regression: rows idle for more than 2**29 ms are still evictable, so the bound holds.
def test_table_stays_bounded_after_long_idle_rows():
    s = SourceTable(2)
    s.update(gw(1), 1, 100, 0)
    s.update(gw(2), 1, 100, 0)
    s.update(gw(3), 1, 100, (1 << 29) + 1000)
    assert len(s) <= 2, "source table grew to %d rows (max 2)" % len(s)
