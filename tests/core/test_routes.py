# Unit tests for meshbulb.routes: the bounded Babel-style gateway table.
# Plain test_* functions with asserts: they run under pytest and under tests/mpy_runner.py.

from meshbulb.compat import TICKS_PERIOD, ticks_add
from meshbulb.routes import (
    ADDED,
    CHANGED,
    FULL,
    LOST,
    NOTHING,
    REFRESHED,
    SWITCHED,
    UNFEASIBLE,
    GatewayRoute,
    GatewayTable,
)
from meshbulb.sources import SourceTable
from meshbulb.wire import LOAD_GATEWAY_DOWN, METRIC_INF

HOLDOFF = 10000
SETTLE = 5000
HOLD = 80000
COST = 16


def gw(i):
    return bytes((0x06, 0, 0, 0, (i >> 8) & 0xFF, i & 0xFF))


def nh(i):
    return bytes((0x02, 0, 0, 0, 0, i))


def _table(max_entries=4, holdoff=HOLDOFF, settle=SETTLE, load_weight=256, health_weight=4):
    t = GatewayTable(max_entries, holdoff, settle, load_weight, health_weight)
    return t, SourceTable(16)


def _offer(t, s, g, hop, seqno, adv, now, cost=COST, load=0, health=255, hold=HOLD):
    return t.consider(g, hop, seqno, adv, cost, load, health, hold, now, s)


# --- rule 1, 2 -----------------------------------------------------------------------------


def test_new_gateway_added_with_metric_plus_link_cost():
    t, s = _table()
    assert _offer(t, s, gw(1), nh(1), 5, 100, 1000, load=10, health=200) == ADDED
    r = t.find(gw(1))
    assert r.gw == gw(1) and r.next_hop == nh(1)
    assert (r.seqno, r.adv_metric, r.metric) == (5, 100, 100 + COST)
    assert (r.load, r.health) == (10, 200)
    assert r.expires_ms == 1000 + HOLD
    assert len(t) == 1


def test_same_update_from_next_hop_refreshes():
    t, s = _table()
    _offer(t, s, gw(1), nh(1), 5, 100, 0)
    assert _offer(t, s, gw(1), nh(1), 5, 100, 500, hold=20000) == REFRESHED
    r = t.find(gw(1))
    assert r.expires_ms == 500 + 20000
    assert _offer(t, s, gw(1), nh(1), 6, 110, 600) == REFRESHED  # small metric change
    assert t.find(gw(1)).seqno == 6
    assert t.find(gw(1)).metric == 110 + COST
    assert len(t) == 1


def test_significant_changes_from_next_hop_report_changed():
    t, s = _table()
    _offer(t, s, gw(1), nh(1), 5, 100, 0)  # metric 116
    assert _offer(t, s, gw(1), nh(1), 5, 100, 1, health=254) == CHANGED
    assert _offer(t, s, gw(1), nh(1), 5, 100, 2, health=254, load=32) == CHANGED
    assert _offer(t, s, gw(1), nh(1), 5, 100, 3, health=254, load=63) == REFRESHED
    assert _offer(t, s, gw(1), nh(1), 6, 300, 4, health=254, load=63) == CHANGED
    assert t.find(gw(1)).metric == 300 + COST


def test_retraction_from_next_hop_removes_route():
    t, s = _table()
    _offer(t, s, gw(1), nh(1), 5, 100, 0)
    assert _offer(t, s, gw(1), nh(1), 5, METRIC_INF, 10) == LOST
    assert t.find(gw(1)) is None and len(t) == 0


def test_zero_health_is_a_retraction():
    t, s = _table()
    _offer(t, s, gw(1), nh(1), 5, 100, 0)
    assert _offer(t, s, gw(1), nh(1), 5, 100, 10, health=0) == LOST
    assert t.find(gw(1)) is None
    # A zero-health gateway is never added either.
    assert _offer(t, s, gw(2), nh(1), 5, 100, 10, health=0) == NOTHING
    assert t.find(gw(2)) is None


def test_retraction_from_other_neighbour_changes_nothing():
    t, s = _table()
    _offer(t, s, gw(1), nh(1), 5, 100, 0)
    assert _offer(t, s, gw(1), nh(2), 5, METRIC_INF, 10) == NOTHING
    assert t.find(gw(1)).next_hop == nh(1)
    assert _offer(t, s, gw(9), nh(2), 5, METRIC_INF, 10) == NOTHING
    assert len(t) == 1


