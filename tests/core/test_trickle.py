# Unit tests for meshbulb.trickle: the RFC 6206 timer that paces HELLOs.
# Plain test_* functions with asserts: they run under pytest and under tests/mpy_runner.py.

from meshbulb.compat import TICKS_PERIOD, ticks_add, ticks_diff
from meshbulb.config import Config, ConfigError
from meshbulb.trickle import Trickle
from meshbulb_testing.rng import Rng


def _lowest(n):
    return 0


def _highest(n):
    return n - 1


def _run_to_interval_end(tr, now):
    """Poll at t and then at the interval end; return (transmitted at t, end time)."""
    t = tr.next_deadline_ms()
    fired = tr.poll(t)
    end = tr.next_deadline_ms()
    tr.poll(end)
    return fired, end


def test_first_interval_is_imin_and_t_in_upper_half():
    now = 5000
    tr = Trickle(1000, 4, 0, _lowest, now)
    assert tr.interval_ms == 1000
    assert tr.imax_ms == 16000
    assert tr.t_ms == now + 500
    assert tr.end_ms == now + 1000
    tr = Trickle(1000, 4, 0, _highest, now)
    assert tr.t_ms == now + 999


def test_t_covers_whole_half_open_range_and_never_reaches_i():
    # Rule 2: t is drawn from [I/2, I): with I = 10 every value 5..9 appears, never 10.
    rng = Rng(3)
    seen = set()
    for i in range(200):
        now = i * 7
        tr = Trickle(10, 0, 0, rng.below, now)
        off = ticks_diff(tr.t_ms, now)
        assert 5 <= off < 10, "t offset %d" % off
        seen.add(off)
    assert seen == {5, 6, 7, 8, 9}, sorted(seen)


def test_transmits_once_at_t_and_not_before():
    now = 0
    tr = Trickle(1000, 3, 0, _lowest, now)
    assert tr.next_deadline_ms() == 500
    assert not tr.poll(499)
    assert tr.poll(500)
    assert not tr.poll(501)
    assert not tr.poll(999)
    # After firing, the next deadline is the end of the interval.
    assert tr.next_deadline_ms() == 1000


def test_interval_doubles_up_to_imax_then_stays():
    now = 0
    rng = Rng(7)
    tr = Trickle(1000, 3, 0, rng.below, now)
    seen = []
    for _ in range(6):
        start = now
        seen.append(tr.interval_ms)
        t_off = ticks_diff(tr.t_ms, start)
        assert tr.interval_ms // 2 <= t_off < tr.interval_ms, "t=%d I=%d" % (t_off, tr.interval_ms)
        fired, now = _run_to_interval_end(tr, now)
        assert fired
        assert ticks_diff(now, start) == seen[-1]
    assert seen == [1000, 2000, 4000, 8000, 8000, 8000], seen
    assert tr.interval_ms == tr.imax_ms == 8000


def test_zero_doublings_keeps_interval_at_imin():
    tr = Trickle(400, 0, 0, Rng(1).below, 0)
    now = 0
    for _ in range(5):
        fired, now = _run_to_interval_end(tr, now)
        assert fired
        assert tr.interval_ms == 400


def test_every_interval_transmits_exactly_once():
    rng = Rng(21)
    tr = Trickle(100, 4, 0, rng.below, 0)
    now = 0
    end = tr.end_ms
    sent = 0
    intervals = 0
    for _ in range(700):
        # Poll every 10 ms: exactly one poll per interval returns True.
        now = ticks_add(now, 10)
        if tr.poll(now):
            sent += 1
        if tr.end_ms != end:  # this poll closed an interval
            assert sent == 1, "interval ending at %d transmitted %d times" % (end, sent)
            sent = 0
            intervals += 1
            end = tr.end_ms
    assert intervals >= 6, intervals


def test_reset_returns_to_imin_with_fresh_t():
    now = 0
    tr = Trickle(1000, 4, 0, _lowest, now)
    for _ in range(3):
        _, now = _run_to_interval_end(tr, now)
    assert tr.interval_ms == 8000
    now += 1234
    tr.reset(now)
    assert tr.interval_ms == 1000
    assert tr.t_ms == now + 500
    assert tr.end_ms == now + 1000
    assert tr.next_deadline_ms() == now + 500
    assert not tr.poll(now + 499)
    assert tr.poll(now + 500)


