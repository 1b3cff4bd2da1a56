# Unit tests for meshbulb.neighbours: link quality, link cost and the bounded neighbour table.
# Plain test_* functions with asserts: they run under pytest and under tests/mpy_runner.py.

from meshbulb.compat import TICKS_PERIOD, ticks_add
from meshbulb.neighbours import (
    LINK_INF,
    LINK_UNIT,
    Neighbour,
    NeighbourTable,
    initial_quality,
)
from meshbulb_testing.rng import Rng

WEAK = -75
HOLDOFF = 10000
INTERVAL = 1000
HOLD = 4


def addr(i):
    return bytes((0x02, 0, 0, 0, (i >> 8) & 0xFF, i & 0xFF))


def link_addr(i):
    return bytes((0x0A, 0, 0, 0, (i >> 8) & 0xFF, i & 0xFF))


def _nb(rx_q=255, tx_q=255, rssi=-50):
    n = Neighbour(addr(1), 0, link_addr(1), rssi, 0)
    n.rx_q = rx_q
    n.tx_q = tx_q
    return n


def _table(max_entries=4, fail_limit=3, holdoff=HOLDOFF):
    return NeighbourTable(max_entries, HOLD, fail_limit, holdoff)


def _admit(table, i, rssi, now, established=True):
    """Admit neighbour i as a HELLO would; make it established (bidirectional, rx_q 255)."""
    entry, is_new, evicted = table.update(addr(i), 0, link_addr(i), rssi, INTERVAL, now)
    if entry is not None and established:
        entry.rx_q = 255
        entry.tx_q = 255
    return entry, is_new, evicted


# --- Neighbour: rule 2 (reception quality) -------------------------------------------------


def test_first_hello_sets_initial_quality():
    n = Neighbour(addr(1), 0, link_addr(1), -50, 0)
    assert n.rx_q == 0 and n.tx_q == 0
    assert n.hello_received(100, 128)
    assert n.rx_q == 128
    assert n.hello_seq == 100


def test_duplicate_hello_rejected_and_quality_unchanged():
    n = Neighbour(addr(1), 0, link_addr(1), -50, 0)
    n.hello_received(7, 128)
    n.hello_received(8, 128)
    q = n.rx_q
    assert not n.hello_received(8, 128)
    assert n.rx_q == q


def test_received_hello_moves_quarter_towards_255():
    n = Neighbour(addr(1), 0, link_addr(1), -50, 0)
    n.hello_received(0, 128)
    n.hello_received(1, 128)
    assert n.rx_q == 160  # 128 + ceil(127 / 4)
    n.hello_received(2, 128)
    assert n.rx_q == 184  # 160 + ceil(95 / 4)


def test_missed_hello_decays_quarter():
    n = Neighbour(addr(1), 0, link_addr(1), -50, 0)
    n.hello_received(0, 160)
    n.hello_received(2, 160)  # one missed: 160 -> 120, then received: 120 + ceil(135/4)
    assert n.rx_q == 154
    m = Neighbour(addr(2), 0, link_addr(2), -50, 0)
    m.hello_received(0, 160)
    m.hello_received(4, 160)  # three missed: 160 -> 120 -> 90 -> 68, then 68 + ceil(187/4)
    assert m.rx_q == 115


def test_quality_converges_to_255_and_never_exceeds():
    n = Neighbour(addr(1), 0, link_addr(1), -50, 0)
    n.hello_received(0, 64)
    last = n.rx_q
    for seq in range(1, 60):
        n.hello_received(seq, 64)
        assert last <= n.rx_q <= 255
        last = n.rx_q
    assert n.rx_q == 255


def test_quality_never_below_zero_after_long_loss():
    n = Neighbour(addr(1), 0, link_addr(1), -50, 0)
    n.hello_received(0, 255)
    for k in range(1, 20):
        n.hello_received(k * 64, 255)  # 63 missed each time, still <= 64 gap
        assert 0 <= n.rx_q <= 255
    assert n.rx_q < 128, n.rx_q


def test_hello_seq_wraparound_is_consecutive():
    n = Neighbour(addr(1), 0, link_addr(1), -50, 0)
    n.hello_received(0xFFFF, 128)
    assert n.hello_received(0, 128)
    assert n.rx_q == 160, "0xFFFF -> 0 must count as the next HELLO, not a restart"
    assert n.hello_seq == 0