def test_unfeasible_update_from_next_hop_removes_route():
    t, s = _table()
    _offer(t, s, gw(1), nh(1), 5, 100, 0)
    s.update(gw(1), 5, 116, 0)  # we advertised (5, 116): the FD
    assert _offer(t, s, gw(1), nh(1), 5, 116, 10) == UNFEASIBLE
    assert t.find(gw(1)) is None


def test_unfeasible_update_never_adds():
    t, s = _table()
    s.update(gw(1), 5, 50, 0)
    assert _offer(t, s, gw(1), nh(2), 4, 10, 0) == UNFEASIBLE  # older seqno
    assert _offer(t, s, gw(1), nh(2), 5, 50, 0) == UNFEASIBLE  # not strictly smaller
    assert t.find(gw(1)) is None
    assert _offer(t, s, gw(1), nh(2), 5, 49, 0) == ADDED


def test_metric_saturates_below_infinity():
    t, s = _table()
    assert _offer(t, s, gw(1), nh(1), 5, 0xFFF0, 0, cost=1024) == ADDED
    assert t.find(gw(1)).metric == METRIC_INF - 1


# --- rule 3: switching next hop ------------------------------------------------------------


def test_other_neighbour_must_beat_hysteresis_margin():
    t, s = _table()
    _offer(t, s, gw(1), nh(1), 5, 200 - COST, 0)  # metric 200, margin 200 // 16 + 8 = 20
    assert _offer(t, s, gw(1), nh(2), 5, 180 - COST, 10) == NOTHING  # 180 + 20 == 200
    assert t.find(gw(1)).next_hop == nh(1)
    assert _offer(t, s, gw(1), nh(2), 5, 179 - COST, 20) == SWITCHED  # 179 + 20 < 200
    r = t.find(gw(1))
    assert r.next_hop == nh(2) and r.metric == 179
    assert len(t) == 1


# --- rule 8: only a large gain is news -------------------------------------------------------


def test_switch_is_changed_only_when_metric_drops_by_a_quarter():
    t, s = _table()
    _offer(t, s, gw(1), nh(1), 5, 200 - COST, 0)  # metric 200
    assert _offer(t, s, gw(1), nh(2), 5, 150 - COST, 10) == SWITCHED  # 50 * 4 == 200
    assert _offer(t, s, gw(1), nh(3), 5, 112 - COST, 20) == CHANGED  # 38 * 4 > 150
    assert t.find(gw(1)).next_hop == nh(3)


def test_newer_seqno_switches_at_no_worse_metric_only():
    t, s = _table()
    _offer(t, s, gw(1), nh(1), 5, 100, 0)  # metric 116
    assert _offer(t, s, gw(1), nh(2), 6, 101, 10) == NOTHING  # newer but worse
    assert t.find(gw(1)).next_hop == nh(1)
    assert _offer(t, s, gw(1), nh(2), 6, 100, 20) == SWITCHED  # newer, equal metric
    assert t.find(gw(1)).next_hop == nh(2)
    assert t.find(gw(1)).seqno == 6


def test_newer_seqno_across_16_bit_wrap():
    t, s = _table()
    _offer(t, s, gw(1), nh(1), 0xFFFF, 100, 0)
    assert _offer(t, s, gw(1), nh(2), 0, 100, 10) == SWITCHED
    assert t.find(gw(1)).seqno == 0
    assert _offer(t, s, gw(1), nh(3), 0xFFFF, 0, 20) == CHANGED  # much better metric
    t2, s2 = _table()
    _offer(t2, s2, gw(1), nh(1), 0, 100, 0)
    assert _offer(t2, s2, gw(1), nh(2), 0xFFFF, 100, 10) == NOTHING  # older, not better


# --- rule 6: score and sticky selection ----------------------------------------------------


def test_score_weighs_load_and_health():
    t, _ = _table(load_weight=256, health_weight=4)
    r = GatewayRoute(gw(1))
    r.set(nh(1), 1, 84, 100, 0, 255, 0)
    assert t.score(r) == 100
    r.set(nh(1), 1, 84, 100, 0, 155, 0)
    assert t.score(r) == 100 + 100 * 4
    r.set(nh(1), 1, 84, 1000, 128, 255, 0)
    assert t.score(r) == 1000 + (1000 * 128 * 256) // 65536


