# Unit tests for meshbulb.compat: the 2**30 tick circle and 16-bit seqno arithmetic.
# Plain test_* functions with asserts: they run under pytest and under tests/mpy_runner.py.

from meshbulb.compat import (
    TICKS_PERIOD,
    const,
    seqno_add,
    seqno_newer,
    ticks_add,
    ticks_diff,
    ticks_earliest,
)
from meshbulb_testing.rng import Rng

HALF = 1 << 29
NEAR_WRAP = TICKS_PERIOD - 5


def test_const_is_identity_and_period_is_2_pow_30():
    assert const(42) == 42
    assert const(-7) == -7
    assert TICKS_PERIOD == 1 << 30


def test_ticks_add_wraps_at_period():
    assert ticks_add(NEAR_WRAP, 4) == TICKS_PERIOD - 1
    assert ticks_add(NEAR_WRAP, 5) == 0
    assert ticks_add(NEAR_WRAP, 10) == 5
    assert ticks_add(0, TICKS_PERIOD) == 0
    assert ticks_add(123, TICKS_PERIOD + 1) == 124


def test_ticks_add_negative_delta_wraps_backwards():
    assert ticks_add(3, -5) == TICKS_PERIOD - 2
    assert ticks_add(0, -1) == TICKS_PERIOD - 1


def test_ticks_diff_across_wrap():
    assert ticks_diff(2, NEAR_WRAP) == 7
    assert ticks_diff(NEAR_WRAP, 2) == -7
    assert ticks_diff(0, TICKS_PERIOD - 1) == 1
    assert ticks_diff(TICKS_PERIOD - 1, 0) == -1
    assert ticks_diff(NEAR_WRAP, NEAR_WRAP) == 0


def test_ticks_diff_valid_range_is_half_period():
    t = NEAR_WRAP
    assert ticks_diff(ticks_add(t, HALF - 1), t) == HALF - 1
    assert ticks_diff(ticks_add(t, -HALF), t) == -HALF
    assert ticks_diff(t, ticks_add(t, HALF - 1)) == -(HALF - 1)
    # Exactly half a period is ambiguous and reads as "in the past".
    assert ticks_diff(ticks_add(t, HALF), t) == -HALF


def test_ticks_add_then_diff_round_trips_from_random_points():
    rng = Rng(11)
    for _ in range(300):
        t = rng.below(TICKS_PERIOD)
        d = rng.below(2 * HALF - 2) - (HALF - 1)  # |d| < 2**29
        r = ticks_add(t, d)
        assert 0 <= r < TICKS_PERIOD, "ticks_add(%d, %d) = %d off the circle" % (t, d, r)
        assert ticks_diff(r, t) == d, "t=%d d=%d" % (t, d)
        assert ticks_diff(t, r) == -d, "t=%d d=%d" % (t, d)


def test_ticks_earliest_none_means_no_deadline():
    assert ticks_earliest(None, None) is None
    assert ticks_earliest(None, 17) == 17
    assert ticks_earliest(17, None) == 17
    assert ticks_earliest(0, None) == 0
    assert ticks_earliest(None, 0) == 0


def test_ticks_earliest_is_wraparound_safe():
    after_wrap = ticks_add(NEAR_WRAP, 10)  # numerically small, but later
    assert after_wrap < NEAR_WRAP
    assert ticks_earliest(NEAR_WRAP, after_wrap) == NEAR_WRAP
    assert ticks_earliest(after_wrap, NEAR_WRAP) == NEAR_WRAP
    assert ticks_earliest(100, 200) == 100
    assert ticks_earliest(200, 100) == 100
    assert ticks_earliest(55, 55) == 55


def test_seqno_newer_basic():
    assert seqno_newer(1, 0)
    assert not seqno_newer(0, 1)
    assert not seqno_newer(5, 5)
    assert seqno_newer(0x7FFF, 0)
    assert not seqno_newer(0, 0x7FFF)


def test_seqno_newer_across_16_bit_wrap():
    assert seqno_newer(0, 0xFFFF)
    assert not seqno_newer(0xFFFF, 0)
    assert seqno_newer(3, 0xFFF0)
    assert not seqno_newer(0xFFF0, 3)


def test_seqno_newer_half_range_is_neither():
    # At exactly 2**15 apart neither seqno is newer (babeld's seqno_compare convention).
    assert not seqno_newer(0x8000, 0)
    assert not seqno_newer(0, 0x8000)
    assert not seqno_newer(0x8005, 5)
    assert not seqno_newer(5, 0x8005)


def test_seqno_newer_holds_for_every_forward_step_below_half():
    base = 0xFFF0
    for n in (1, 2, 15, 16, 17, 0x1000, 0x7FFE, 0x7FFF):
        later = seqno_add(base, n)
        assert seqno_newer(later, base), "n=%d" % n
        assert not seqno_newer(base, later), "n=%d" % n


def test_seqno_add_wraps_at_16_bits():
    assert seqno_add(0xFFFF, 1) == 0
    assert seqno_add(0xFFF0, 0x20) == 0x10
    assert seqno_add(7, 0) == 7
    assert seqno_add(0, 0x10000) == 0
    assert seqno_add(0, -1) == 0xFFFF