def test_long_gap_resets_to_initial_quality():
    n = Neighbour(addr(1), 0, link_addr(1), -50, 0)
    n.hello_received(10, 128)
    for s in range(11, 20):
        n.hello_received(s, 128)
    assert n.rx_q > 200
    assert n.hello_received(19 + 65, 64)  # gap 65 > 64: restart
    assert n.rx_q == 64
    m = Neighbour(addr(2), 0, link_addr(2), -50, 0)
    m.hello_received(10, 200)
    m.hello_received(10 + 64, 100)  # gap exactly 64: decay, not reset
    assert m.rx_q != 100


# --- rule 3 (cost) -----------------------------------------------------------------------


def test_perfect_link_costs_one_etx():
    assert LINK_UNIT == 16
    assert _nb(255, 255).cost(WEAK) == LINK_UNIT


def test_unidirectional_link_costs_infinity():
    assert _nb(255, 0).cost(WEAK) == LINK_INF
    assert _nb(0, 255).cost(WEAK) == LINK_INF
    assert _nb(0, 0).cost(WEAK) == LINK_INF


def test_cost_is_16_times_etx():
    # rx = tx = 0.5 -> ETX ~ 4
    assert _nb(128, 128).cost(WEAK) == (16 * 65025) // (128 * 128)
    assert 60 <= _nb(128, 128).cost(WEAK) <= 64


def test_cost_grows_as_quality_falls():
    last = 0
    for q in (255, 200, 150, 100, 60, 30):
        c = _nb(q, 255).cost(WEAK)
        assert c > last, "q=%d cost %d" % (q, c)
        last = c
    assert _nb(200, 100).cost(WEAK) == _nb(100, 200).cost(WEAK)


def test_weak_rssi_costs_more():
    strong = _nb(255, 255, rssi=WEAK).cost(WEAK)
    assert strong == 16
    assert _nb(255, 255, rssi=WEAK - 8).cost(WEAK) == 32
    assert _nb(255, 255, rssi=WEAK - 1).cost(WEAK) > 16
    assert _nb(255, 255, rssi=WEAK - 20).cost(WEAK) > _nb(255, 255, rssi=WEAK - 8).cost(WEAK)


def test_cost_is_capped_below_infinity():
    c = _nb(1, 1).cost(WEAK)
    assert c == 1024
    c = _nb(20, 20, rssi=-119).cost(WEAK)
    assert c == 1024
    assert c < LINK_INF


def test_established_needs_bidirectional_and_rx_128():
    assert _nb(128, 1).established()
    assert not _nb(127, 255).established()
    assert not _nb(255, 0).established()


def test_initial_quality_by_rssi():
    assert initial_quality(WEAK + 15, WEAK) == 160
    assert initial_quality(-20, WEAK) == 160
    assert initial_quality(WEAK + 14, WEAK) == 128
    assert initial_quality(WEAK, WEAK) == 128
    assert initial_quality(WEAK - 1, WEAK) == 64
    assert initial_quality(-120, WEAK) == 64


# --- NeighbourTable: rules 1, 4 ------------------------------------------------------------


def test_update_admits_then_refreshes():
    t = _table()
    e, is_new, ev = t.update(addr(1), 0, link_addr(1), -60, INTERVAL, 100)
    assert e is not None and is_new and ev is None
    assert len(t) == 1
    assert t.find(addr(1)) is e
    assert t.find_by_link(link_addr(1)) is e
    assert e.expires_ms == 100 + INTERVAL * HOLD
    e2, is_new, ev = t.update(addr(1), 0, link_addr(1), -40, 2000, 500)
    assert e2 is e and not is_new and ev is None
    assert len(t) == 1
    assert e.rssi_dbm == (-60 * 3 + -40) // 4  # smoothed
    assert e.heard_ms == 500
    assert e.expires_ms == 500 + 2000 * HOLD


def test_unknown_lookups_return_none():
    t = _table()
    assert t.find(addr(9)) is None
    assert t.find_by_link(link_addr(9)) is None
    assert t.remove(addr(9)) is None
    assert t.send_failed(link_addr(9)) is None
    t.send_succeeded(link_addr(9))  # no error