def test_nothing_selected_in_an_empty_table():
    t, s = _table()
    assert t.best() is None
    t.reselect(0)
    assert t.best() is None


def test_first_selection_takes_lowest_score_not_shortest_path():
    t, s = _table()
    _offer(t, s, gw(1), nh(1), 1, 84, 0, health=100)  # metric 100, score 100 + 155 * 4
    _offer(t, s, gw(2), nh(1), 1, 484, 0)  # metric 500, score 500
    t.reselect(0)  # nothing selected yet: no settle time needed
    assert t.best().gw == gw(2)


def test_selection_is_sticky_by_one_eighth():
    t, s = _table(settle=0)
    _offer(t, s, gw(1), nh(1), 1, 200 - COST, 0)  # score 200
    t.reselect(0)
    assert t.best().gw == gw(1)
    _offer(t, s, gw(2), nh(2), 1, 178 - COST, 10)  # 178 + 178 // 8 = 200: not enough
    t.reselect(10)
    assert t.best().gw == gw(1)
    _offer(t, s, gw(3), nh(2), 1, 177 - COST, 20)  # 177 + 22 = 199 < 200: switch
    t.reselect(20)
    assert t.best().gw == gw(3)


def test_challenger_must_be_known_for_settle_ms():
    start = TICKS_PERIOD - 2000  # settle time spans the tick wrap
    t, s = _table()
    _offer(t, s, gw(1), nh(1), 1, 500, start)
    t.reselect(start)
    _offer(t, s, gw(2), nh(2), 1, 10, ticks_add(start, 100))  # far better
    t.reselect(ticks_add(start, 100))
    assert t.best().gw == gw(1)
    t.reselect(ticks_add(start, 100 + SETTLE - 1))
    assert t.best().gw == gw(1), "challenger took traffic before settle_ms"
    t.reselect(ticks_add(start, 100 + SETTLE))
    assert t.best().gw == gw(2)


def test_a_settling_challenger_takes_over_when_it_has_settled_without_another_update():
    t, s = _table()
    _offer(t, s, gw(1), nh(1), 1, 500, 0)
    t.reselect(0)
    assert t.settle_due_ms is None
    _offer(t, s, gw(2), nh(2), 1, 10, 100)  # far better, but still settling
    _offer(t, s, gw(3), nh(3), 1, 490, 200)  # settling too, but would not win
    t.reselect(200)
    assert t.best().gw == gw(1) and t.settle_due_ms == 100 + SETTLE
    lost, deadline = t.expire(100 + SETTLE - 1)
    assert lost is None and deadline == 100 + SETTLE and t.best().gw == gw(1)
    lost, deadline = t.expire(100 + SETTLE)  # no update came meanwhile
    assert lost is None and t.best().gw == gw(2)
    assert t.settle_due_ms is None and deadline == HOLD  # the next route expiry (gw 1)


def test_selection_follows_load_and_health_changes():
    t, s = _table(settle=0)
    _offer(t, s, gw(1), nh(1), 1, 184, 0)  # score 200
    _offer(t, s, gw(2), nh(2), 1, 284, 0)  # score 300
    t.reselect(0)
    assert t.best().gw == gw(1)
    _offer(t, s, gw(1), nh(1), 1, 184, 10, health=200)  # score 200 + 55 * 4 = 420
    t.reselect(10)
    assert t.best().gw == gw(2)


def test_lost_selected_route_fails_over_at_once():
    t, s = _table()
    _offer(t, s, gw(1), nh(1), 1, 100, 0)
    t.reselect(0)
    _offer(t, s, gw(2), nh(2), 1, 300, 10)  # not yet settled
    assert _offer(t, s, gw(1), nh(1), 1, METRIC_INF, 20) == LOST
    t.reselect(20)
    assert t.best() is not None and t.best().gw == gw(2)
    t.remove_via(nh(2), 30, s)
    t.reselect(30)
    assert t.best() is None


# --- rule 4: bounded table, protected best, holdoff ----------------------------------------


def test_full_table_refuses_newcomer_no_better_than_worst():
    t, s = _table(max_entries=2)
    _offer(t, s, gw(1), nh(1), 1, 100, 0)
    _offer(t, s, gw(2), nh(1), 1, 300, 0)
    assert _offer(t, s, gw(3), nh(1), 1, 300, 0) == FULL  # equal to worst: refused
    assert t.find(gw(3)) is None and len(t) == 2


