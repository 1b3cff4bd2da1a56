"""The air along the border between two parts of a city simulated in separate processes
(parallel.py): what a part's bulbs send that the other part's bulbs hear, and the verdicts
of unicasts that cross.

Rules kept here:
1. Each part's Medium holds the links among its own bulbs only. A transmission by one of its
   bulbs that has neighbours in another part is also written to `outbox` as a record
   (TX, start, sender, addressee or -1, frame, airtime, hold, attempt, taken in).
2. The parts run in windows of simulated time and swap their outboxes (parallel.py). A part
   applies the records it receives when it gets them, at the end of one of its windows: for
   each of its bulbs that hears the sender, the air is busy until the record's hold; the
   frame is lost there if that bulb's latest transmission overlapped it, or the reception
   it had latest did (and that frame, if still on the air, is lost too); it blocks frames
   that start reaching that bulb before its end. At its end, or at once if that has passed,
   it is delivered as rule 1 of medium.py says. So a frame from across the border arrives
   late by up to what parallel.py allows, and carrier sense does not hear it until then.
3. A unicast across the border is decided by the addressee's part: delivery, the ACK on its
   own side of the air, and whether the sender hears the ACK (drawn with the link's PRR, as
   the sender's own air is not known there). The verdict goes back as (VERDICT, sender,
   acknowledged, taken in) at the next swap, and the sender settles it then (medium.py rule
   3: retry or report). Meanwhile the sender sends nothing else, as ESP-NOW's synchronous
   send waits for its ACK. An ACK across the border keeps nobody's air busy on the sender's
   side.
4. Every record comes from the part's own seeded draws and is applied in the order it was
   written, so a run with the same seed and the same parts is the same run.
"""

from __future__ import annotations

from random import Random
from typing import Any

from .calls import call_later
from .medium import SIFS_S, Deliver, Medium, Verdict
from .radio import LinkTable, RadioParams, airtime_s

TX = 0
VERDICT = 1

Record = tuple[Any, ...]


def links_within(links: LinkTable, local: list[bool]) -> LinkTable:
    """Rule 1: the links among the bulbs of one part (others have none)."""
    neighbours: list[list[int]] = []
    prr: list[list[float]] = []
    rssi: list[list[int]] = []
    for i, near in enumerate(links.neighbours):
        if not local[i]:
            neighbours.append([])
            prr.append([])
            rssi.append([])
            continue
        keep = [k for k, j in enumerate(near) if local[j]]
        neighbours.append([near[k] for k in keep])
        prr.append([links.prr[i][k] for k in keep])
        rssi.append([links.rssi_dbm[i][k] for k in keep])
    return LinkTable(neighbours, prr, rssi)