def test_link_address_change_moves_the_index():
    t = _table()
    e, _, _ = t.update(addr(1), 0, link_addr(1), -60, INTERVAL, 0)
    t.update(addr(1), 1, link_addr(7), -60, INTERVAL, 10)
    assert t.find_by_link(link_addr(1)) is None
    assert t.find_by_link(link_addr(7)) is e
    assert e.link == 1 and e.link_addr == link_addr(7)
    t.remove(addr(1))
    assert t.find_by_link(link_addr(7)) is None
    assert len(t) == 0


def test_send_failures_lose_neighbour_at_limit():
    t = _table(fail_limit=3)
    e, _, _ = t.update(addr(1), 0, link_addr(1), -60, INTERVAL, 0)
    assert t.send_failed(link_addr(1)) is None
    assert t.send_failed(link_addr(1)) is None
    assert t.send_failed(link_addr(1)) is e


def test_send_success_and_hello_reset_failure_count():
    t = _table(fail_limit=2)
    t.update(addr(1), 0, link_addr(1), -60, INTERVAL, 0)
    assert t.send_failed(link_addr(1)) is None
    t.send_succeeded(link_addr(1))
    assert t.send_failed(link_addr(1)) is None, "success must reset the consecutive count"
    t.update(addr(1), 0, link_addr(1), -60, INTERVAL, 10)
    assert t.send_failed(link_addr(1)) is None, "a HELLO must reset the consecutive count"
    assert t.send_failed(link_addr(1)) is not None


def test_expire_returns_lost_and_next_deadline():
    t = _table()
    t.update(addr(1), 0, link_addr(1), -60, 1000, 0)  # expires 4000
    t.update(addr(2), 0, link_addr(2), -60, 2000, 0)  # expires 8000
    t.update(addr(3), 0, link_addr(3), -60, 1500, 0)  # expires 6000
    lost, deadline = t.expire(3999)
    assert not lost
    assert deadline == 4000
    lost, deadline = t.expire(4000)
    assert [e.node_addr for e in lost] == [addr(1)]
    assert deadline == 6000
    assert t.find(addr(1)) is None and t.find_by_link(link_addr(1)) is None
    lost, deadline = t.expire(9000)
    assert sorted(e.node_addr for e in lost) == [addr(2), addr(3)]
    assert deadline is None
    assert len(t) == 0
    assert t.expire(9001) == (None, None)


def test_expire_across_tick_wraparound():
    start = TICKS_PERIOD - 1500
    t = _table()
    t.update(addr(1), 0, link_addr(1), -60, 500, start)  # expires start + 2000 (wrapped)
    t.update(addr(2), 0, link_addr(2), -60, 250, start)  # expires start + 1000
    lost, deadline = t.expire(ticks_add(start, 999))
    assert not lost
    assert deadline == ticks_add(start, 1000)
    lost, deadline = t.expire(ticks_add(start, 1000))
    assert [e.node_addr for e in lost] == [addr(2)]
    assert deadline == ticks_add(start, 2000)
    assert deadline < start  # really wrapped
    lost, deadline = t.expire(ticks_add(start, 1999))
    assert not lost and len(t) == 1
    lost, deadline = t.expire(ticks_add(start, 2000))
    assert len(lost) == 1 and len(t) == 0


def test_hello_entries_lists_every_neighbour_with_rx_q():
    t = _table()
    e1, _, _ = t.update(addr(1), 0, link_addr(1), -60, INTERVAL, 0)
    e2, _, _ = t.update(addr(2), 0, link_addr(2), -60, INTERVAL, 0)
    e1.rx_q = 200
    e2.rx_q = 40
    assert sorted(t.hello_entries()) == [(addr(1), 200), (addr(2), 40)]


# --- rule 5: bounded table and eviction ----------------------------------------------------


def test_table_never_exceeds_max():
    t = _table(max_entries=3)
    for i in range(1, 40):
        t.update(addr(i), 0, link_addr(i), -60 + (i % 30), INTERVAL, i * 10)
        assert len(t) <= 3
    assert len(t) == 3


