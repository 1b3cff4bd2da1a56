"""One simulation: real protocol-core Nodes on the simpy medium, with traffic, churn and the
measurements that become metrics.json.

Rules kept here:
1. Every bulb is a meshbulb.node.Node, driven exactly like a bulb drives it: frames in,
   timers at next_deadline_ms(), actions out. Simulated time is simpy's (seconds); the core
   sees it as wrapping millisecond ticks. A timer fires in the middle of its deadline's
   millisecond, so re-arming it for the same deadline changes nothing, and the driver skips
   asking after frames the node reports as dropped untouched (Node.timers_kept).
2. A bulb switched off at the wall stops; switched on again it boots a new Node with the same
   address and the same persistent frame counter (a bulb's NVS survives the power cut).
3. Traffic: every bulb sends internet flows (a geometric number of packets each),
   bulb-to-bulb packets (to peers within p2p_radius_m when set: a switch and its lamps, a
   home, a street; else anywhere) and group messages (floods scoped to group_hops hops) as
   Poisson processes. An internet or bulb-to-bulb packet counts for a delivery ratio only
   when its sender (and, for bulb-to-bulb, its destination) had a path to a working gateway
   in the true link graph (links with PRR >= 0.5) in the timeline bucket it was sent in; a
   group message counts for every bulb that was on and within group_hops good links of its
   sender. New bulbs join by being switched on for the first time at a random moment.
4. Measurements are taken after warmup_s: control bytes, deliveries, latencies. Convergence is
   the first moment CONVERGED_FRACTION of the reachable bulbs have a gateway route (in a city
   with bulbs switching on all the time, some bulb has always just started); failover the
   time from a gateway failure until no reachable bulb still selects it; recovery the time
   from a power cut's end until CONVERGED_FRACTION of the bulbs it darkened that were
   reachable when power came back (and are still on) have a gateway route again.
5. Seeded: a numpy Generator for traffic and churn, and a random.Random from the same seed
   for the medium's and the core's per-frame draws (a scalar from it costs a twentieth).
6. A gateway forwards internet packets through an uplink of uplink_kbit_s, one after
   another, queueing at most _UPLINK_QUEUE_S of them; latency counts until the packet has
   left. Every timeline bucket each gateway announces the share of it used as its load
   (Node.set_uplink), which bulbs weigh in choosing a gateway.
7. A frame a bulb receives goes through its receive path (receiver.py): it waits in
   ESP-NOW's receive buffer while the bulb's CPU is busy (and is dropped when the buffer is
   full), reaches the core when the CPU takes it in, and what the core then asks for (a
   transmission, a delivery) happens frame_processing_us later. Gateways have the same path.
8. A city split between processes (parallel.py) runs one Simulation per part. Only the
   part's bulbs are booted, driven and send traffic; the others are known by their links,
   whether they are on and whether their uplink works (for the true link graph of rule 3).
   Churn draws from a generator of its own, alike in every part, so every part switches the
   same bulbs; traffic and the air draw from the part's own. A packet carries its id in its
   part's ledger and that part's index; a part whose bulb takes in another part's packet
   notes an Arrival for the merge (outcome.py). Convergence, failover and recovery are
   measured over the part's own bulbs. With one part all of this is the plain run.
"""

from __future__ import annotations

import math
import random
import resource
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import simpy

from meshbulb.config import Config
from meshbulb.node import ACT_DELIVER, ACT_TX, Node
from meshbulb.seqstore import MemoryStore
from meshbulb.wire import F_ANY_GW

from . import packets
from .border import BorderMedium
from .calls import FarCalls, call_later
from .heap import long_lived_heap
from .medium import Medium
from .near import WithinRadius
from .outcome import Arrival, Outcome, merge, running_python
from .packets import PacketLedger
from .parts import Part
from .radio import LinkTable, RadioParams, build_links
from .ranks import IndexSet
from .receiver import ESPNOW_RXBUF_BYTES, FRAME_PROCESSING_US, ReceivePaths
from .results import Event, RunResult, TimeBucket

