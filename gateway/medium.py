"""The emulator's loopback medium: many host nodes in one process, joined by links with a
configurable topology, frame loss and latency.

Rules kept here:
1. The medium is an object of its own (as in simpy's process_communication example): nodes
   attach to it and get a MediumLink; nothing else knows who hears whom.
2. A broadcast reaches every neighbour, each copy lost independently with probability `loss`.
3. A unicast behaves like ESP-NOW: up to `retries` retransmissions, each lost with
   probability `loss`; the sender learns at once whether it was acknowledged.
4. Every delivered frame arrives `latency_ms` later, through the event loop; send() never
   calls a receiver synchronously.
5. Randomness comes from a seeded random.Random, so a topology and loss pattern replay.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

OnFrame = Callable[[bytes, bytes, int], None]


class LoopbackMedium:
    def __init__(self, loss: float = 0.0, latency_ms: float = 1.0, retries: int = 3,
                 seed: int = 1, rssi_dbm: int = -60) -> None:
        if not 0.0 <= loss < 1.0:
            raise ValueError("loss must be in [0, 1)")
        self.loss = loss
        self.latency_ms = latency_ms
        self.retries = retries
        self.rssi_dbm = rssi_dbm
        self._rng = random.Random(seed)
        self._links: dict[bytes, MediumLink] = {}
        self._edges: dict[bytes, set[bytes]] = {}
        self.frames_sent = 0
        self.frames_lost = 0

    def attach(self, address: bytes, link_id: int, on_frame: OnFrame) -> MediumLink:
        link = MediumLink(self, address, link_id, on_frame)
        self._links[address] = link
        self._edges.setdefault(address, set())
        return link

    def connect(self, a: bytes, b: bytes) -> None:
        self._edges.setdefault(a, set()).add(b)
        self._edges.setdefault(b, set()).add(a)

    def disconnect(self, a: bytes, b: bytes) -> None:
        self._edges.get(a, set()).discard(b)
        self._edges.get(b, set()).discard(a)

    def neighbours(self, address: bytes) -> set[bytes]:
        return set(self._edges.get(address, ()))

    def _deliver_later(self, dst: bytes, frame: bytes, src: bytes) -> None:
        link = self._links.get(dst)
        if link is None or not link.up:
            return
        loop = asyncio.get_running_loop()
        loop.call_later(self.latency_ms / 1000, link.deliver, frame, src, self.rssi_dbm)

    def transmit(self, src: bytes, link_addr: bytes | None, frame: bytes) -> bool | None:
        """Rules 2-4. Returns the link-layer verdict for unicast, None for broadcast."""
        self.frames_sent += 1
        if link_addr is None:
            for dst in self._edges.get(src, ()):
                if self._rng.random() < self.loss:
                    self.frames_lost += 1
                    continue
                self._deliver_later(dst, frame, src)
            return None
        target = self._links.get(link_addr)
        if link_addr not in self._edges.get(src, ()) or target is None or not target.up:
            return False
        for _ in range(1 + self.retries):
            if self._rng.random() >= self.loss:
                self._deliver_later(link_addr, frame, src)
                return True
            self.frames_lost += 1
        return False


class MediumLink:
    """One node's attachment to the medium; its link address is the node's address."""

    def __init__(self, medium: LoopbackMedium, address: bytes, link_id: int,
                 on_frame: OnFrame) -> None:
        self.medium = medium
        self.address = address
        self.link_id = link_id
        self.on_frame = on_frame
        self.up = True

    def send(self, link_addr: bytes | None, frame: bytes) -> bool | None:
        if not self.up:
            return False
        return self.medium.transmit(self.address, link_addr, frame)

    def deliver(self, frame: bytes, src: bytes, rssi_dbm: int) -> None:
        if self.up:
            self.on_frame(frame, src, rssi_dbm)

    def close(self) -> None:
        self.up = False