def test_newcomer_displaces_weakest_non_established_only_when_louder():
    t = _table(max_entries=3)
    _admit(t, 1, -60, 0)  # established
    _admit(t, 2, -70, 0, established=False)
    e3, _, _ = _admit(t, 3, -80, 0, established=False)
    # Not louder than the weakest by 3 dB: the table does not churn.
    assert t.update(addr(4), 0, link_addr(4), -78, INTERVAL, 10) == (None, False, None)
    assert t.find(addr(4)) is None and t.find(addr(3)) is not None
    e, is_new, evicted = t.update(addr(5), 0, link_addr(5), -77, INTERVAL, 20)
    assert e is not None and is_new
    assert evicted is e3
    assert t.find(addr(3)) is None and t.find_by_link(link_addr(3)) is None
    assert t.find(addr(1)) is not None and t.find(addr(2)) is not None
    assert len(t) == 3


def test_full_of_established_refuses_newcomer_not_10db_stronger():
    t = _table(max_entries=3)
    for i, rssi in ((1, -60), (2, -70), (3, -65)):
        _admit(t, i, rssi, 0)
    assert t.update(addr(9), 0, link_addr(9), -61, INTERVAL, 5) == (None, False, None)
    assert len(t) == 3
    assert t.find(addr(9)) is None
    assert t.find_by_link(link_addr(9)) is None


def test_newcomer_10db_stronger_evicts_weakest_established():
    t = _table(max_entries=3)
    for i, rssi in ((1, -60), (2, -70), (3, -65)):
        _admit(t, i, rssi, 0)
    e, is_new, evicted = t.update(addr(9), 0, link_addr(9), -60, INTERVAL, 5)
    assert e is not None and is_new
    assert evicted is not None and evicted.node_addr == addr(2)
    assert t.find(addr(2)) is None
    assert len(t) == 3


def test_established_eviction_at_most_once_per_holdoff():
    t = _table(max_entries=3)
    for i, rssi in ((1, -80), (2, -81), (3, -82)):
        _admit(t, i, rssi, 1000)
    _, _, ev = _admit(t, 10, -30, 1000)
    assert ev is not None and ev.node_addr == addr(3)
    # Another strong newcomer inside the holdoff is refused.
    assert _admit(t, 11, -30, 1000 + HOLDOFF - 1)[0] is None
    # At the end of the holdoff the next one gets in.
    e, _, ev = _admit(t, 11, -30, 1000 + HOLDOFF)
    assert e is not None and ev is not None and ev.node_addr == addr(2)


def _rule5_decision(t, rssi, now, last_evict):
    """Rule 5 worked out from the whole table: (victim or None, whether it was established)."""
    entries = list(t.entries())
    unestablished = [e for e in entries if not e.established()]
    if unestablished:
        weakest = min(unestablished, key=lambda e: e.rssi_dbm)
        return (weakest if rssi >= weakest.rssi_dbm + 3 else None), False
    if last_evict is not None and now - last_evict < HOLDOFF:
        return None, True
    weakest = min(entries, key=lambda e: e.rssi_dbm)
    return (weakest if rssi >= weakest.rssi_dbm + 10 else None), True


def test_full_table_turns_newcomers_away_exactly_as_a_full_scan_would():
    # Rule 6 skips the scan for newcomers below a cached RSSI floor; entries keep getting
    # louder and weaker, so the floor is often stale. Decisions must not change.
    rng = Rng(5)
    t = _table(max_entries=6)
    last_evict = None
    refused = 0
    evictions = [0, 0]  # of entries not established, of established ones
    for step in range(4000):
        now = step * 100
        i = 1 + rng.below(60)
        rssi = -95 + rng.below(60)
        if len(t) < 6 or t.find(addr(i)) is not None:
            expected = None
        else:
            expected, established = _rule5_decision(t, rssi, now, last_evict)
        entry, is_new, evicted = t.update(addr(i), 0, link_addr(i), rssi, INTERVAL, now)
        if len(t) == 6 and is_new or entry is None:
            assert evicted is expected, (step, rssi)
            if expected is not None:
                evictions[established] += 1
                if established:
                    last_evict = now
        if entry is None:
            refused += 1
        if entry is not None and rng.below(3) == 0:
            entry.rx_q, entry.tx_q = 255, 255  # established now and then
        if rng.below(50) == 0:
            t.remove(addr(1 + rng.below(60)))
    assert refused > 1000 and evictions[0] > 10 and evictions[1] > 10, (refused, evictions)


