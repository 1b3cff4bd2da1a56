"""The shared air: transmissions, carrier sense, collisions and ESP-NOW unicast retries, with
one simpy event per transmission (not one per reception).

Rules kept here:
1. A transmission occupies the air for airtime_s(frame) at the sender and at every neighbour
   (radio.py). Its end is one simpy event that decides, for every neighbour at once, whether
   the frame was received: not if the neighbour was transmitting meanwhile (half duplex), not
   if another audible transmission overlapped it there (collision, no capture), and otherwise
   with the link's PRR.
2. Carrier sense (unless cca is off): a sender that hears the air busy waits until it is
   free, plus DIFS and a random backoff drawn from the contention window of the frame at the
   head of its FIFO (CW_SLOTS slots for a first attempt, rule 3 for a retry); frames wait in
   the FIFO meanwhile. After a transmission (and its ACK) the next frame in the FIFO waits
   DIFS and a first attempt's backoff too (802.11's post-backoff; until commit 21b16b7 it
   went at once). The timing is 802.11b DSSS, ESP-NOW's default 1 Mbit/s PHY: 20 us slots,
   SIFS 10 us, DIFS 50 us, CWmin 31, CWmax 1023. (Until commit b7382f0 the slot was 50 us,
   802.11's FHSS value, and the ACK 60 us.)
3. Unicast goes on the air like broadcast (every neighbour's air is busy) but is delivered only
   to its addressee, which acknowledges it after SIFS with a 14-byte ACK (304 us at 1 Mbit/s);
   the frame's duration field (NAV) keeps the sender's neighbours from sending until the ACK
   is over. Without an acknowledgement the sender retries up to `retries` times, then
   reports the failure with the frame, as ESP-NOW's synchronous send does. The addressee
   takes the frame in when it gets through, whether or not its ACK then reaches the sender
   (drawn with the reverse link's PRR): a lost ACK costs a retry, not the frame, and the
   retries of a frame already taken in are dropped by the addressee's MAC as duplicates
   (802.11 duplicate detection, which ESP-NOW's MAC does). So a send can report failure
   for a frame that arrived, as on a bulb. (Until commit 974b1ab a lost ACK lost the frame.)
   The ACK is on the air from SIFS after the frame's end, decided at that end (one event
   still covers frame and ACK): the addressee's neighbours hear the air busy, a reception in
   progress at one of them is lost, and so is a frame that starts reaching one of them
   meanwhile; the addressee takes nothing in while it sends, and the sender hears the ACK
   unless something else it hears is still on the air (its own neighbours are kept quiet by
   the NAV). Until commit 21b16b7 the ACK counted only towards the addressee's airtime. Each
   retry waits DIFS and a random backoff from a window
   that doubles with every attempt, from CW_SLOTS to CW_MAX_SLOTS slots (802.11's binary
   exponential backoff, which ESP-NOW's MAC uses): with a fixed window, the 8 attempts of a
   frame all fell within about 15 ms, and a receiver kept busy that long by hidden senders
   lost every one. A retry that then finds the air busy keeps its window (until commit
   5215833 a retry waited no DIFS, and a busy air reset its window to CW_SLOTS).
4. Nodes that are off neither send nor receive; their queues are dropped.
5. Every random draw comes from one seeded random.Random: per-frame draws are scalars, and
   the standard library draws a scalar 20 times faster than a numpy Generator.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from random import Random
from typing import Any

from .calls import call_later
from .radio import LinkTable, RadioParams, ack_airtime_s, airtime_s

# Rule 2: 802.11b DSSS.
SLOT_S = 20e-6
SIFS_S = 10e-6
DIFS_S = SIFS_S + 2 * SLOT_S
CW_SLOTS = 32
CW_MAX_SLOTS = 1024
_ACK_TX = -1  # rx_tx of a node hearing an ACK (rule 3)


def contention_window(attempt: int) -> int:
    """Backoff slots to draw from for a frame's attempt (0 = first try), rules 2 and 3."""
    return min(CW_SLOTS << attempt, CW_MAX_SLOTS)


