"""The ledger of what a run offered the mesh and what arrived: per packet a few bytes in flat
arrays, so that a long run (a day of diurnal churn over a city) does not keep millions of
Python objects alive.

Rules kept here:
1. Packet ids are 1, 2, 3, ... in the order packets are offered, for every kind; a packet's
   fields sit at index id - 1 of each array: when it was sent, its bulb (the source of an
   internet packet, the destination of a bulb-to-bulb one, the group index of a group
   message), whether it counts towards a delivery ratio, and whether it has arrived: 13
   bytes a packet.
2. A packet arrives once: a second copy (another gateway, a salvaged duplicate) changes
   nothing. An id the ledger never issued, or one of another kind, is ignored.
3. A group message keeps its members (the bulbs it should reach) as one sorted array of
   32-bit indices and one byte each for "got it": 5 bytes a member, where sets of ints took
   about 60. A member counts once, however many copies it takes in.
4. Latencies are kept in an array of doubles, one per counted internet packet that arrived
   (the report draws their distribution, latencies.csv lists them).
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator

INTERNET = 1
P2P = 2
GROUP = 3

_COUNTED = 0x04
_ARRIVED = 0x08
_KIND_MASK = 0x03


class PacketLedger:
    def __init__(self) -> None:
        self._sent_s = array("d")
        self._bulb = array("i")
        self._state = bytearray()  # kind | _COUNTED | _ARRIVED
        self._groups: list[array[int]] = []
        self._got: list[bytearray] = []
        self.latencies_ms = array("d")
        self.offered = {INTERNET: 0, P2P: 0}  # counted packets of each kind
        self.arrived = {INTERNET: 0, P2P: 0}  # ... of them that arrived
        self.group_expected = 0  # members of counted group messages
        self.group_received = 0  # ... that got theirs

    def __len__(self) -> int:
        return len(self._state)

    def _issue(self, kind: int, bulb: int, t_s: float, counted: bool) -> int:
        self._sent_s.append(t_s)
        self._bulb.append(bulb)
        self._state.append(kind | (_COUNTED if counted else 0))
        return len(self._state)

    def _index(self, pid: int, kind: int) -> int | None:
        """Rule 2: the index of a packet of this kind that has not arrived yet."""
        k = pid - 1
        if not 0 <= k < len(self._state):
            return None
        state = self._state[k]
        if state & _KIND_MASK != kind or state & _ARRIVED:
            return None
        return k

    # --- offering ------------------------------------------------------------------------

    def internet(self, src: int, t_s: float, counted: bool) -> int:
        """An internet packet sent by bulb src; returns its id."""
        if counted:
            self.offered[INTERNET] += 1
        return self._issue(INTERNET, src, t_s, counted)

    def p2p(self, dst: int, t_s: float, counted: bool) -> int:
        """A bulb-to-bulb packet for bulb dst; returns its id."""
        if counted:
            self.offered[P2P] += 1
        return self._issue(P2P, dst, t_s, counted)

    def group(self, members: Iterable[int] | None, t_s: float) -> int:
        """A group message for these members (rule 3); None: it does not count."""
        if members is None:
            return self._issue(GROUP, -1, t_s, False)
        kept = array("i", sorted(members))
        self._groups.append(kept)
        self._got.append(bytearray(len(kept)))
        self.group_expected += len(kept)
        return self._issue(GROUP, len(self._groups) - 1, t_s, True)

    # --- arriving ------------------------------------------------------------------------

    def internet_arrived(self, pid: int) -> tuple[int, float, bool] | None:
        """Peek at an internet packet that has not arrived yet: (src, sent at, counted)."""
        k = self._index(pid, INTERNET)
        if k is None:
            return None
        return self._bulb[k], self._sent_s[k], bool(self._state[k] & _COUNTED)

    def internet_delivered(self, pid: int, latency_ms: float) -> None:
        """It left through a gateway's uplink, latency_ms after it was sent (rule 4)."""
        k = self._index(pid, INTERNET)
        if k is None:
            return
        self._state[k] |= _ARRIVED
        if self._state[k] & _COUNTED:
            self.arrived[INTERNET] += 1
            self.latencies_ms.append(latency_ms)

    def p2p_arrived(self, pid: int, at: int) -> None:
        """Bulb `at` took in a bulb-to-bulb packet; it counts if it was for that bulb."""
        k = self._index(pid, P2P)
        if k is None or self._bulb[k] != at:
            return
        self._state[k] |= _ARRIVED
        if self._state[k] & _COUNTED:
            self.arrived[P2P] += 1

    def group_arrived(self, pid: int, at: int) -> None:
        """Bulb `at` took in a group message; it counts once for each member (rule 3)."""
        k = pid - 1
        if not 0 <= k < len(self._state):
            return
        state = self._state[k]
        if state & _KIND_MASK != GROUP or not state & _COUNTED:
            return
        members, got = self._groups[self._bulb[k]], self._got[self._bulb[k]]
        pos = bisect_left(members, at)
        if pos < len(members) and members[pos] == at and not got[pos]:
            got[pos] = 1
            self.group_received += 1

    # --- reading -------------------------------------------------------------------------

    def ratio(self, kind: int) -> float | None:
        """Delivery ratio of the counted packets of a kind; None when none counted."""
        if kind == GROUP:
            return self.group_received / self.group_expected if self.group_expected else None
        offered = self.offered[kind]
        return self.arrived[kind] / offered if offered else None

    def sent(self, kind: int) -> Iterator[tuple[int, float]]:
        """(bulb, sent at) of every packet of a kind, in the order they were sent."""
        for k, state in enumerate(self._state):
            if state & _KIND_MASK == kind:
                yield self._bulb[k], self._sent_s[k]

    def groups(self) -> list[array[int]]:
        """The members of every counted group message."""
        return list(self._groups)