class BorderMedium(Medium):
    """A Medium for one part of a city, rules 1-4."""

    def __init__(self, env: Any, links: LinkTable, local: list[bool], params: RadioParams,
                 retries: int, rng: Random, deliver: Deliver, verdict: Verdict,
                 cca: bool = True) -> None:
        super().__init__(env, links_within(links, local), params, retries, rng, deliver,
                         verdict, cca)
        self.local = local
        # Per bulb of another part: this part's bulbs that hear it, with PRR and RSSI.
        self.heard_by: dict[int, list[tuple[int, float, int]]] = {}
        self.crosses = [False] * len(local)  # a bulb of this part heard in another part
        for i, near in enumerate(links.neighbours):
            if local[i]:
                self.crosses[i] = any(not local[j] for j in near)
                continue
            heard = [(j, links.prr[i][k], links.rssi_dbm[i][k])
                     for k, j in enumerate(near) if local[j]]
            if heard:
                self.heard_by[i] = heard
        count = len(local)
        self.tx_from = [0.0] * count  # start of the latest own transmission
        self.rx_from = [0.0] * count  # start of the reception that ends at rx_end
        self.outbox: list[Record] = []
        self._awaiting: dict[int, tuple[int, bytes, int]] = {}  # sender: (dst, frame, attempt)

    # --- this part's senders (rules 1 and 3) ---------------------------------------------

    def _transmit(self, i: int, dst: int | None, frame: bytes, attempt: int,
                  taken_in: bool) -> None:
        super()._transmit(i, dst, frame, attempt, taken_in)
        now = self.env.now
        tx = self._next_tx - 1
        self.tx_from[i] = now
        rx_tx, rx_from = self.rx_tx, self.rx_from
        for j in self.links.neighbours[i]:
            if rx_tx[j] == tx:
                rx_from[j] = now
        if self.crosses[i]:
            duration = airtime_s(len(frame), self.params)
            hold = now + duration + (0.0 if dst is None else self.ack_s)
            self.outbox.append((TX, now, i, -1 if dst is None else dst, frame, duration, hold,
                                attempt, taken_in))

    def _end(self, tx: int, i: int, dst: int | None, frame: bytes, attempt: int,
             taken_in: bool) -> None:
        if dst is None or self.local[dst]:
            super()._end(tx, i, dst, frame, attempt, taken_in)
            return
        self.collided.pop(tx, None)
        self._awaiting[i] = (dst, frame, attempt)  # rule 3: the addressee's part decides

    # --- records from another part (rules 2 and 3) ---------------------------------------

    def apply(self, records: list[Record]) -> None:
        for record in records:
            if record[0] == TX:
                self._arrive(*record[1:])
            else:
                self._settle_remote(record[1], record[2], record[3])

    def _settle_remote(self, i: int, acked: bool, taken_in: bool) -> None:
        waiting = self._awaiting.pop(i, None)
        if waiting is None:
            return
        dst, frame, attempt = waiting
        self._settle(i, dst, frame, attempt, taken_in, acked, self.env.now)

    def _arrive(self, start: float, i: int, dst: int, frame: bytes, duration: float,
                hold: float, attempt: int, taken_in: bool) -> None:
        now = self.env.now
        end = start + duration
        tx = self._next_tx
        self._next_tx += 1
        busy_until, tx_until, rx_end, rx_tx = (self.busy_until, self.tx_until, self.rx_end,
                                               self.rx_tx)
        tx_from, rx_from = self.tx_from, self.rx_from
        lost: set[int] = set()
        for j, _prr, _rssi in self.heard_by.get(i, ()):
            if busy_until[j] < hold:
                busy_until[j] = hold
            if tx_until[j] > start and tx_from[j] < end:
                lost.add(j)
            elif rx_end[j] > start and rx_from[j] < end:
                if rx_tx[j] >= 0 and rx_end[j] > now:  # still on the air: it is lost too
                    self.collided.setdefault(rx_tx[j], set()).add(j)
                lost.add(j)
                self.collisions += 1
            if rx_end[j] < end:
                rx_end[j] = end
                rx_tx[j] = tx
                rx_from[j] = start
        self.collided[tx] = lost
        call_later(self.env, max(0.0, end - now), self._arrived, tx, i, dst, frame, attempt,
                   taken_in)

    def _arrived(self, tx: int, i: int, dst: int, frame: bytes, attempt: int,
                 taken_in: bool) -> None:
        lost = self.collided.pop(tx, set())
        on, draw = self.on, self.rng.random
        if dst < 0:
            for j, prr, rssi in self.heard_by.get(i, ()):
                if j not in lost and on[j] and draw() < prr:
                    self.deliver(j, i, frame, rssi)
            return
        if not self.local[dst]:
            return  # a unicast between two bulbs of another part: only busy air here
        acked = False
        for j, prr, rssi in self.heard_by.get(i, ()):
            if j != dst:
                continue
            if j not in lost and on[j] and draw() < prr:
                now = self.env.now
                self._ack_on_air(j, i, now + SIFS_S, now + self.ack_s)
                if not taken_in:
                    taken_in = True
                    self.deliver(j, i, frame, rssi)
                acked = draw() < prr
            break
        self.outbox.append((VERDICT, i, acked, taken_in))