Deliver = Callable[[int, int, bytes, int], None]  # (receiver, sender, frame, rssi_dbm)
Verdict = Callable[[int, int, bool, bytes], None]  # (sender, addressee, acknowledged, frame)


class Medium:
    def __init__(self, env: Any, links: LinkTable, params: RadioParams, retries: int,
                 rng: Random, deliver: Deliver, verdict: Verdict,
                 cca: bool = True) -> None:
        self.env = env
        self.cca = cca
        self.links = links
        self.params = params
        self.retries = retries
        self.ack_air_s = ack_airtime_s(params)
        self.ack_s = SIFS_S + self.ack_air_s  # rule 3: from a frame's end to its ACK's
        self.rng = rng
        self.deliver = deliver
        self.verdict = verdict
        count = len(links.neighbours)
        self.on = [True] * count
        self.busy_until = [0.0] * count  # air heard busy (own or neighbours' transmissions)
        self.tx_until = [0.0] * count  # own transmission in progress
        self.rx_end = [0.0] * count  # end of the latest reception in progress
        self.rx_tx: list[int] = [-1] * count  # id of that reception's transmission
        # (addressee, frame, attempt, taken in by the addressee already)
        self.queues: list[deque[tuple[int | None, bytes, int, bool]]] = [
            deque() for _ in range(count)]
        self.sending = [False] * count
        self.airtime_used_s = [0.0] * count
        self.collided: dict[int, set[int]] = {}
        self._next_tx = 0
        self.transmissions = 0
        self.collisions = 0
        self._index_of: dict[int, dict[int, int]] = {}

    def send(self, i: int, dst: int | None, frame: bytes) -> None:
        """Queue a frame at node i for neighbour dst (None = broadcast)."""
        if not self.on[i]:
            return
        self.queues[i].append((dst, frame, 0, False))
        if not self.sending[i]:
            self.sending[i] = True
            self._try(i)

    def _try(self, i: int) -> None:
        """Rule 2."""
        if not self.on[i] or not self.queues[i]:
            self.sending[i] = False
            self.queues[i].clear()
            return
        now = self.env.now
        if self.cca and self.busy_until[i] > now:
            backoff = DIFS_S + self.rng.randrange(contention_window(self.queues[i][0][2])) * SLOT_S
            call_later(self.env, self.busy_until[i] - now + backoff, self._try, i)
            return
        dst, frame, attempt, taken_in = self.queues[i].popleft()
        self._transmit(i, dst, frame, attempt, taken_in)

    def _transmit(self, i: int, dst: int | None, frame: bytes, attempt: int,
                  taken_in: bool) -> None:
        """Rule 1, the start of a transmission. The hottest loop of a run: the per-node
        lists are bound to locals."""
        now = self.env.now
        duration = airtime_s(len(frame), self.params)
        end = now + duration
        hold = end if dst is None else end + self.ack_s  # rule 3: the NAV covers the ACK
        tx = self._next_tx
        self._next_tx += 1
        self.transmissions += 1
        self.airtime_used_s[i] += duration
        self.tx_until[i] = end
        busy_until, tx_until, rx_end, rx_tx = (self.busy_until, self.tx_until, self.rx_end,
                                               self.rx_tx)
        collided = self.collided
        if busy_until[i] < hold:
            busy_until[i] = hold
        if rx_end[i] > now and rx_tx[i] >= 0:  # half duplex: a reception here is lost
            collided.setdefault(rx_tx[i], set()).add(i)
        lost: set[int] = set()
        for j in self.links.neighbours[i]:
            if busy_until[j] < hold:
                busy_until[j] = hold
            if tx_until[j] > now:
                lost.add(j)
            elif rx_end[j] > now:
                if rx_tx[j] >= 0:  # (an ACK, _ACK_TX, is nobody's reception to lose)
                    collided.setdefault(rx_tx[j], set()).add(j)
                lost.add(j)
                self.collisions += 1
            if rx_end[j] < end:
                rx_end[j] = end
                rx_tx[j] = tx
        collided[tx] = lost
        # One event at the frame's end; a unicast's ACK is decided there too (rule 3).
        call_later(self.env, end - now, self._end, tx, i, dst, frame, attempt, taken_in)

    def _end(self, tx: int, i: int, dst: int | None, frame: bytes, attempt: int,
             taken_in: bool) -> None:
        """Rule 1 (the end event) and rule 3."""
        lost = self.collided.pop(tx, set())
        neighbours = self.links.neighbours[i]
        prr = self.links.prr[i]
        rssi = self.links.rssi_dbm[i]
        if dst is None:
            on, deliver, draw = self.on, self.deliver, self.rng.random
            for k, j in enumerate(neighbours):
                if j not in lost and on[j] and draw() < prr[k]:
                    deliver(j, i, frame, rssi[k])
            self._next_frame(i)
            return
        now = self.env.now
        ack_start = now + SIFS_S
        hold = now + self.ack_s
        pos = self._position(i, dst)
        acked = False
        if pos is not None and dst not in lost and self.on[dst] and self.rng.random() < prr[pos]:
            self._ack_on_air(dst, i, ack_start, hold)
            if not taken_in:  # rule 3: a retry of a frame already taken in is a duplicate
                taken_in = True
                self.deliver(dst, i, frame, rssi[pos])
            # The sender hears the ACK unless something else it hears is still on the air.
            acked = self.rx_end[i] <= ack_start and self.rng.random() < prr[pos]
        self._settle(i, dst, frame, attempt, taken_in, acked, hold)

    def _settle(self, i: int, dst: int, frame: bytes, attempt: int, taken_in: bool,
                acked: bool, hold: float) -> None:
        """Rule 3, at the sender once it knows whether its unicast was acknowledged: report
        it, or retry after the NAV (hold) and a backoff."""
        if acked:
            self.verdict(i, dst, True, frame)
            self._next_frame(i)
            return
        if attempt < self.retries and self.on[i]:
            self.queues[i].appendleft((dst, frame, attempt + 1, taken_in))
            backoff = DIFS_S + self.rng.randrange(contention_window(attempt + 1)) * SLOT_S
            call_later(self.env, max(0.0, hold - self.env.now) + backoff, self._try, i)
            return
        self.verdict(i, dst, False, frame)
        self._next_frame(i)

    def _ack_on_air(self, j: int, sender: int, start: float, end: float) -> None:
        """Rule 3: j acknowledges from start to end. Its neighbours hear the air busy, a
        reception in progress at one of them is lost, and so is a frame that starts reaching
        one of them meanwhile; j itself takes nothing in while it sends."""
        self.airtime_used_s[j] += self.ack_air_s
        busy_until, tx_until, rx_end, rx_tx = (self.busy_until, self.tx_until, self.rx_end,
                                               self.rx_tx)
        if tx_until[j] < end:
            tx_until[j] = end
        for k in self.links.neighbours[j]:
            if busy_until[k] < end:
                busy_until[k] = end
            if k == sender or tx_until[k] > start:
                continue
            if rx_end[k] > start:
                if rx_tx[k] >= 0:
                    self.collided.setdefault(rx_tx[k], set()).add(k)
                self.collisions += 1
            if rx_end[k] < end:
                rx_end[k] = end
                rx_tx[k] = _ACK_TX

    def _next_frame(self, i: int) -> None:
        """Rule 2: after a transmission (and its ACK) the next frame in the FIFO waits DIFS
        and a first attempt's backoff."""
        if self.queues[i] and self.on[i]:
            backoff = DIFS_S + self.rng.randrange(CW_SLOTS) * SLOT_S
            wait_s = max(0.0, self.busy_until[i] - self.env.now) + backoff
            call_later(self.env, wait_s, self._try, i)
        else:
            self._try(i)

    def _position(self, i: int, j: int) -> int | None:
        table = self._index_of.get(i)
        if table is None:
            table = {n: k for k, n in enumerate(self.links.neighbours[i])}
            self._index_of[i] = table
        return table.get(j)

    def switch(self, i: int, on: bool) -> None:
        """Rule 4."""
        self.on[i] = on
        if not on:
            self.queues[i].clear()
