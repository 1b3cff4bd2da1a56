# Unit tests for meshbulb.routecache: the bounded bulb-to-bulb route cache.
# Plain test_* functions with asserts: they run under pytest and under tests/mpy_runner.py.

from meshbulb.compat import TICKS_PERIOD, ticks_add
from meshbulb.routecache import RouteCache

LIFE = 60000  # route_lifetime_ms
REVERSE = 10000  # reverse_route_lifetime_ms


def dst(i):
    return bytes((0x02, 0, 0, 1, (i >> 8) & 0xFF, i & 0xFF))


def hop(i):
    return bytes((0x02, 0, 0, 0, 0, i))


def test_update_then_find():
    c = RouteCache(4)
    assert c.find(dst(1), 0) is None
    assert c.update(dst(1), hop(1), 3, LIFE, 100)
    r = c.find(dst(1), 100)
    assert r is not None
    assert r.next_hop == hop(1) and r.hops == 3
    assert r.expires_ms == 100 + LIFE
    assert len(c) == 1


def test_find_drops_expired_route():
    c = RouteCache(4)
    c.update(dst(1), hop(1), 3, 1000, 0)
    assert c.find(dst(1), 999) is not None
    assert c.find(dst(1), 1000) is None
    assert len(c) == 0


def test_use_extends_life_but_never_shortens():
    c = RouteCache(4)
    c.update(dst(1), hop(1), 3, REVERSE, 0)
    r = c.find(dst(1), 0)
    c.use(r, 5000, LIFE)
    assert r.expires_ms == 5000 + LIFE
    c.use(r, 6000, 1000)  # a shorter lifetime does not cut the route short
    assert r.expires_ms == 5000 + LIFE
    assert c.find(dst(1), 5000 + LIFE - 1) is r


def test_refresh_same_next_hop():
    c = RouteCache(4)
    c.update(dst(1), hop(1), 3, LIFE, 0)
    assert c.update(dst(1), hop(1), 5, LIFE, 1000)
    r = c.find(dst(1), 1000)
    assert r.hops == 5 and r.expires_ms == 1000 + LIFE
    assert c.update(dst(1), hop(1), 5, REVERSE, 2000)  # shorter: expiry kept
    assert r.expires_ms == 1000 + LIFE
    assert len(c) == 1


def test_shorter_path_replaces_next_hop():
    c = RouteCache(4)
    c.update(dst(1), hop(1), 5, LIFE, 0)
    assert c.update(dst(1), hop(2), 4, REVERSE, 10)
    r = c.find(dst(1), 10)
    assert r.next_hop == hop(2) and r.hops == 4
    assert r.expires_ms == LIFE  # not shortened


def test_other_next_hop_no_shorter_is_ignored_while_route_lives():
    c = RouteCache(4)
    c.update(dst(1), hop(1), 4, LIFE, 0)
    assert c.update(dst(1), hop(2), 4, LIFE, 10)
    assert c.update(dst(1), hop(3), 9, LIFE, 20)
    r = c.find(dst(1), 20)
    assert r.next_hop == hop(1) and r.hops == 4


def test_expired_route_replaced_by_any_next_hop():
    c = RouteCache(4)
    c.update(dst(1), hop(1), 2, 1000, 0)
    assert c.update(dst(1), hop(2), 9, LIFE, 1000)
    r = c.find(dst(1), 1000)
    assert r.next_hop == hop(2) and r.hops == 9
    assert r.expires_ms == 1000 + LIFE


def test_full_cache_newcomer_displaces_route_expiring_first():
    c = RouteCache(3)
    c.update(dst(1), hop(1), 1, 3000, 0)
    c.update(dst(2), hop(1), 1, 1000, 0)  # expires first
    c.update(dst(3), hop(1), 1, 2000, 0)
    assert c.update(dst(4), hop(2), 1, 1500, 0)
    assert len(c) == 3
    assert c.find(dst(2), 0) is None
    for i in (1, 3, 4):
        assert c.find(dst(i), 0) is not None, i


