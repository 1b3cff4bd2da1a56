"""The packet ledger (simulator/packets.py): what a run offered and what arrived."""

from __future__ import annotations

from meshbulb_sim import packets
from meshbulb_sim.packets import PacketLedger


def test_ids_follow_the_order_packets_are_offered_in_across_kinds() -> None:
    ledger = PacketLedger()
    ids = [ledger.internet(5, 1.0, True), ledger.p2p(7, 2.0, True),
           ledger.group([3, 1, 2], 3.0), ledger.internet(6, 4.0, False)]
    assert ids == [1, 2, 3, 4] and len(ledger) == 4
    assert list(ledger.sent(packets.INTERNET)) == [(5, 1.0), (6, 4.0)]
    assert list(ledger.sent(packets.P2P)) == [(7, 2.0)]
    assert [list(m) for m in ledger.groups()] == [[1, 2, 3]]


def test_an_internet_packet_arrives_once_and_counts_only_when_counted() -> None:
    ledger = PacketLedger()
    counted = ledger.internet(1, 10.0, True)
    ignored = ledger.internet(2, 11.0, False)
    never = ledger.internet(3, 12.0, True)
    assert ledger.ratio(packets.INTERNET) == 0.0
    assert ledger.internet_arrived(counted) == (1, 10.0, True)
    ledger.internet_delivered(counted, 25.0)
    assert ledger.internet_arrived(counted) is None  # a second copy changes nothing
    ledger.internet_delivered(counted, 99.0)
    assert ledger.internet_arrived(ignored) == (2, 11.0, False)
    ledger.internet_delivered(ignored, 30.0)
    assert list(ledger.latencies_ms) == [25.0]
    assert ledger.offered[packets.INTERNET] == 2 and ledger.arrived[packets.INTERNET] == 1
    assert ledger.ratio(packets.INTERNET) == 0.5
    assert ledger.internet_arrived(never) == (3, 12.0, True)


def test_ids_it_never_issued_or_of_another_kind_are_ignored() -> None:
    ledger = PacketLedger()
    p2p = ledger.p2p(4, 1.0, True)
    group = ledger.group([4], 2.0)
    for pid in (0, -1, 3, 2**32 - 1, p2p, group):
        assert ledger.internet_arrived(pid) is None
        ledger.internet_delivered(pid, 1.0)
    ledger.p2p_arrived(group, 4)
    ledger.group_arrived(p2p, 4)
    ledger.p2p_arrived(99, 4)
    ledger.group_arrived(99, 4)
    assert not ledger.latencies_ms
    assert ledger.ratio(packets.INTERNET) is None  # nothing counted was offered
    assert ledger.ratio(packets.P2P) == 0.0 and ledger.ratio(packets.GROUP) == 0.0


def test_a_bulb_to_bulb_packet_counts_only_at_its_destination() -> None:
    ledger = PacketLedger()
    pid = ledger.p2p(8, 1.0, True)
    ledger.p2p_arrived(pid, 9)  # a relay or a wrong bulb
    assert ledger.ratio(packets.P2P) == 0.0
    ledger.p2p_arrived(pid, 8)
    ledger.p2p_arrived(pid, 8)
    assert ledger.ratio(packets.P2P) == 1.0
    uncounted = ledger.p2p(8, 2.0, False)
    ledger.p2p_arrived(uncounted, 8)
    assert ledger.offered[packets.P2P] == 1 and ledger.ratio(packets.P2P) == 1.0


def test_a_group_message_counts_each_member_once_and_nobody_else() -> None:
    ledger = PacketLedger()
    pid = ledger.group({40, 10, 30, 20}, 1.0)
    warmup = ledger.group(None, 0.5)  # sent before the measurement started
    for at in (10, 10, 30, 25, 50, 0):
        ledger.group_arrived(pid, at)
    ledger.group_arrived(warmup, 10)
    assert ledger.group_expected == 4 and ledger.group_received == 2
    assert ledger.ratio(packets.GROUP) == 0.5
    assert len(ledger.groups()) == 1