_TICK_MASK = (1 << 30) - 1
_TICK_HALF = 1 << 29
_PORT_INTERNET = 1
_PORT_P2P = 2
_PORT_GROUP = 3
_GOOD_PRR = 0.5
_FLOW_PACKET_GAP_S = 0.02  # packets of one internet flow leave the bulb this far apart
_UPLINK_QUEUE_S = 1.0  # a gateway queues at most this much uplink time; more is dropped
_IP_OVERHEAD_BYTES = 28  # IPv4 + UDP headers on the uplink
_PACKET_ID = struct.Struct(">IB")  # a packet's id and the part whose ledger issued it
CONVERGED_FRACTION = 0.99  # rule 4


def address_of(i: int) -> bytes:
    return b"\x02\x00" + i.to_bytes(4, "big")


@dataclass(frozen=True)
class PowerCut:
    at_s: float
    duration_s: float
    x_m: float
    y_m: float
    radius_m: float


@dataclass(frozen=True)
class GatewayFailure:
    at_s: float
    duration_s: float
    gateway: int  # index into the list of gateways


@dataclass(frozen=True)
class SimSpec:
    name: str
    seed: int
    duration_s: float
    warmup_s: float
    bucket_s: float = 10.0
    radio: RadioParams = field(default_factory=RadioParams)
    retries: int = 7  # the 802.11 short retry limit an ESP32 uses for unicast
    cca: bool = True  # carrier sense before sending (medium.py rule 2)
    frame_processing_us: float = FRAME_PROCESSING_US  # receiver.py rule 1
    rx_buffer_bytes: int = ESPNOW_RXBUF_BYTES  # receiver.py rule 2
    internet_packets_per_min: float = 1.0
    internet_flow_packets: float = 1.0  # mean packets per internet flow (geometric)
    p2p_packets_per_min: float = 0.0
    p2p_radius_m: float = 0.0  # bulb-to-bulb peers lie within this distance; 0: anywhere
    group_messages_per_min: float = 0.0
    group_hops: int = 3  # a group message floods this many hops around its sender
    packet_bytes: int = 100
    uplink_kbit_s: float = 20000.0  # each gateway's internet uplink
    joins_per_min: float = 0.0
    off_fraction: float = 0.0
    mean_off_s: float = 120.0
    power_cuts: tuple[PowerCut, ...] = ()
    gateway_failures: tuple[GatewayFailure, ...] = ()
    core: dict[str, int] = field(default_factory=dict)


