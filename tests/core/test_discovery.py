# Unit tests for meshbulb.discovery: the bounded expanding-ring route search.
# Plain test_* functions with asserts: they run under pytest and under tests/mpy_runner.py.

from meshbulb.compat import TICKS_PERIOD, ticks_add, ticks_diff
from meshbulb.config import Config, ConfigError
from meshbulb.discovery import DiscoveryTable

PER_HOP = 40


def dst(i):
    return bytes((0x02, 0, 0, 2, 0, i))


def _table(max_disc=4, queue_len=4, rings=4, first_ttl=2, per_hop=PER_HOP, max_ttl=1024):
    return DiscoveryTable(max_disc, queue_len, rings, first_ttl, per_hop, max_ttl)


def test_start_find_finish():
    t = _table()
    assert t.find(dst(1)) is None
    d = t.start(dst(1))
    assert d is not None and d.dst == dst(1)
    assert d.ring == 0 and d.queue == []
    assert t.find(dst(1)) is d
    assert len(t) == 1
    assert t.finish(dst(1)) is d
    assert t.find(dst(1)) is None
    assert len(t) == 0
    assert t.finish(dst(1)) is None


def test_at_most_max_discoveries():
    t = _table(max_disc=2)
    assert t.start(dst(1)) is not None
    assert t.start(dst(2)) is not None
    assert t.start(dst(3)) is None
    assert len(t) == 2
    assert t.find(dst(3)) is None
    t.finish(dst(1))
    assert t.start(dst(3)) is not None
    assert len(t) == 2


def test_queue_bounded_and_ordered():
    t = _table(queue_len=3)
    d = t.start(dst(1))
    for item in (b"a", b"b", b"c"):
        assert t.enqueue(d, item)
    assert not t.enqueue(d, b"d")
    assert d.queue == [b"a", b"b", b"c"]
    other = t.start(dst(2))
    assert t.enqueue(other, b"x"), "queues are per destination"


def test_rings_double_the_hop_limit_and_wait_two_ttl_per_hop():
    t = _table(rings=4, first_ttl=2)
    d = t.start(dst(1))
    now = 1000
    seen = []
    for _ in range(4):
        assert t.next_ring(d, now)
        seen.append(d.ttl)
        assert d.deadline_ms == now + 2 * d.ttl * PER_HOP
        now = d.deadline_ms
    assert seen == [2, 4, 8, 16], seen
    assert d.ring == 4
    assert not t.next_ring(d, now), "search must fail after `rings` rings"
    assert d.ttl == 16 and d.deadline_ms == now


def test_single_ring_search():
    t = _table(rings=1, first_ttl=5)
    d = t.start(dst(1))
    assert t.next_ring(d, 0)
    assert d.ttl == 5 and d.deadline_ms == 2 * 5 * PER_HOP
    assert not t.next_ring(d, d.deadline_ms)


def test_ttl_clamped_to_hop_limit():
    t = _table(rings=6, first_ttl=3, max_ttl=20)
    d = t.start(dst(1))
    ttls = []
    while t.next_ring(d, 0):
        ttls.append(d.ttl)
    assert ttls == [3, 6, 12, 20, 20, 20], ttls
    assert d.deadline_ms == 2 * 20 * PER_HOP


def test_timed_out_and_next_deadline():
    t = _table()
    assert t.next_deadline_ms() is None
    assert t.timed_out(0) == []
    a = t.start(dst(1))
    b = t.start(dst(2))
    t.next_ring(a, 0)  # deadline 160
    t.next_ring(b, 0)
    t.next_ring(b, 0)  # second ring: deadline 320
    assert t.next_deadline_ms() == 2 * 2 * PER_HOP
    assert t.timed_out(159) == []
    assert t.timed_out(160) == [a]
    t.next_ring(a, 160)  # a's next ring: deadline 160 + 320
    assert t.next_deadline_ms() == 4 * 2 * PER_HOP
    assert t.timed_out(320) == [b]
    t.finish(dst(2))
    assert t.next_deadline_ms() == 160 + 320
    t.finish(dst(1))
    assert t.next_deadline_ms() is None


def test_deadlines_across_tick_wraparound():
    start = TICKS_PERIOD - 100
    t = _table()
    d = t.start(dst(1))
    t.next_ring(d, start)
    deadline = d.deadline_ms
    assert deadline == ticks_add(start, 160) and deadline < start
    assert t.next_deadline_ms() == deadline
    assert t.timed_out(TICKS_PERIOD - 1) == []
    assert t.timed_out(ticks_add(start, 159)) == []
    assert t.timed_out(deadline) == [d]


# Regression: Config refuses settings whose widest discovery ring would wait past the tick range.
def test_ring_deadline_in_future_at_config_maximum():
    try:
        cfg = Config(discovery_per_hop_ms=10000, discovery_first_ttl=255, discovery_ttls=12,
                     flood_hop_limit=65535)
    except ConfigError as e:
        assert "discovery_" in str(e) or "flood_hop_limit" in str(e), str(e)
        return  # fixed by refusing the combination
    t = DiscoveryTable(cfg.max_discoveries, cfg.discovery_queue, cfg.discovery_ttls,
                       cfg.discovery_first_ttl, cfg.discovery_per_hop_ms, cfg.flood_hop_limit)
    d = t.start(dst(1))
    now = 0
    while t.next_ring(d, now):
        wait = ticks_diff(d.deadline_ms, now)
        assert wait > 0, "ring %d (ttl %d): deadline in the past" % (d.ring, d.ttl)
        assert t.timed_out(now) == [], "ring %d timed out as it started" % d.ring
        now = d.deadline_ms
