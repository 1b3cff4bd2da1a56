# Compatibility shim: the one place where the core meets MicroPython/CPython differences.
#
# Rules kept here:
# 1. `const` is MicroPython's compile-time constant; on CPython it is the identity.
# 2. Time is an integer millisecond tick that wraps at 2**30, exactly like MicroPython's
#    `time.ticks_ms()`. Never compare ticks with < or >: use `ticks_diff` for deadlines
#    (less than 2**29 ms ahead, which config.py guarantees) and `ticks_elapsed` for the age of
#    a stored past time.
# 3. Sequence numbers (16-bit seqnos) compare modulo 2**16, like babeld's `seqno_compare`.

try:
    from micropython import const
except ImportError:  # CPython

    def const(value):
        return value


TICKS_PERIOD = const(1 << 30)
# Public for the few hot paths that inline ticks_diff: a is before b exactly when
# (a - b + TICKS_HALF) & TICKS_MASK < TICKS_HALF.
TICKS_MASK = const((1 << 30) - 1)
TICKS_HALF = const(1 << 29)


def ticks_add(ticks_ms, delta_ms):
    """Return ticks_ms + delta_ms on the wrapping tick circle."""
    return (ticks_ms + delta_ms) & TICKS_MASK


def ticks_diff(a_ms, b_ms):
    """Signed difference a - b, correct across wraparound when |a - b| < 2**29."""
    return ((a_ms - b_ms + TICKS_HALF) & TICKS_MASK) - TICKS_HALF


def ticks_elapsed(now_ms, then_ms):
    """Milliseconds since a past tick. Stored times are always in the past, so a negative
    difference means the tick wrapped more than 2**29 ms ago: report it as very long ago,
    so holdoffs and ages never block for days after a long quiet period."""
    d = ((now_ms - then_ms + TICKS_HALF) & TICKS_MASK) - TICKS_HALF
    return d if d >= 0 else TICKS_PERIOD


def ticks_earliest(a_ms, b_ms):
    """The earlier of two deadlines; None means 'no deadline'."""
    if a_ms is None:
        return b_ms
    if b_ms is None:
        return a_ms
    return a_ms if ticks_diff(a_ms, b_ms) <= 0 else b_ms


def seqno_newer(a, b):
    """True when 16-bit seqno a is strictly newer than b."""
    d = (a - b) & 0xFFFF
    return 0 < d < 0x8000


def seqno_add(a, n):
    return (a + n) & 0xFFFF