class Simulation:
    def __init__(self, spec: SimSpec, positions_m: np.ndarray, gateways: list[int],
                 progress: Callable[[float], None] | None = None,
                 part: Part | None = None, links: LinkTable | None = None) -> None:
        self.spec = spec
        self.positions_m = positions_m
        self.count = len(positions_m)
        self.gateways = sorted(gateways)
        self.is_gateway = [False] * self.count
        for g in self.gateways:
            self.is_gateway[g] = True
        self.progress = progress
        self.part = part if part is not None else Part(0, 1, [True] * self.count)
        self.local = self.part.local
        self.local_nodes = [i for i in range(self.count) if self.local[i]]
        self.env = simpy.Environment()
        self.calls = FarCalls(self.env)  # a bulb's timer and next packet: seconds ahead
        # The same links whoever builds them (radio.py rule 5); a worker on another
        # interpreter is handed them (radio.py rule 7).
        self.links: LinkTable = (links if links is not None
                                 else build_links(positions_m, spec.radio, spec.seed))
        if self.part.parts == 1:
            self.rng = np.random.default_rng(spec.seed)
            self.frame_rng = random.Random(spec.seed)
            self.churn_rng = self.rng
            self.medium: Medium = Medium(self.env, self.links, spec.radio, spec.retries,
                                         self.frame_rng, self._receive, self._verdict, spec.cca)
        else:  # rule 8
            self.rng = np.random.default_rng([spec.seed, self.part.index])
            self.frame_rng = random.Random(f"{spec.seed}/{self.part.index}")
            self.churn_rng = np.random.default_rng(spec.seed)
            self.medium = BorderMedium(self.env, self.links, self.local, spec.radio,
                                       spec.retries, self.frame_rng, self._receive,
                                       self._verdict, spec.cca)
        self.config = Config(**spec.core)
        self.addresses = [address_of(i) for i in range(self.count)]
        self.index = {a: i for i, a in enumerate(self.addresses)}
        self.stores = [MemoryStore() for _ in range(self.count)]
        self.receivers = ReceivePaths(self.count, spec.frame_processing_us / 1e6,
                                      spec.rx_buffer_bytes)
        self._boots = [0] * self.count  # rule 7: what a bulb switched off left pending is void
        self._control_before_boot = [0] * self.count  # control bytes of earlier incarnations
        # Rule 8: another part's bulbs are never driven here; one idle Node stands for them.
        self.nodes: list[Node] = [self._boot(i) for i in self.local_nodes]
        if len(self.local_nodes) < self.count:
            idle = Node(address_of(self.count), self.config, self._rand_below, 0)
            booted = iter(self.nodes)
            self.nodes = [next(booted) if self.local[i] else idle for i in range(self.count)]
        self.arrivals: list[Arrival] = []  # rule 8: packets for another part's ledger
        self.alive = [True] * self.count
        self._bulbs_on = IndexSet(self.count, (i for i in range(self.count)
                                                if not self.is_gateway[i]))
        self._timer_version = [0] * self.count
        self._armed_at: list[float | None] = [None] * self.count
        self.uplink_ok = {g: True for g in self.gateways}
        self._uplink_free_s = {g: 0.0 for g in self.gateways}  # rule 6: uplink busy until
        self._uplink_busy_s = {g: 0.0 for g in self.gateways}  # in the current bucket
        # measurements
        self.packets = PacketLedger()
        self.gateway_deliveries = {g: 0 for g in self.gateways}
        self.timeline: list[TimeBucket] = []
        self.events: list[Event] = []
        self.reachable: set[int] = set()
        self._switches = 0  # bulbs switched and uplinks changed so far
        self._reachable_after = -1  # self._switches when self.reachable was worked out
        self.convergence_s: float | None = None
        self.failover_s: list[float] = []
        self.recovery_s: list[float | None] = []  # one per cut that ended; None until done
        self._near: WithinRadius | None = None  # built at the first peer drawn
        self._bucket_sent = 0
        self._bucket_delivered = 0
        self._control_total = 0
        self._dropped_total = 0  # frames dropped by receive buffers before the current bucket

    # --- nodes ---------------------------------------------------------------------------

    def _rand_below(self, n: int) -> int:
        return self.frame_rng.randrange(n) if n > 1 else 0

    def _now_ms(self) -> int:
        return int(self.env.now * 1000) & _TICK_MASK

    def _boot(self, i: int) -> Node:
        return Node(self.addresses[i], self.config, self._rand_below, int(self.env.now * 1000),
                    gateway=self.is_gateway[i], seq_store=self.stores[i])

    def _execute(self, i: int, actions: list[tuple[Any, ...]]) -> None:
        """Carry out what node i was just called for, then arm its timer."""
        self._carry_out(i, actions)
        self._schedule(i)

    def _carry_out(self, i: int, actions: list[tuple[Any, ...]]) -> None:
        for action in actions:  # no node is called meanwhile, so the list stays as it is
            if action[0] == ACT_TX:
                link_addr = action[2]
                dst = None if link_addr is None else self.index.get(link_addr)
                self.medium.send(i, dst, action[3])
            elif action[0] == ACT_DELIVER:
                self._delivered(i, action)

    def _schedule(self, i: int) -> None:
        """Arm node i's timer for its next deadline. A timer already armed for that moment
        or earlier stays (it re-arms when it fires), so most frames schedule no event."""
        deadline = self.nodes[i].next_deadline_ms()
        if deadline is None:
            return
        now_s = self.env.now
        now_ms = int(now_s * 1000)
        delay_ms = ((deadline - (now_ms & _TICK_MASK) + _TICK_HALF) & _TICK_MASK) - _TICK_HALF
        # The middle of the deadline's millisecond (or now, if that has passed), whenever the
        # timer is armed: the core sees that millisecond there despite rounding, and asking
        # again changes nothing.
        at_s = (now_ms + delay_ms + 0.5) / 1000
        if at_s < now_s:
            at_s = now_s
        armed = self._armed_at[i]
        if armed is not None and now_s <= armed <= at_s:
            return
        self._armed_at[i] = at_s
        version = self._timer_version[i] + 1
        self._timer_version[i] = version
        self.calls.later(at_s - now_s, self._tick, i, version)

    def _tick(self, i: int, version: int) -> None:
        if version != self._timer_version[i] or not self.alive[i]:
            return
        self._armed_at[i] = None
        self._execute(i, self.nodes[i].tick(self._now_ms()))

    def _receive(self, j: int, i: int, frame: bytes, rssi_dbm: int) -> None:
        """Rule 7: a frame reaches bulb j's receive buffer."""
        if not self.alive[j]:
            return
        now_s = self.env.now
        start_s = self.receivers.admit(j, now_s, len(frame))
        if start_s is None:
            return  # no room in the receive buffer
        if start_s > now_s:
            call_later(self.env, start_s - now_s, self._take_in, j, i, frame, rssi_dbm,
                       self._boots[j])
        else:
            self._take_in(j, i, frame, rssi_dbm, self._boots[j])

    def _take_in(self, j: int, i: int, frame: bytes, rssi_dbm: int, boot: int) -> None:
        """Rule 7: bulb j's CPU takes the frame in; what it makes the bulb do happens once
        the frame's processing time is over."""
        if boot != self._boots[j]:
            return  # switched off (and maybe on again) since the frame arrived
        node = self.nodes[j]
        actions = node.receive(frame, 0, self.addresses[i], rssi_dbm,
                               int(self.env.now * 1000) & _TICK_MASK)
        processing_s = self.receivers.processing_s
        if actions and processing_s > 0:
            # The core reuses its action list: keep a copy for later. Its timers are armed now.
            call_later(self.env, processing_s, self._act, j, list(actions), boot)
            self._schedule(j)
        elif actions:
            self._execute(j, actions)
        elif not node.timers_kept:  # a frame dropped untouched moves no deadline
            self._schedule(j)

    def _act(self, j: int, actions: list[tuple[Any, ...]], boot: int) -> None:
        """What a frame made bulb j do, once its processing time is over. The node is not
        called here, and its timer was armed when it took the frame in."""
        if boot == self._boots[j]:
            self._carry_out(j, actions)

    def _verdict(self, i: int, j: int, acknowledged: bool, frame: bytes) -> None:
        if not self.alive[i]:
            return
        if acknowledged:
            self.nodes[i].link_ok(0, self.addresses[j], self._now_ms())
        else:
            self.nodes[i].link_failed(0, self.addresses[j], self._now_ms(), frame)
            self._schedule(i)

    def _switch(self, i: int, on: bool) -> None:
        """Rule 2."""
        if self.alive[i] == on:
            return
        self.alive[i] = on
        self._switches += 1
        if not self.is_gateway[i]:
            if on:
                self._bulbs_on.add(i)
            else:
                self._bulbs_on.discard(i)
        if not self.local[i]:
            return  # rule 8: another part runs it
        self.medium.switch(i, on)
        self._boots[i] += 1
        if not on:
            self.receivers.switch_off(i, self.env.now)
        self._timer_version[i] += 1
        self._armed_at[i] = None
        if on:
            self._control_before_boot[i] += self.nodes[i].stats.control_bytes()
            self.nodes[i] = self._boot(i)
            if self.is_gateway[i] and not self.uplink_ok[i]:
                self._execute(i, self.nodes[i].set_uplink(0, 0, self._now_ms()))
            self._schedule(i)

    # --- traffic -------------------------------------------------------------------------

    def _next_packet(self, i: int) -> None:
        """Internet flows start as a Poisson process; a flow carries a geometric number of
        packets (mean internet_flow_packets), so internet_packets_per_min holds on average."""
        rate_s = self.spec.internet_packets_per_min / 60.0 / self.spec.internet_flow_packets
        if rate_s <= 0:
            return
        self._at(float(self.rng.exponential(1 / rate_s)), partial(self._send_flow, i))

    def _send_flow(self, i: int) -> None:
        self._next_packet(i)
        mean = self.spec.internet_flow_packets
        packets = int(self.rng.geometric(1 / mean)) if mean > 1 else 1
        self._send_packet(i)
        for k in range(1, packets):
            self._at(k * _FLOW_PACKET_GAP_S, partial(self._send_packet, i))

    def _send_packet(self, i: int) -> None:
        if not self.alive[i]:
            return
        counted = self.env.now >= self.spec.warmup_s and i in self.reachable
        pid = self.packets.internet(i, self.env.now, counted)
        payload = self._payload(pid)
        if counted:
            self._bucket_sent += 1
        self._execute(i, self.nodes[i].send_internet(_PORT_INTERNET, payload, self._now_ms()))

    def _next_p2p(self, i: int) -> None:
        rate_s = self.spec.p2p_packets_per_min / 60.0
        if rate_s > 0:
            self._at(float(self.rng.exponential(1 / rate_s)), partial(self._send_p2p, i))

    def _send_p2p(self, i: int) -> None:
        """Bulb-to-bulb traffic: route discovery, the route cache, flood fallback."""
        self._next_p2p(i)
        if not self.alive[i]:
            return
        j = self._peer_of(i)
        if j == i:
            return
        counted = (self.env.now >= self.spec.warmup_s and i in self.reachable
                   and j in self.reachable)
        pid = self.packets.p2p(j, self.env.now, counted)
        payload = self._payload(pid)
        self._execute(i, self.nodes[i].send(address_of(j), _PORT_P2P, payload, self._now_ms()))

    def _next_group(self, i: int) -> None:
        rate_s = self.spec.group_messages_per_min / 60.0
        if rate_s > 0:
            self._at(float(self.rng.exponential(1 / rate_s)), partial(self._send_group, i))

    def _send_group(self, i: int) -> None:
        """A group message: a scoped flood of group_hops hops. Its members are the bulbs
        that are on and within group_hops good links of the sender (rule 3)."""
        self._next_group(i)
        if not self.alive[i]:
            return
        members = (self._within_hops(i, self.spec.group_hops)
                   if self.env.now >= self.spec.warmup_s else None)
        pid = self.packets.group(members, self.env.now)
        payload = self._payload(pid)
        self._execute(i, self.nodes[i].broadcast(_PORT_GROUP, payload, self._now_ms(),
                                                 self.spec.group_hops))

    def _payload(self, pid: int) -> bytes:
        """A packet's bytes: its id in the ledger of the part that sent it (rule 8), then
        zeros up to packet_bytes."""
        head = _PACKET_ID.pack(pid, self.part.index)
        return head + bytes(max(0, self.spec.packet_bytes - len(head)))

    def _within_hops(self, i: int, hops: int) -> set[int]:
        return set(self._good_hops([i], hops)) - {i}

    def _peer_of(self, i: int) -> int:
        """Rule 3: a random bulb, within p2p_radius_m of i when the scenario sets one."""
        if self.spec.p2p_radius_m <= 0:
            return int(self.rng.integers(0, self.count))
        if self._near is None:
            self._near = WithinRadius(self.positions_m, self.spec.p2p_radius_m)
        near = self._near.of(i)
        return int(near[int(self.rng.integers(0, len(near)))])

    def _delivered(self, at: int, action: tuple[Any, ...]) -> None:
        _, _src, port, payload, flags = action
        if len(payload) < _PACKET_ID.size:
            return
        pid, part = _PACKET_ID.unpack_from(payload)
        mine = part == self.part.index
        if port in (_PORT_GROUP, _PORT_P2P):
            if not mine:
                kind = packets.GROUP if port == _PORT_GROUP else packets.P2P
                self.arrivals.append((kind, part, pid, at, self.env.now))
            elif port == _PORT_GROUP:
                self.packets.group_arrived(pid, at)
            else:
                self.packets.p2p_arrived(pid, at)
            return
        if port != _PORT_INTERNET or not self.is_gateway[at] or not (int(flags) & F_ANY_GW):
            return
        if not mine:  # rule 8: its sender's ledger learns when it left, after the run
            left_s = self._leave_uplink(at, len(payload))
            if left_s is not None:
                self.arrivals.append((packets.INTERNET, part, pid, at, left_s))
            return
        record = self.packets.internet_arrived(pid)
        if record is None:
            return
        left_s = self._leave_uplink(at, len(payload))
        if left_s is None:
            return
        _src, t_sent, counted = record
        self.packets.internet_delivered(pid, (left_s - t_sent) * 1000)
        if counted:
            self._bucket_delivered += 1
            self.gateway_deliveries[at] += 1

    def _leave_uplink(self, at: int, size_bytes: int) -> float | None:
        """Rule 6: an internet packet leaves through gateway `at`'s uplink, in turn; when it
        has left, or None when the uplink's queue is full and it is lost."""
        now_s = self.env.now
        start_s = max(now_s, self._uplink_free_s[at])
        if start_s - now_s > _UPLINK_QUEUE_S:
            return None
        service_s = (size_bytes + _IP_OVERHEAD_BYTES) * 8 / (self.spec.uplink_kbit_s * 1000)
        self._uplink_free_s[at] = start_s + service_s
        self._uplink_busy_s[at] += service_s
        return start_s + service_s

    # --- dynamics ------------------------------------------------------------------------

    def _at(self, delay_s: float, fn: Callable[[], None]) -> None:
        """Run fn after delay_s of simulated time."""
        self.calls.later(delay_s, fn)

    def _setup_churn(self) -> None:
        spec = self.spec
        bulbs = [i for i in range(self.count) if not self.is_gateway[i]]
        joining = int(spec.joins_per_min * spec.duration_s / 60)
        if joining:  # bulbs bought later: off from the start, each screwed in at a random time
            newcomers = self.churn_rng.choice(bulbs, min(joining, len(bulbs) // 10),
                                              replace=False)
            for i in newcomers.tolist():
                self._switch(i, False)
                self._at(float(self.churn_rng.uniform(0, spec.duration_s)),
                         partial(self._switch, i, True))
            taken = set(newcomers.tolist())
            bulbs = [i for i in bulbs if i not in taken]
        if spec.off_fraction > 0:
            off = self.churn_rng.choice(bulbs, int(len(bulbs) * spec.off_fraction),
                                        replace=False)
            for i in off.tolist():
                self._switch(i, False)
                self._at(float(self.churn_rng.exponential(spec.mean_off_s)),
                         partial(self._flip, i))
        for cut in spec.power_cuts:
            inside = [i for i in bulbs
                      if math.dist(self.positions_m[i], (cut.x_m, cut.y_m)) <= cut.radius_m]
            self._at(cut.at_s, partial(self._switch_all, inside, False))
            self._at(cut.at_s + cut.duration_s, partial(self._power_back, inside))
            self.events.append(Event(cut.at_s, f"power cut: {len(inside)} bulbs"))
            self.events.append(Event(cut.at_s + cut.duration_s, "power back"))
        for failure in spec.gateway_failures:
            g = self.gateways[failure.gateway % len(self.gateways)]
            self._at(failure.at_s, partial(self._uplink, g, False))
            self._at(failure.at_s + failure.duration_s, partial(self._uplink, g, True))
            self.events.append(Event(failure.at_s, f"gateway {g} uplink fails"))
            self.events.append(Event(failure.at_s + failure.duration_s, f"gateway {g} back"))

    def _switch_all(self, nodes: list[int], on: bool) -> None:
        for i in nodes:
            self._switch(i, on)

    def _power_back(self, inside: list[int]) -> None:
        """A power cut ends: its bulbs boot together, and rule 4's recovery is watched."""
        self._switch_all(inside, True)
        since_s = self.env.now
        # Not _reachable_now(): that would change which packets count until the next bucket.
        reachable = self._good_hops(self._working_gateways())
        watched = [i for i in inside if i in reachable]
        if not watched:
            return
        cut = len(self.recovery_s)
        self.recovery_s.append(None)

        def check() -> None:
            bulbs = [i for i in watched if self.alive[i] and self.local[i]]  # rule 8
            routed = sum(1 for i in bulbs if self.nodes[i].best_gateway() is not None)
            if routed >= CONVERGED_FRACTION * len(bulbs):
                self.recovery_s[cut] = self.env.now - since_s
            else:
                self._at(0.5, check)

        self._at(0.5, check)

    def _flip(self, i: int) -> None:
        """Diurnal churn: an off bulb comes back on and another bulb goes off."""
        self._switch(i, True)
        if self._bulbs_on:  # the pick is the same as from the list of bulbs that are on
            k = self._bulbs_on.kth(int(self.churn_rng.integers(0, len(self._bulbs_on))))
            self._switch(k, False)
            self._at(float(self.churn_rng.exponential(self.spec.mean_off_s)),
                     partial(self._flip, k))

    def _uplink(self, g: int, ok: bool) -> None:
        self.uplink_ok[g] = ok
        self._switches += 1
        if self.alive[g] and self.local[g]:  # rule 8: else another part runs it
            self._execute(g, self.nodes[g].set_uplink(0, 255 if ok else 0, self._now_ms()))
        if not ok:
            self._watch_failover(g, self.env.now)

    def _watch_failover(self, g: int, since_s: float) -> None:
        address = address_of(g)

        def check() -> None:
            stuck = [i for i in self.reachable if self.alive[i] and not self.is_gateway[i]
                     and self.local[i] and self.nodes[i].best_gateway() == address]
            if not stuck:
                self.failover_s.append(self.env.now - since_s)
            elif self.env.now - since_s < self.spec.duration_s:
                self._at(0.5, check)

        self._at(0.5, check)

    # --- measurement ---------------------------------------------------------------------

    def _good_hops(self, sources: list[int], max_hops: int | None = None) -> dict[int, int]:
        """Hop counts from the nearest of sources over good links (PRR >= 0.5) between bulbs
        that are on: the true link graph of rule 3 and the oracle."""
        hops = {s: 0 for s in sources}
        frontier = list(sources)
        depth = 0
        while frontier and (max_hops is None or depth < max_hops):
            depth += 1
            nxt = []
            for i in frontier:
                for k, j in enumerate(self.links.neighbours[i]):
                    if j not in hops and self.alive[j] and self.links.prr[i][k] >= _GOOD_PRR:
                        hops[j] = depth
                        nxt.append(j)
            frontier = nxt
        return hops

    def _working_gateways(self) -> list[int]:
        return [g for g in self.gateways if self.alive[g] and self.uplink_ok[g]]

    def _reachable_now(self) -> set[int]:
        """Rule 3: bulbs with a path of good links to an alive gateway with a working uplink.
        Worked out again only when a bulb or an uplink was switched since: the breadth-first
        search over every link took 25 ms per bucket on a 2,000-bulb dense grid."""
        if self._reachable_after != self._switches:
            self._reachable_after = self._switches
            self.reachable = set(self._good_hops(self._working_gateways()))
        return self.reachable

    def control_bytes(self, i: int) -> int:
        """Control bytes node i sent since the start, across reboots."""
        return self._control_before_boot[i] + self.nodes[i].stats.control_bytes()

    def _bucket(self) -> None:
        control = sum(self.control_bytes(i) for i in self.local_nodes)
        dropped = self.receivers.dropped
        alive = self.alive
        self.timeline.append(TimeBucket(self.env.now - self.spec.bucket_s, self._bucket_sent,
                                        self._bucket_delivered, control - self._control_total,
                                        sum(alive[i] for i in self.local_nodes),
                                        dropped - self._dropped_total))
        self._control_total = control
        self._dropped_total = dropped
        self._bucket_sent = self._bucket_delivered = 0
        for g in self.gateways:  # rule 6: gateways announce how loaded their uplink is
            load = min(255, int(255 * self._uplink_busy_s[g] / self.spec.bucket_s))
            self._uplink_busy_s[g] = 0.0
            if self.alive[g] and self.uplink_ok[g] and self.local[g]:
                self._execute(g, self.nodes[g].set_uplink(load, 255, self._now_ms()))
        self.reachable = self._reachable_now()
        if self.progress is not None:
            self.progress(self.env.now / self.spec.duration_s)
        self._at(self.spec.bucket_s, self._bucket)

    def _check_convergence(self) -> None:
        if self.convergence_s is not None:
            return
        bulbs = [i for i in self.reachable
                 if self.alive[i] and not self.is_gateway[i] and self.local[i]]  # rule 8
        routed = sum(1 for i in bulbs if self.nodes[i].best_gateway() is not None)
        if routed >= CONVERGED_FRACTION * len(bulbs):
            self.convergence_s = self.env.now
        else:
            self._at(0.5, self._check_convergence)

    def run(self) -> RunResult:
        return merge(self.spec, self.positions_m, self.gateways, [self.run_part()])

    def run_part(self, advance: Callable[[float], None] | None = None) -> Outcome:
        """Run this part of the city; `advance(t)` runs simulated time up to t (parallel.py
        swaps border records on the way; by default simpy runs straight there)."""
        if advance is None:
            advance = self._run_until
        started = time.perf_counter()
        for i in self.local_nodes:
            self._schedule(i)
            if not self.is_gateway[i]:
                self._next_packet(i)
                self._next_p2p(i)
                self._next_group(i)
        self._setup_churn()
        # After the bulbs that start off are off: until commit 7bc4fe7 they counted as
        # reachable bulbs without a route until the first bucket, so convergence under churn
        # read bucket_s.
        self.reachable = self._reachable_now()
        self._at(0.5, self._check_convergence)
        self._at(self.spec.bucket_s, self._bucket)
        with long_lived_heap():
            if self.spec.warmup_s > 0:
                advance(self.spec.warmup_s)
            control_start = [self.control_bytes(i) for i in self.local_nodes]
            rx_dropped_start = self.receivers.dropped
            air_start = (self.medium.transmissions, sum(self.medium.airtime_used_s))
            advance(self.spec.duration_s)
        wall_s = time.perf_counter() - started
        return self._outcome(control_start, rx_dropped_start, air_start, wall_s)

    def _run_until(self, t_s: float) -> None:
        self.env.run(until=t_s)

    def _outcome(self, control_start: list[int], rx_dropped_start: int,
                 air_start: tuple[int, float], wall_s: float) -> Outcome:
        index = self.index
        chosen: list[int | None] = []
        routes: list[dict[int, int]] = []
        for i in self.local_nodes:
            node = self.nodes[i]
            if not self.alive[i]:
                chosen.append(None)
                routes.append({})
                continue
            gw = node.best_gateway()
            chosen.append(index[gw] if gw is not None else None)
            routes.append({index.get(r.gw, -1): index.get(r.next_hop, -1)
                           for r in node.gateways.entries()})
        reach = self._reachable_now()  # at the very end, as on_at_end
        local = self.local_nodes
        return Outcome(
            part=self.part.index, local=list(local), wall_s=wall_s,
            control_start=control_start,
            control_end=[self.control_bytes(i) for i in local],
            chosen=chosen, routes=routes,
            airtime_used_s=[self.medium.airtime_used_s[i] for i in local],
            frames_in=sum(sum(self.nodes[i].stats.frames_in) for i in local),
            peak_rss_kb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            transmissions_measured=self.medium.transmissions - air_start[0],
            airtime_measured_s=sum(self.medium.airtime_used_s) - air_start[1],
            ledger=self.packets, arrivals=self.arrivals,
            gateway_deliveries={g: n for g, n in self.gateway_deliveries.items()
                                if self.local[g]},
            timeline=self.timeline,
            rx_dropped_measured=self.receivers.dropped - rx_dropped_start,
            convergence_s=self.convergence_s, failover_s=self.failover_s,
            recovery_s=self.recovery_s,
            interpreter=running_python(),
            on_at_end=list(self.alive),
            reachable_at_end=[i in reach for i in range(self.count)],
            oracle_hops=self._good_hops(self._working_gateways()),
            events=self.events)
