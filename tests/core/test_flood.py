# Unit tests for meshbulb.flood: relay jitter, counter-based suppression, bounded pending set.
# Plain test_* functions with asserts: they run under pytest and under tests/mpy_runner.py.

from meshbulb.compat import TICKS_PERIOD, ticks_add, ticks_diff
from meshbulb.flood import FloodRelay, closeness
from meshbulb_testing.rng import Rng

JITTER = 100
HALF = JITTER // 2


def _lowest(n):
    return 0


def _highest(n):
    return n - 1


def _delay(relay, rssi, now=0, key=1):
    assert relay.schedule(key, b"frame", 0, rssi, now)
    d = ticks_diff(relay.next_deadline_ms(), now)
    relay.due(ticks_add(now, JITTER * 2))  # empty it again
    return d


def test_closeness_range_and_monotonic():
    assert closeness(-120) == 0
    assert closeness(-90) == 0
    assert closeness(-40) == 64
    assert closeness(-10) == 64
    assert closeness(-65) == 32
    last = -1
    for rssi in range(-95, -35):
        c = closeness(rssi)
        assert 0 <= c <= 64
        assert c >= last, "closeness fell at %d dBm" % rssi
        last = c


def test_delay_bounds_for_faint_and_loud_senders():
    # Rule 1: delay = uniform [0, half] + half * closeness / 64, so never above the jitter.
    lo = FloodRelay(4, JITTER, 3, _lowest)
    hi = FloodRelay(4, JITTER, 3, _highest)
    assert _delay(lo, -95) == 0
    assert _delay(hi, -95) == HALF
    assert _delay(lo, -40) == HALF
    assert _delay(hi, -40) == JITTER
    assert _delay(lo, -65) == HALF // 2
    assert _delay(hi, -65) == HALF // 2 + HALF


def test_random_delays_stay_in_window_and_loud_waits_longer():
    rng = Rng(8)
    relay = FloodRelay(4, JITTER, 3, rng.below)
    faint = loud = 0
    for i in range(200):
        d = _delay(relay, -92, now=i * 1000)
        assert 0 <= d <= HALF, d
        faint += d
        d = _delay(relay, -38, now=i * 1000 + 500)
        assert HALF <= d <= JITTER, d
        loud += d
    assert loud > faint + 200 * HALF // 2, "loud %d faint %d" % (loud, faint)


def test_minimum_jitter_of_one_ms():
    relay = FloodRelay(4, 1, 3, Rng(1).below)
    for rssi in (-95, -60, -30):
        d = _delay(relay, rssi)
        assert 0 <= d <= 1, d


def test_relay_due_at_its_time_and_not_before():
    relay = FloodRelay(4, JITTER, 3, _highest)
    assert relay.schedule(9, b"abc", 2, -95, 1000)  # delay HALF
    assert relay.due(1000 + HALF - 1) == ()
    assert len(relay) == 1
    out = relay.due(1000 + HALF)
    assert list(out) == [(b"abc", 2)]
    assert len(relay) == 0
    assert relay.due(1000 + JITTER) == ()
    assert relay.next_deadline_ms() is None


def test_counter_suppression_at_threshold_copies():
    # Rule 2: the first copy counts; with threshold 3, two more copies cancel the relay.
    relay = FloodRelay(4, JITTER, 3, _highest)
    relay.schedule(1, b"x", 0, -95, 0)
    relay.heard_copy(1)
    assert len(relay) == 1 and relay.suppressed == 0
    relay.heard_copy(1)
    assert len(relay) == 0
    assert relay.suppressed == 1
    assert relay.due(JITTER) == ()
    relay.heard_copy(1)  # late copies of a cancelled relay change nothing
    assert relay.suppressed == 1


def test_below_threshold_still_relays():
    relay = FloodRelay(4, JITTER, 3, _highest)
    relay.schedule(1, b"x", 0, -95, 0)
    relay.heard_copy(1)
    assert list(relay.due(JITTER)) == [(b"x", 0)]
    assert relay.suppressed == 0


def test_copies_count_per_frame():
    relay = FloodRelay(4, JITTER, 2, _highest)
    relay.schedule(1, b"a", 0, -95, 0)
    relay.schedule(2, b"b", 0, -95, 0)
    relay.heard_copy(1)
    relay.heard_copy(7)  # not pending: ignored
    assert len(relay) == 1
    assert list(relay.due(JITTER)) == [(b"b", 0)]
    assert relay.suppressed == 1


def test_pending_relays_bounded():
    relay = FloodRelay(3, JITTER, 3, _highest)
    for key in range(3):
        assert relay.schedule(key, b"f", 0, -95, 0)
    assert not relay.schedule(3, b"f", 0, -95, 0)
    assert len(relay) == 3
    relay.heard_copy(0)
    relay.heard_copy(0)  # suppressed: frees a slot
    assert relay.schedule(4, b"f", 0, -95, 0)
    assert not relay.schedule(5, b"f", 0, -95, 0)
    relay.due(JITTER)
    assert len(relay) == 0
    assert relay.schedule(6, b"f", 0, -95, JITTER)