def test_full_cache_refuses_newcomer_that_would_not_outlive_victim():
    c = RouteCache(2)
    c.update(dst(1), hop(1), 1, 2000, 0)
    c.update(dst(2), hop(1), 1, 3000, 0)
    assert not c.update(dst(3), hop(2), 1, 2000, 0)  # same expiry as the victim
    assert not c.update(dst(3), hop(2), 1, 500, 1000)
    assert len(c) == 2
    assert c.find(dst(3), 0) is None
    assert c.find(dst(1), 0) is not None


def test_never_exceeds_max_entries():
    c = RouteCache(5)
    for i in range(100):
        c.update(dst(i), hop(1), 1, 1000 + i, i * 10)
        assert len(c) <= 5
    assert len(c) == 5


def test_active_routes_survive_flood_of_fake_reverse_routes():
    # Rule 2: routes in use keep route_lifetime_ms ahead of now; a flood of fake route
    # requests only learns reverse routes (reverse_route_lifetime_ms), so it can only
    # displace idle routes and its own entries.
    c = RouteCache(6)
    start = TICKS_PERIOD - 20000  # the flood crosses the tick wrap
    for i in (1, 2):
        c.update(dst(i), hop(1), 2, LIFE, start)
    c.update(dst(3), hop(1), 2, REVERSE, start)  # idle
    now = start
    refused = 0
    for k in range(600):
        now = ticks_add(start, k * 100)  # 60 s of flood, 10 per second
        if k % 10 == 0:
            for i in (1, 2):  # in use: data flows every second
                r = c.find(dst(i), now)
                assert r is not None, "active route %d evicted at %d ms" % (i, k * 100)
                c.use(r, now, LIFE)
        if not c.update(dst(1000 + k), hop(9), 1, REVERSE, now):
            refused += 1
        assert len(c) <= 6
    assert c.find(dst(1), now) is not None and c.find(dst(2), now) is not None
    assert c.find(dst(3), now) is None, "the idle route should have made room"
    assert refused == 0  # fakes displace each other (and the idle one), never active ones


def test_remove_and_remove_via():
    c = RouteCache(4)
    c.update(dst(1), hop(1), 1, LIFE, 0)
    c.update(dst(2), hop(2), 1, LIFE, 0)
    c.update(dst(3), hop(1), 1, LIFE, 0)
    assert c.remove_via(hop(1)) == 2
    assert len(c) == 1
    assert c.find(dst(1), 0) is None and c.find(dst(3), 0) is None
    assert c.remove_via(hop(1)) == 0
    assert c.remove(dst(2)).next_hop == hop(2)
    assert c.remove(dst(2)) is None
    assert len(c) == 0


def test_expire_drops_what_is_due_and_counts_it():
    c = RouteCache(4)
    assert c.expire(0) == 0
    c.update(dst(1), hop(1), 1, 1000, 0)
    c.update(dst(2), hop(1), 1, 3000, 0)
    c.update(dst(3), hop(1), 1, 2000, 0)
    assert c.expire(999) == 0
    assert len(c) == 3
    assert c.expire(1000) == 1
    assert len(c) == 2 and c.find(dst(1), 0) is None
    assert c.expire(5000) == 2
    assert len(c) == 0


def test_expire_across_tick_wraparound():
    start = TICKS_PERIOD - 500
    c = RouteCache(4)
    c.update(dst(1), hop(1), 1, 300, start)  # before the wrap
    c.update(dst(2), hop(1), 1, 1000, start)  # after the wrap
    assert c.expire(ticks_add(start, 299)) == 0
    assert c.expire(ticks_add(start, 300)) == 1
    assert len(c) == 1
    assert c.find(dst(2), ticks_add(start, 999)) is not None
    assert c.find(dst(2), ticks_add(start, 1000)) is None