def test_reset_at_imin_changes_nothing():
    # Rule 6: only when I is not already Imin; otherwise the current interval runs on.
    tr = Trickle(1000, 4, 0, _lowest, 0)
    t_before, end_before = tr.t_ms, tr.end_ms
    tr.reset(300)
    assert tr.interval_ms == 1000
    assert (tr.t_ms, tr.end_ms) == (t_before, end_before)
    tr.poll(500)  # fired
    tr.reset(700)
    assert tr.next_deadline_ms() == end_before


def test_k_zero_never_suppresses():
    tr = Trickle(1000, 2, 0, _lowest, 0)
    for _ in range(50):
        tr.heard_consistent()
    assert tr.poll(500)


def test_redundancy_k_suppresses_at_k_copies():
    # Rule 4: suppressed when c >= k.
    tr = Trickle(1000, 2, 2, _lowest, 0)
    tr.heard_consistent()
    assert tr.poll(500), "one copy heard, k=2: must transmit"
    tr = Trickle(1000, 2, 2, _lowest, 0)
    tr.heard_consistent()
    tr.heard_consistent()
    assert not tr.poll(500), "two copies heard, k=2: must stay quiet"
    # Suppression still counts as this interval's slot: no late transmission.
    assert not tr.poll(700)


def test_counter_resets_each_interval():
    tr = Trickle(1000, 2, 1, _lowest, 0)
    tr.heard_consistent()
    assert not tr.poll(500)
    tr.poll(1000)  # interval ends, c resets, I doubles
    assert tr.interval_ms == 2000
    assert tr.poll(2000), "counter not reset at the new interval"


def test_late_poll_transmits_and_starts_doubled_interval_from_now():
    tr = Trickle(1000, 4, 0, _lowest, 0)
    # The driver was late: both t and the end of the interval have passed.
    assert tr.poll(5000)
    assert tr.interval_ms == 2000
    assert tr.t_ms == 6000
    assert tr.end_ms == 7000


def test_wraparound_near_tick_limit():
    start = TICKS_PERIOD - 300
    rng = Rng(9)
    tr = Trickle(200, 3, 0, rng.below, start)
    now = start
    intervals = []
    for _ in range(5):
        begin = now
        intervals.append(tr.interval_ms)
        t = tr.next_deadline_ms()
        off = ticks_diff(t, begin)
        assert tr.interval_ms // 2 <= off < tr.interval_ms, "t offset %d" % off
        assert not tr.poll(ticks_add(t, -1))
        assert tr.poll(t)
        now = tr.next_deadline_ms()
        assert ticks_diff(now, begin) == intervals[-1]
        assert 0 <= now < TICKS_PERIOD
        tr.poll(now)
    assert intervals == [200, 400, 800, 1600, 1600], intervals
    assert now < start, "the run should have crossed the wrap point"


def test_deadline_always_in_future_after_poll():
    rng = Rng(4)
    now = TICKS_PERIOD - 10000
    tr = Trickle(1000, 5, 0, rng.below, now)
    for _ in range(30):
        d = tr.next_deadline_ms()
        assert ticks_diff(d, now) > 0
        now = d
        tr.poll(now)


# Regression: Config refuses a longest HELLO interval past the tick range.
def test_trickle_deadline_in_future_at_config_maximum():
    try:
        cfg = Config(hello_imin_ms=60000, hello_doublings=16)
    except ConfigError as e:
        assert "hello_" in str(e), str(e)
        return  # fixed by refusing the combination
    rng = Rng(5)
    now = 0
    tr = Trickle(cfg.hello_imin_ms, cfg.hello_doublings, 0, rng.below, now)
    for i in range(40):
        d = tr.next_deadline_ms()
        assert ticks_diff(d, now) > 0, "poll %d: deadline in the past with I=%d ms" % (
            i, tr.interval_ms)
        now = d
        tr.poll(now)