def test_next_deadline_is_earliest_pending():
    relay = FloodRelay(4, JITTER, 3, _highest)
    assert relay.next_deadline_ms() is None
    relay.schedule(1, b"a", 0, -40, 0)  # due 100
    relay.schedule(2, b"b", 0, -95, 30)  # due 80
    relay.schedule(3, b"c", 0, -95, 40)  # due 90
    assert relay.next_deadline_ms() == 80
    assert list(relay.due(85)) == [(b"b", 0)]
    assert relay.next_deadline_ms() == 90
    assert len(relay.due(100)) == 2
    assert relay.next_deadline_ms() is None


def test_schedule_and_due_across_tick_wraparound():
    start = TICKS_PERIOD - 60
    relay = FloodRelay(4, JITTER, 3, _highest)
    relay.schedule(1, b"a", 0, -40, start)  # due start + 100, past the wrap
    relay.schedule(2, b"b", 0, -95, start)  # due start + 50, before the wrap
    assert relay.next_deadline_ms() == ticks_add(start, HALF)
    assert relay.due(ticks_add(start, HALF - 1)) == ()
    assert list(relay.due(ticks_add(start, HALF))) == [(b"b", 0)]
    d = relay.next_deadline_ms()
    assert d == ticks_add(start, JITTER) and d < start
    assert relay.due(TICKS_PERIOD - 1) == ()
    assert list(relay.due(d)) == [(b"a", 0)]


def test_a_copy_with_more_hops_left_replaces_the_waiting_one():
    # Rule 4: we took a copy with 1 hop left; one with 3 left comes the shorter way.
    relay = FloodRelay(4, JITTER, 3, _highest)
    relay.schedule(1, b"one more hop", 0, -95, 0, 1)
    assert relay.heard_copy(1, 3)
    relay.replace(1, b"two more hops", 3)
    assert relay.heard_copy(1, 3) is False  # the same reach now: it counts
    assert list(relay.due(JITTER)) == [(b"two more hops", 0)]


def test_copies_that_stop_sooner_do_not_suppress_a_relay_that_goes_by_reach():
    relay = FloodRelay(4, JITTER, 3, _highest)
    relay.schedule(1, b"x", 0, -95, 0, 3)  # we would relay it with 2 hops left
    for _ in range(5):
        assert relay.heard_copy(1, 1) is False  # they carry it 1 hop on
    assert len(relay) == 1
    relay.heard_copy(1, 2)  # as far as ours: these count
    relay.heard_copy(1, 2)
    assert len(relay) == 0 and relay.suppressed == 1


def test_relays_without_hops_left_count_every_copy():
    relay = FloodRelay(4, JITTER, 3, _highest)
    relay.schedule(1, b"x", 0, -95, 0)
    assert relay.heard_copy(1, 9) is False  # no reach kept: never a replacement
    relay.heard_copy(1, 0)
    assert len(relay) == 0


def test_a_placeholder_sends_nothing_unless_a_further_copy_comes():
    relay = FloodRelay(4, JITTER, 3, _highest)
    relay.schedule(1, None, 0, -95, 0, 0)
    relay.schedule(2, None, 0, -95, 0, 0)
    assert relay.next_deadline_ms() == HALF  # a faint sender: half the window
    assert relay.heard_copy(2, 1)
    relay.replace(2, b"last hop", 1)
    assert list(relay.due(HALF)) == [(b"last hop", 0)]
    assert len(relay) == 0


def test_placeholders_take_at_most_half_the_slots():
    relay = FloodRelay(4, JITTER, 3, _highest)
    assert relay.schedule(1, None, 0, -95, 0, 0)
    assert relay.schedule(2, None, 0, -95, 0, 0)
    assert not relay.schedule(3, None, 0, -95, 0, 0)
    assert relay.schedule(4, b"real", 0, -95, 0, 2)
    assert relay.schedule(5, b"real", 0, -95, 0, 2)
    assert not relay.schedule(6, b"real", 0, -95, 0, 2)


def test_a_relay_past_the_scope_edge_yields_to_the_first_other_copy():
    # Rule 5: with edge_hops = 1, a by-reach relay whose copy would carry 0 hops left is past
    # the scope's edge; the usual threshold still holds one hop further in.
    relay = FloodRelay(4, JITTER, 3, _highest, edge_hops=1)
    relay.schedule(1, b"edge", 0, -95, 0, hops_left=1)
    relay.schedule(2, b"inside", 0, -95, 0, hops_left=2)
    relay.schedule(3, b"no scope", 0, -95, 0)
    for key in (1, 2, 3):
        relay.heard_copy(key, 1)
    assert sorted(frame for frame, _link in relay.due(JITTER)) == [b"inside", b"no scope"]
    assert relay.suppressed == 1


def test_without_edge_hops_the_edge_relay_keeps_the_usual_threshold():
    relay = FloodRelay(4, JITTER, 3, _highest)
    relay.schedule(1, b"edge", 0, -95, 0, hops_left=1)
    relay.heard_copy(1, 1)
    assert list(relay.due(JITTER)) == [(b"edge", 0)]