def test_full_table_refuses_newcomer_better_by_less_than_a_quarter():
    # Rule 4: where more gateways are in reach than the table holds, near-equal ones must
    # not swap places on every jitter of the link estimates.
    t, s = _table(max_entries=2)
    _offer(t, s, gw(1), nh(1), 1, 100, 0)
    _offer(t, s, gw(2), nh(1), 1, 400, 0)
    worst = t.find(gw(2)).metric
    assert _offer(t, s, gw(3), nh(2), 1, worst * 4 // 5 - 1, 0) == FULL
    assert t.find(gw(2)) is not None
    assert _offer(t, s, gw(3), nh(2), 1, worst * 3 // 4 - 20, 0) == ADDED
    assert t.find(gw(2)) is None


def test_full_table_newcomer_displaces_worst():
    t, s = _table(max_entries=3)
    _offer(t, s, gw(1), nh(1), 1, 100, 0)
    _offer(t, s, gw(2), nh(1), 1, 400, 0)
    _offer(t, s, gw(3), nh(1), 1, 300, 0)
    t.reselect(0)
    assert _offer(t, s, gw(4), nh(2), 1, 200, 0) == ADDED
    assert t.find(gw(2)) is None
    assert len(t) == 3


def test_selected_route_never_displaced_even_with_worst_metric():
    t, s = _table(max_entries=2)
    _offer(t, s, gw(1), nh(1), 1, 500, 0)  # worst metric, healthy
    _offer(t, s, gw(2), nh(1), 1, 100, 0, health=50)  # score 116 + 205 * 4 = 936
    t.reselect(0)
    assert t.best().gw == gw(1)  # carries the traffic
    assert _offer(t, s, gw(3), nh(2), 1, 300, 0) == FULL
    assert t.find(gw(1)) is not None
    # A newcomer better than the unselected entry gets in; the selected one stays.
    assert _offer(t, s, gw(4), nh(2), 1, 10, 0) == ADDED
    assert t.find(gw(1)) is not None and t.find(gw(2)) is None


def test_single_entry_table_never_replaces_its_route():
    t, s = _table(max_entries=1, holdoff=0)
    _offer(t, s, gw(1), nh(1), 1, 1000, 0)
    t.reselect(0)
    for i in range(2, 20):
        assert _offer(t, s, gw(i), nh(2), 1, 0, i * 100000) == FULL
    assert t.find(gw(1)) is not None


def test_replacement_at_most_once_per_holdoff():
    t, s = _table(max_entries=2)
    start = TICKS_PERIOD - 4000  # holdoff spans the tick wrap
    _offer(t, s, gw(1), nh(1), 1, 50, start)
    _offer(t, s, gw(2), nh(1), 1, 900, start)
    t.reselect(start)
    assert _offer(t, s, gw(3), nh(2), 1, 600, start) == ADDED
    assert _offer(t, s, gw(4), nh(2), 1, 400, ticks_add(start, HOLDOFF - 1)) == FULL
    assert _offer(t, s, gw(4), nh(2), 1, 400, ticks_add(start, HOLDOFF)) == ADDED
    assert t.find(gw(3)) is None and t.find(gw(1)) is not None


def test_flood_of_fake_gateways_bounded_by_holdoff_and_settle():
    t, s = _table(max_entries=4)
    for i in range(1, 5):
        _offer(t, s, gw(i), nh(1), 1, 100 * i, 0)
    t.reselect(0)
    real = set(gw(i) for i in range(1, 5))
    displaced = 0
    for k in range(300):
        now = k * 100  # 30 s: replacements allowed at 0, 10 s, 20 s
        selected = t.best()
        out = _offer(t, s, gw(1000 + k), nh(9), 1, 1, now, hold=10 ** 6)
        t.reselect(now)
        assert len(t) <= 4
        assert t.find(selected.gw) is selected, "the route carrying traffic was displaced"
        if now < SETTLE:
            assert t.best().gw in real, "a fake gateway took traffic before settle_ms"
        if out == ADDED:
            displaced += 1
    assert displaced == 3, displaced
    assert sum(1 for r in t.entries() if r.gw in real) == 1


# --- rule 5 and removal --------------------------------------------------------------------


def test_expire_returns_lost_and_next_deadline():
    t, s = _table()
    _offer(t, s, gw(1), nh(1), 1, 100, 0, hold=1000)
    _offer(t, s, gw(2), nh(1), 1, 100, 0, hold=3000)
    _offer(t, s, gw(3), nh(1), 1, 100, 0, hold=2000)
    assert t.expire(999) == (None, 1000)
    lost, deadline = t.expire(1000)
    assert lost == [gw(1)] and deadline == 2000
    lost, deadline = t.expire(5000)
    assert sorted(lost) == [gw(2), gw(3)] and deadline is None
    assert len(t) == 0
    assert t.expire(5001) == (None, None)


def test_expire_across_tick_wraparound():
    start = TICKS_PERIOD - 500
    t, s = _table()
    _offer(t, s, gw(1), nh(1), 1, 100, start, hold=1000)
    assert t.expire(ticks_add(start, 999)) == (None, ticks_add(start, 1000))
    lost, _ = t.expire(ticks_add(start, 1000))
    assert lost == [gw(1)]


def test_refresh_pushes_expiry_back():
    t, s = _table()
    _offer(t, s, gw(1), nh(1), 1, 100, 0, hold=1000)
    _offer(t, s, gw(1), nh(1), 1, 100, 900, hold=1000)
    lost, deadline = t.expire(1500)
    assert not lost and deadline == 1900


def test_remove_via_drops_every_route_through_a_neighbour():
    t, s = _table()
    _offer(t, s, gw(1), nh(1), 1, 100, 0)
    _offer(t, s, gw(2), nh(2), 1, 100, 0)
    _offer(t, s, gw(3), nh(1), 1, 100, 0)
    assert sorted(t.remove_via(nh(1), 10, s)) == [gw(1), gw(3)]
    assert len(t) == 1 and t.find(gw(2)) is not None
    assert t.remove_via(nh(1), 20, s) == []
    assert t.remove(gw(2)).gw == gw(2)
    assert t.remove(gw(2)) is None


# Regression: after more than 2**29 ms of quiet, the replacement holdoff must not block.
def test_replacement_allowed_again_after_a_long_quiet_period():
    t, s = _table(max_entries=2)
    _offer(t, s, gw(1), nh(1), 1, 50, 0)
    _offer(t, s, gw(2), nh(1), 1, 900, 0)
    t.reselect(0)
    assert _offer(t, s, gw(3), nh(2), 1, 600, 0) == ADDED
    # Routes are refreshed and housekept regularly, as a node does, for ~6.2 days.
    for now in (2 * HOLDOFF, 1 << 28, (1 << 29) + 2 * HOLDOFF):
        _offer(t, s, gw(1), nh(1), 1, 50, now)
        _offer(t, s, gw(3), nh(2), 1, 600, now)
        t.expire(now)
        t.reselect(now)
    later = (1 << 29) + 2 * HOLDOFF
    assert _offer(t, s, gw(4), nh(2), 1, 10, later) == ADDED, "holdoff still blocks"


# Regression: a gateway known for days counts as settled, whatever the tick wrap says.
def test_long_known_gateway_can_still_take_traffic():
    t, s = _table(settle=SETTLE)
    _offer(t, s, gw(1), nh(1), 1, 84, 0)  # score 100
    _offer(t, s, gw(2), nh(2), 1, 284, 0)  # score 300
    t.reselect(0)
    assert t.best().gw == gw(1)
    now = 0
    for _ in range(5):  # both routes refreshed regularly; reselect after each update
        now += 2 * SETTLE
        _offer(t, s, gw(1), nh(1), 1, 84, now)
        _offer(t, s, gw(2), nh(2), 1, 284, now)
        t.reselect(now)
    now = (1 << 29) + 1000  # ~6.2 days of uptime, still refreshed
    _offer(t, s, gw(2), nh(2), 1, 284, now)
    _offer(t, s, gw(1), nh(1), 1, 84, now, health=10)  # selected gateway degrades badly
    t.reselect(now)
    assert t.best().gw == gw(2), "gw2, known for days, is treated as unsettled"


# --- rule 9: a gateway that said it is down ------------------------------------------------


def test_gateway_down_from_any_neighbour_drops_an_older_route():
    t, s = _table()
    _offer(t, s, gw(1), nh(1), 5, 100, 0)
    # An ordinary retraction from another neighbour means nothing to us.
    assert _offer(t, s, gw(1), nh(2), 6, METRIC_INF, 10, health=0) == NOTHING
    # The gateway's own down marker at an older or equal seqno does not either.
    assert _offer(t, s, gw(1), nh(2), 5, METRIC_INF, 20, load=LOAD_GATEWAY_DOWN,
                  health=0) == NOTHING
    assert t.find(gw(1)) is not None
    assert _offer(t, s, gw(1), nh(2), 6, METRIC_INF, 30, load=LOAD_GATEWAY_DOWN,
                  health=0) == LOST
    assert t.find(gw(1)) is None
    # Stale announcements still circulating (seqno 5 or 6) are not taken up again ...
    assert _offer(t, s, gw(1), nh(3), 5, 10, 40) == UNFEASIBLE
    assert _offer(t, s, gw(1), nh(3), 6, 0, 50) == UNFEASIBLE
    # ... but the gateway's next seqno, when it is back, is.
    assert _offer(t, s, gw(1), nh(3), 7, 100, 60) == ADDED


# --- rule 10: the runner-up ------------------------------------------------------------------


def test_route_keeps_the_best_feasible_runner_up():
    t, s = _table()
    _offer(t, s, gw(1), nh(1), 5, 100, 0)  # metric 116
    r = t.find(gw(1))
    assert t.backup(r, 10) is None
    assert _offer(t, s, gw(1), nh(2), 5, 110, 10) == NOTHING  # not better: runner-up
    assert t.backup(r, 20) == nh(2) and r.next_hop == nh(1)
    assert _offer(t, s, gw(1), nh(3), 5, 120, 30) == NOTHING  # worse than the runner-up
    assert t.backup(r, 40) == nh(2)
    assert t.backup(r, 10 + HOLD) is None  # it expires like a route
    assert _offer(t, s, gw(1), nh(2), 5, METRIC_INF, 50, health=0) == NOTHING
    assert t.backup(r, 60) is None  # retracted


def test_runner_up_takes_over_when_the_next_hop_retracts_or_is_lost():
    t, s = _table()
    _offer(t, s, gw(1), nh(1), 5, 100, 0)  # metric 116
    _offer(t, s, gw(1), nh(2), 5, 110, 10)  # runner-up, metric 126
    assert _offer(t, s, gw(1), nh(1), 5, METRIC_INF, 20, health=0) == SWITCHED
    r = t.find(gw(1))
    assert r.next_hop == nh(2) and r.metric == 126
    _offer(t, s, gw(1), nh(3), 5, 300, 30)  # runner-up, metric 316: much worse
    assert t.remove_via(nh(2), 40, s) == []
    assert r.next_hop == nh(3)
    assert t.remove_via(nh(3), 50, s) == [gw(1)]  # no runner-up left
    assert t.find(gw(1)) is None


def test_unfeasible_update_from_the_next_hop_moves_to_a_feasible_runner_up():
    t, s = _table()
    _offer(t, s, gw(1), nh(1), 5, 100, 0)
    _offer(t, s, gw(1), nh(2), 5, 110, 10)
    s.update(gw(1), 5, 105, 20)  # we advertised metric 105 at seqno 5
    # nh(1) now advertises 120 >= 105: unfeasible; nh(2)'s 110 is too: nothing to take over.
    assert _offer(t, s, gw(1), nh(1), 5, 120, 30) == UNFEASIBLE
    assert t.find(gw(1)) is None
    t2, s2 = _table()
    _offer(t2, s2, gw(1), nh(1), 5, 100, 0)
    _offer(t2, s2, gw(1), nh(2), 5, 104, 10)
    s2.update(gw(1), 5, 105, 20)
    assert _offer(t2, s2, gw(1), nh(1), 5, 120, 30) == SWITCHED  # 104 < 105 is feasible
    assert t2.find(gw(1)).next_hop == nh(2)


def test_runner_up_must_be_feasible():
    t, s = _table()
    _offer(t, s, gw(1), nh(1), 5, 100, 0)
    s.update(gw(1), 5, 100, 0)  # we advertised metric 100 at seqno 5
    assert _offer(t, s, gw(1), nh(2), 5, 104, 10) == NOTHING
    assert t.backup(t.find(gw(1)), 20) is None  # 104 >= 100: could loop back through us
