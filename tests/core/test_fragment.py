# Unit tests for meshbulb.fragment: fragment layout and bounded reassembly.
# Plain test_* functions with asserts: they run under pytest and under tests/mpy_runner.py.

from meshbulb.compat import TICKS_PERIOD, ticks_add
from meshbulb.fragment import Reassembler, fragment_count
from meshbulb.stats import DROP_REASONS
from meshbulb.wire import fragment_chunk
from meshbulb_testing.rng import Rng

TIMEOUT = 5000
PREFIX = b"HDR:"  # stands in for the frame header before the body


def src(i):
    return bytes((0x02, 0, 0, 0, 0, i))


def payload(n, seed=1):
    rng = Rng(seed)
    return bytes(rng.below(256) for _ in range(n))


def fragments(data, count, tag):
    """The fragments of data as (frag, frame, body_off, body_len), in index order."""
    total = len(data)
    chunk = fragment_chunk(total, count)
    out = []
    for index in range(count):
        part = data[index * chunk : min(total, (index + 1) * chunk)]
        frame = PREFIX + part
        out.append(((tag, index, count, total), frame, len(PREFIX), len(part)))
    return out


def feed(r, sender, frag, now):
    f, frame, off, n = frag
    return r.add(sender, f, frame, off, n, now)


def test_fragment_count_and_chunk_layout():
    assert fragment_count(250, 100) == 3
    assert fragment_count(200, 100) == 2
    assert fragment_count(201, 100) == 3
    assert fragment_count(1, 100) == 1
    assert fragment_chunk(250, 3) == 84
    assert fragment_chunk(10, 4) == 3
    # Rule 1: every fragment but the last carries ceil(total / count); the last the rest,
    # and the layout never leaves an empty last fragment or exceeds the chunk size.
    for total in (17, 100, 250, 999, 1500):
        for max_chunk in (16, 50, 220):
            count = fragment_count(total, max_chunk)
            chunk = fragment_chunk(total, count)
            assert chunk <= max_chunk
            last = total - chunk * (count - 1)
            assert 0 < last <= chunk, "total=%d max=%d" % (total, max_chunk)


def test_in_order_reassembly():
    r = Reassembler(2, 512, TIMEOUT)
    data = payload(300)
    frags = fragments(data, 4, 77)
    for fr in frags[:-1]:
        assert feed(r, src(1), fr, 0) is None
        assert r.busy() == 1
    assert feed(r, src(1), frags[-1], 0) == data
    assert r.busy() == 0


def test_out_of_order_reassembly():
    r = Reassembler(2, 512, TIMEOUT)
    data = payload(301, seed=2)
    frags = fragments(data, 5, 9)
    order = (3, 0, 4, 2, 1)
    for i in order[:-1]:
        assert feed(r, src(1), frags[i], 10) is None
    assert feed(r, src(1), frags[order[-1]], 10) == data


def test_last_fragment_first_and_maximum_fragment_count():
    r = Reassembler(1, 512, TIMEOUT)
    data = payload(100, seed=3)
    frags = fragments(data, 16, 1)
    for i in range(15, 0, -1):
        assert feed(r, src(1), frags[i], 0) is None
    assert feed(r, src(1), frags[0], 0) == data


def test_duplicate_fragment_ignored():
    r = Reassembler(2, 512, TIMEOUT)
    data = payload(200, seed=4)
    frags = fragments(data, 3, 5)
    assert feed(r, src(1), frags[0], 0) is None
    assert feed(r, src(1), frags[0], 1) is None
    # A duplicate index with different bytes does not overwrite the first copy.
    f, frame, off, n = frags[1]
    assert r.add(src(1), f, frame, off, n, 2) is None
    forged = PREFIX + bytes(n)
    assert r.add(src(1), f, forged, off, n, 3) is None
    assert r.busy() == 1
    assert feed(r, src(1), frags[2], 4) == data


def test_inconsistent_fragment_dropped_and_set_kept():
    r = Reassembler(2, 512, TIMEOUT)
    data = payload(200, seed=5)
    frags = fragments(data, 3, 5)
    assert feed(r, src(1), frags[0], 0) is None
    other_count = fragments(data, 4, 5)[1]
    assert feed(r, src(1), other_count, 1) == "bad_payload"
    other_total = fragments(payload(210), 3, 5)[1]
    assert feed(r, src(1), other_total, 2) == "bad_payload"
    assert "bad_payload" in DROP_REASONS
    assert r.busy() == 1
    assert feed(r, src(1), frags[1], 3) is None
    assert feed(r, src(1), frags[2], 4) == data


