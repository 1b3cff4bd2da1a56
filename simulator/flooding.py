"""The plain-flooding baseline: the engine's workload on the same air, with no routing
protocol at all.

Rules kept here:
1. The radio is the engine's: the same links (radio.build_links with the spec's seed) and the
   same Medium (carrier sense, collisions, half duplex). There are no HELLOs and no route
   updates; the only frames on the air are data frames.
2. Every internet packet a bulb sends is broadcast at once. Every bulb that hears a packet for
   the first time rebroadcasts it once, after a uniform random jitter of 0 to JITTER_S (10 ms)
   so that neighbours that heard the same frame do not all start together; there is no other
   suppression (blind flooding). Gateways are bulbs too and rebroadcast like the others.
   A bulb's send queue is finite, as a radio driver's buffers are: a frame (new or
   rebroadcast) that finds QUEUE_LIMIT frames already waiting is dropped. Only a saturated
   channel fills it; without the limit a dense layout's queues (and memory) grow without end.
3. A gateway that hears a packet delivers it; each packet counts once, at its first delivery.
4. Traffic is the engine's: a Poisson process per bulb (gateways send none) at
   spec.internet_packets_per_min; a frame is HEADER_BYTES (the mesh header's size, its first
   four bytes carrying the packet id) plus spec.packet_bytes of payload. Bulb-to-bulb
   traffic is not sent: the baseline compares the way to the internet.
5. The network is static: churn, joins, power cuts and gateway failures in the spec are
   ignored, so every uplink works. A packet counts for the delivery ratio when it is sent
   after spec.warmup_s by a bulb with a path of good links (PRR >= 0.5) to a gateway.
6. Bytes are frame bytes (header and payload, without the 802.11 MAC and PHY overhead, as the
   engine counts control bytes), every transmission counted, sent after spec.warmup_s.
   Airtime utilisation is per 100 m cell over the whole run, as in the engine.
7. Seeded: a numpy Generator from spec.seed for traffic and jitter, and a random.Random from the
   same seed for the medium.
8. Bulbs take frames in as the engine's do (receiver.py): one at a time, each for
   spec.frame_processing_us, with ESP-NOW's receive buffer in front; a copy heard again is
   still processed before it is known to be one. The jitter of rule 2 starts when the frame
   has been processed.

Cost: every transmission is received by every neighbour, so wall time grows with bulbs x
packets x neighbours: a 500-bulb grid (about 17 neighbours each) takes about 28 s for 5
minutes; the 4,912-bulb district.toml (about 195 neighbours each) about 21 s per simulated
second.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
import simpy

from .calls import call_later
from .medium import Medium
from .radio import LinkTable, RadioParams, airtime_s, build_links
from .receiver import ReceivePaths
from .results import percentile

if TYPE_CHECKING:  # the report imports the metric names without loading the protocol core
    from .engine import SimSpec

HEADER_BYTES = 23  # the mesh header (firmware/meshbulb/wire.py HEADER_LEN)
JITTER_S = 0.010
QUEUE_LIMIT = 16
GOOD_PRR = 0.5
CELL_M = 100.0



def run_flooding(spec: SimSpec, positions_m: np.ndarray, gateways: list[int],
                 progress: Callable[[float], None] | None = None) -> dict[str, float | None]:
    """Run the workload of ``spec`` by plain flooding; the FLOODING_METRICS keys."""
    return _Flooding(spec, positions_m, gateways, progress).run()


def frame_bytes_on_air(transmissions: int, airtime_used_s: float, params: RadioParams) -> float:
    """The frame bytes (rule 6) of ``transmissions`` frames that held the air for
    ``airtime_used_s`` in all: radio.airtime_s inverted, since Medium records airtime."""
    per_frame_s = airtime_s(0, params)
    return (airtime_used_s - transmissions * per_frame_s) * params.bitrate_kbit_s * 1000 / 8


def reachable(links: LinkTable, gateways: list[int]) -> set[int]:
    """Rule 5: the bulbs with a path of good links to a gateway (the gateways included)."""
    frontier = list(gateways)
    seen = set(frontier)
    while frontier:
        nxt = []
        for i in frontier:
            for k, j in enumerate(links.neighbours[i]):
                if j not in seen and links.prr[i][k] >= GOOD_PRR:
                    seen.add(j)
                    nxt.append(j)
        frontier = nxt
    return seen


class _Flooding:
    def __init__(self, spec: SimSpec, positions_m: np.ndarray, gateways: list[int],
                 progress: Callable[[float], None] | None) -> None:
        self.spec = spec
        self.positions_m = positions_m
        self.count = len(positions_m)
        self.is_gateway = [False] * self.count
        for g in gateways:
            self.is_gateway[g] = True
        self.progress = progress
        self.rng = np.random.default_rng(spec.seed)
        self.env = simpy.Environment()
        self.links = build_links(positions_m, spec.radio, spec.seed)
        self.medium = Medium(self.env, self.links, spec.radio, spec.retries,
                             random.Random(spec.seed),
                             self._receive, self._verdict, spec.cca)
        self.receivers = ReceivePaths(self.count, spec.frame_processing_us / 1e6,
                                      spec.rx_buffer_bytes)
        self.reachable = reachable(self.links, sorted(gateways))
        self.frame_bytes = HEADER_BYTES + spec.packet_bytes
        # per packet id (from 0): when it was sent, whether it counts, which bulbs heard it
        self.sent_s: list[float] = []
        self.counted: list[bool] = []
        self.heard: list[bytearray] = []
        self.delivered: set[int] = set()
        self.latencies_ms: list[float] = []
        self.packets_measured = 0  # packets sent after warmup, counted or not

    def _at(self, delay_s: float, fn: Callable[[], None]) -> None:
        call_later(self.env, delay_s, fn)

    def _next_packet(self, i: int) -> None:
        rate_s = self.spec.internet_packets_per_min / 60.0
        if rate_s > 0:
            self._at(float(self.rng.exponential(1 / rate_s)), partial(self._send_packet, i))

    def _send_packet(self, i: int) -> None:
        """Rules 2 and 4: a new packet, broadcast at once."""
        self._next_packet(i)
        pid = len(self.sent_s)
        measured = self.env.now >= self.spec.warmup_s
        if measured:
            self.packets_measured += 1
        self.sent_s.append(self.env.now)
        self.counted.append(measured and i in self.reachable)
        heard = bytearray(self.count)
        heard[i] = 1
        self.heard.append(heard)
        self._broadcast(i, pid.to_bytes(4, "big") + bytes(self.frame_bytes - 4))

    def _receive(self, j: int, _i: int, frame: bytes, _rssi_dbm: int) -> None:
        """Rule 8: the frame goes through bulb j's receive path first."""
        now_s = self.env.now
        start_s = self.receivers.admit(j, now_s, len(frame))
        if start_s is None:
            return
        done_s = start_s + self.receivers.processing_s
        if done_s > now_s:
            call_later(self.env, done_s - now_s, self._take_in, j, frame)
        else:
            self._take_in(j, frame)

    def _take_in(self, j: int, frame: bytes) -> None:
        """Rules 2 and 3."""
        pid = int.from_bytes(frame[:4], "big")
        heard = self.heard[pid]
        if heard[j]:
            return
        heard[j] = 1
        if self.is_gateway[j] and pid not in self.delivered:
            self.delivered.add(pid)
            if self.counted[pid]:
                self.latencies_ms.append((self.env.now - self.sent_s[pid]) * 1000)
        delay_s = float(self.rng.uniform(0.0, JITTER_S))
        call_later(self.env, delay_s, self._broadcast, j, frame)

    def _broadcast(self, i: int, frame: bytes) -> None:
        """Rule 2: a bulb's send queue is finite; a full one drops the frame."""
        if len(self.medium.queues[i]) < QUEUE_LIMIT:
            self.medium.send(i, None, frame)

    def _verdict(self, _i: int, _j: int, _acknowledged: bool, _frame: bytes) -> None:
        """Flooding sends no unicast, so there is nothing to acknowledge."""

    def _tick_progress(self) -> None:
        if self.progress is not None:
            self.progress(self.env.now / self.spec.duration_s)
            self._at(self.spec.bucket_s, self._tick_progress)

    def run(self) -> dict[str, float | None]:
        started = time.perf_counter()
        for i in range(self.count):
            if not self.is_gateway[i]:
                self._next_packet(i)
        self._tick_progress()
        if self.spec.warmup_s > 0:
            self.env.run(until=self.spec.warmup_s)
        tx_start = self.medium.transmissions
        self.env.run(until=self.spec.duration_s)
        transmissions = self.medium.transmissions - tx_start
        measured_s = max(1e-9, self.spec.duration_s - self.spec.warmup_s)
        counted = [pid for pid, c in enumerate(self.counted) if c]
        delivered = sum(1 for pid in counted if pid in self.delivered)
        return {
            "flooding_delivery_ratio_gateway": delivered / len(counted) if counted else None,
            "flooding_bytes_per_node_s":
                transmissions * self.frame_bytes / measured_s / max(1, self.count),
            "flooding_transmissions_per_packet":
                transmissions / self.packets_measured if self.packets_measured else None,
            "flooding_latency_ms_p50": percentile(self.latencies_ms, 50),
            "flooding_airtime_util_p95": percentile(self._airtime_cells(), 95),
            "flooding_wall_s": round(time.perf_counter() - started, 3),
        }

    def _airtime_cells(self) -> list[float]:
        """Rule 6: the share of the run each 100 m cell's bulbs held the air."""
        cells: dict[tuple[int, int], float] = {}
        for i, (x, y) in enumerate(self.positions_m.tolist()):
            key = (int(x // CELL_M), int(y // CELL_M))
            cells[key] = cells.get(key, 0.0) + float(self.medium.airtime_used_s[i])
        return [used / self.spec.duration_s for used in cells.values()]