def _flood(t, originals, start, fakes_establish):
    """500 loud fake newcomers, one every 50 ms (2.5 holdoffs); returns originals kept."""
    for k in range(500):
        now = ticks_add(start, k * 50)
        e, _, _ = t.update(addr(1000 + k), 0, link_addr(1000 + k), -20, INTERVAL, now)
        if e is not None and fakes_establish:
            e.rx_q = 255
            e.tx_q = 255
        assert len(t) <= 6
        kept = sum(1 for e in t.entries() if e.node_addr in originals)
        # Evictions of established entries are allowed at 0, HOLDOFF, 2 * HOLDOFF only.
        allowed = 1 + (k * 50) // HOLDOFF
        assert 6 - kept <= allowed, "after %d ms: %d established evicted" % (k * 50, 6 - kept)
    assert len(t) == 6
    return sum(1 for e in t.entries() if e.node_addr in originals)


def _six_established(start):
    t = _table(max_entries=6)
    originals = set()
    for i in range(1, 7):
        _admit(t, i, -85, start)
        originals.add(addr(i))
    return t, originals


def test_flood_of_established_fakes_evicts_one_per_holdoff():
    # Worst case: every fake answers our HELLOs and is established at once. Still only
    # one established entry goes per holdoff: 3 in 2.5 holdoffs (at 0, 10 s and 20 s).
    start = TICKS_PERIOD - 3000  # the flood crosses the tick wrap
    t, originals = _six_established(start)
    assert _flood(t, originals, start, True) == 3


def test_flood_of_one_hello_fakes_churns_among_themselves():
    # Fakes that never become established are displaced first (rule 5), so after the
    # first eviction they only displace each other: 5 of 6 good links survive.
    start = TICKS_PERIOD - 3000
    t, originals = _six_established(start)
    assert _flood(t, originals, start, False) == 5


def test_zero_holdoff_allows_each_strong_newcomer():
    t = _table(max_entries=2, holdoff=0)
    _admit(t, 1, -80, 0)
    _admit(t, 2, -80, 0)
    assert _admit(t, 3, -60, 0)[2] is not None
    assert _admit(t, 4, -60, 0)[2] is not None
    assert len(t) == 2


# Regression: removing a stale row must not drop the link index of the row now on that link.
def test_link_index_survives_removal_of_a_stale_row_on_the_same_link():
    t = _table()
    old, _, _ = t.update(addr(1), 0, link_addr(5), -60, INTERVAL, 0)
    new, _, _ = t.update(addr(2), 0, link_addr(5), -60, INTERVAL, 100)
    assert t.find_by_link(link_addr(5)) is new
    t.remove(addr(1))
    assert t.find(addr(2)) is new
    assert t.find_by_link(link_addr(5)) is new, "index lost for a neighbour still in the table"


# Regression: after more than 2**29 ms of quiet, the eviction holdoff must not block (ticks_elapsed).
def test_eviction_allowed_again_after_a_long_quiet_period():
    t = _table(max_entries=2)
    _admit(t, 1, -80, 0)
    _admit(t, 2, -80, 0)
    assert _admit(t, 3, -60, 0)[2] is not None
    # HELLOs keep coming and the table is housekept regularly, as a node does, for 6.2 days.
    for now in (2 * HOLDOFF, 1 << 28, (1 << 29) + 2 * HOLDOFF):
        for i in (1, 2, 3):
            if t.find(addr(i)) is not None:
                _admit(t, i, -80, now)
        t.expire(now)
    later = (1 << 29) + 2 * HOLDOFF
    e, _, evicted = _admit(t, 4, -50, later)
    assert e is not None and evicted is not None, "holdoff still blocks after 2**29 ms"


def test_a_jump_in_hello_seq_reports_a_restart():
    from meshbulb.neighbours import HELLO_DUPLICATE, HELLO_NEXT, HELLO_RESTART

    n = Neighbour(addr(1), 0, addr(1), -60, 0)
    assert n.hello_received(10, 128) == HELLO_NEXT
    assert n.hello_received(11, 128) == HELLO_NEXT
    assert n.hello_received(11, 128) == HELLO_DUPLICATE
    assert n.hello_received(5000, 128) == HELLO_RESTART