def test_sets_are_keyed_by_source_and_tag():
    r = Reassembler(3, 512, TIMEOUT)
    a = payload(150, seed=6)
    b = payload(150, seed=7)
    c = payload(150, seed=8)
    fa = fragments(a, 2, 1)
    fb = fragments(b, 2, 1)  # same tag, other source
    fc = fragments(c, 2, 2)  # same source, other tag
    feed(r, src(1), fa[0], 0)
    feed(r, src(2), fb[0], 0)
    feed(r, src(1), fc[0], 0)
    assert r.busy() == 3
    assert feed(r, src(2), fb[1], 1) == b
    assert feed(r, src(1), fc[1], 1) == c
    assert feed(r, src(1), fa[1], 1) == a
    assert r.busy() == 0


def test_oversize_total_refused_without_taking_a_slot():
    r = Reassembler(2, 256, TIMEOUT)
    too_big = fragments(payload(257), 2, 1)
    reason = feed(r, src(1), too_big[0], 0)
    assert isinstance(reason, str) and reason in DROP_REASONS, reason
    assert r.busy() == 0
    fits = payload(256, seed=9)
    frags = fragments(fits, 2, 2)
    assert feed(r, src(1), frags[0], 0) is None
    assert feed(r, src(1), frags[1], 0) == fits


def test_slot_exhaustion_then_reuse_after_timeout():
    start = TICKS_PERIOD - 3000  # the timeout crosses the tick wrap
    r = Reassembler(2, 512, TIMEOUT)
    a = fragments(payload(200, seed=10), 2, 1)
    bdata = payload(200, seed=11)
    b = fragments(bdata, 2, 1)
    cdata = payload(200, seed=12)
    c = fragments(cdata, 2, 1)
    assert feed(r, src(1), a[0], start) is None
    assert feed(r, src(2), b[0], ticks_add(start, 100)) is None
    assert r.busy() == 2
    assert feed(r, src(3), c[0], ticks_add(start, 200)) == "reassembly_full"
    assert feed(r, src(3), c[0], ticks_add(start, TIMEOUT - 1)) == "reassembly_full"
    # A's set timed out (B's not yet): C takes A's slot; B stays intact.
    assert feed(r, src(3), c[0], ticks_add(start, TIMEOUT)) is None
    assert r.busy() == 2
    assert feed(r, src(3), c[1], ticks_add(start, TIMEOUT + 1)) == cdata
    assert feed(r, src(2), b[1], ticks_add(start, TIMEOUT + 2)) == bdata
    assert r.busy() == 0


def test_timed_out_set_is_not_completed_by_late_fragment():
    r = Reassembler(1, 512, TIMEOUT)
    a = fragments(payload(200, seed=13), 2, 1)
    c = fragments(payload(200, seed=14), 2, 1)
    feed(r, src(1), a[0], 0)
    feed(r, src(3), c[0], TIMEOUT)  # takes the slot
    # A's second half arrives late: it cannot complete A, and the slot is busy with C.
    assert feed(r, src(1), a[1], TIMEOUT + 1) == "reassembly_full"


def test_reused_slot_carries_no_stale_bytes():
    r = Reassembler(1, 512, TIMEOUT)
    old = fragments(bytes(b"\xaa" * 300), 3, 1)
    feed(r, src(1), old[0], 0)
    feed(r, src(1), old[2], 0)
    r.expire(TIMEOUT)
    assert r.busy() == 0
    new = payload(300, seed=15)
    frags = fragments(new, 3, 2)
    for fr in frags[:-1]:
        assert feed(r, src(2), fr, TIMEOUT) is None
    assert feed(r, src(2), frags[-1], TIMEOUT) == new


def test_expire_frees_timed_out_slots_and_returns_next_deadline():
    r = Reassembler(3, 512, TIMEOUT)
    assert r.expire(0) is None
    feed(r, src(1), fragments(payload(100), 2, 1)[0], 0)
    feed(r, src(2), fragments(payload(100), 2, 1)[0], 1000)
    assert r.expire(TIMEOUT - 1) == TIMEOUT
    assert r.busy() == 2
    assert r.expire(TIMEOUT) == TIMEOUT + 1000
    assert r.busy() == 1
    assert r.expire(TIMEOUT + 1000) is None
    assert r.busy() == 0


def test_expire_across_tick_wraparound():
    start = TICKS_PERIOD - 1000
    r = Reassembler(2, 512, TIMEOUT)
    feed(r, src(1), fragments(payload(100), 2, 1)[0], start)
    deadline = r.expire(ticks_add(start, 10))
    assert deadline == ticks_add(start, TIMEOUT) and deadline < start
    assert r.expire(ticks_add(start, TIMEOUT - 1)) == deadline
    assert r.busy() == 1
    assert r.expire(ticks_add(start, TIMEOUT)) is None
    assert r.busy() == 0
