"""What one part of a run hands back (an Outcome), and the RunResult made from the outcomes of
every part of a city: one part for a run on one process, several for parallel.py.

Rules kept here:
1. An Outcome holds plain data only (it crosses a pipe): per bulb of its part, its control
   bytes, the gateway it chose and the next hop of each gateway route it holds; its packet
   ledger; the packets its bulbs took in that another part's ledger issued (`arrivals`); its
   timeline; and what every part works out alike (bulbs on, the true link graph's reachable
   bulbs and oracle hops, events).
2. Arrivals are entered in the issuing ledger in the order they happened, so the first copy
   of a packet is the one that counts (packets.py rule 2). An internet packet from another
   part counts towards its gateway's load and towards the timeline bucket it left in.
3. Hop counts and loops follow next hops across parts. Convergence, failover and recovery
   are the slowest part's: each part measures them over its own bulbs.
"""

from __future__ import annotations

import platform
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from . import packets
from .packets import PacketLedger
from .results import Event, RunResult, TimeBucket, percentile

if TYPE_CHECKING:
    from .engine import SimSpec

# (kind, issuing part, packet id, bulb that took it in, when: for an internet packet, when
# it left the gateway's uplink)
Arrival = tuple[int, int, int, int, float]


def running_python() -> str:
    """What runs this process, for the figures: 'PyPy 7.3.11 (Python 3.9.16)'."""
    version = sys.version_info
    own = getattr(sys, "pypy_version_info", None)
    release = (".".join(str(v) for v in own[:3]) if own is not None
               else platform.python_version())
    return (f"{platform.python_implementation()} {release} "
            f"(Python {version.major}.{version.minor}.{version.micro})")


class WorkerError(RuntimeError):
    """A part of a run on several workers, or a run on another interpreter, failed."""


@dataclass
class Outcome:
    part: int
    local: list[int]  # the bulbs this part ran; per-bulb lists below follow this order
    wall_s: float
    control_start: list[int]  # control bytes sent until the end of warmup
    control_end: list[int]
    chosen: list[int | None]  # gateway chosen at the end (None when off or without one)
    routes: list[dict[int, int]]  # gateway: next hop (-1 when not a bulb of the city)
    airtime_used_s: list[float]
    frames_in: int  # frames the cores took in
    peak_rss_kb: int  # the peak resident memory of the process that ran the part
    transmissions_measured: int  # transmissions after warmup
    airtime_measured_s: float  # ... and their airtime
    ledger: PacketLedger
    arrivals: list[Arrival]
    gateway_deliveries: dict[int, int]  # this part's gateways
    timeline: list[TimeBucket]
    rx_dropped_measured: int
    convergence_s: float | None
    failover_s: list[float]
    recovery_s: list[float | None]
    # alike in every part
    on_at_end: list[bool]
    reachable_at_end: list[bool]
    oracle_hops: dict[int, int]
    events: list[Event] = field(default_factory=list)
    interpreter: str = ""  # what ran the part (running_python), for the figures


def _slowest(values: list[float | None]) -> float | None:
    return None if any(v is None for v in values) else max(v for v in values if v is not None)


def _hops(i: int, chosen: list[int | None], routes: list[dict[int, int]],
          on: list[bool]) -> int | None:
    """Hops along the next-hop chain from bulb i to the gateway it chose; None when it has
    none or the chain breaks: a loop, a bulb on it without the route, or a next hop that is
    off (its neighbours notice at their next send or after its HELLOs stop)."""
    gw = chosen[i]
    if gw is None:
        return None
    hops, seen, k = 0, set(), i
    while k != gw:
        if k in seen:
            return None
        seen.add(k)
        nxt = routes[k].get(gw)
        if nxt is None or nxt < 0 or not on[nxt]:
            return None
        k = nxt
        hops += 1
    return hops


def _loops(routes: list[dict[int, int]], on: list[bool]) -> int:
    found = 0
    for start, held in enumerate(routes):
        if not on[start]:
            continue
        for gw in held:
            seen, k = set(), start
            while True:
                if k in seen:
                    found += 1
                    break
                seen.add(k)
                if k == gw:
                    break
                nxt = routes[k].get(gw)
                if nxt is None or nxt < 0 or not on[nxt]:
                    break
                k = nxt
    return found


def _enter(ledgers: dict[int, PacketLedger], outcomes: list[Outcome], bucket_s: float,
           deliveries: dict[int, int], delivered_in: dict[int, int]) -> None:
    """Rule 2."""
    arrivals = sorted((a for o in outcomes for a in o.arrivals), key=lambda a: a[4])
    for kind, part, pid, at, t_s in arrivals:
        ledger = ledgers[part]
        if kind == packets.INTERNET:
            record = ledger.internet_arrived(pid)
            if record is None:
                continue
            _src, sent_s, counted = record
            ledger.internet_delivered(pid, (t_s - sent_s) * 1000)
            if counted:
                deliveries[at] = deliveries.get(at, 0) + 1
                bucket = int(t_s // bucket_s)
                delivered_in[bucket] = delivered_in.get(bucket, 0) + 1
        elif kind == packets.P2P:
            ledger.p2p_arrived(pid, at)
        else:
            ledger.group_arrived(pid, at)


def _timeline(outcomes: list[Outcome], delivered_in: dict[int, int]) -> list[TimeBucket]:
    rows = []
    for k, first in enumerate(outcomes[0].timeline):
        same = [o.timeline[k] for o in outcomes]
        rows.append(TimeBucket(first.t_s, sum(b.sent for b in same),
                               sum(b.delivered for b in same) + delivered_in.get(k, 0),
                               sum(b.control_bytes for b in same),
                               sum(b.alive_nodes for b in same),
                               sum(b.rx_dropped for b in same)))
    return rows


def _airtime_cells(positions_m: np.ndarray, used_s: list[float], duration_s: float,
                   cell_m: float = 100.0) -> list[tuple[float, float, float]]:
    cells: dict[tuple[int, int], float] = {}
    for i, (x, y) in enumerate(positions_m.tolist()):
        key = (int(x // cell_m), int(y // cell_m))
        cells[key] = cells.get(key, 0.0) + float(used_s[i])
    return [((cx + 0.5) * cell_m, (cy + 0.5) * cell_m, used / duration_s)
            for (cx, cy), used in cells.items()]


def merge(spec: SimSpec, positions_m: np.ndarray, gateways: list[int],
          outcomes: list[Outcome]) -> RunResult:
    """The RunResult of a run from the outcomes of all its parts (rules 2 and 3)."""
    count = len(positions_m)
    first = outcomes[0]
    on = first.on_at_end
    is_gateway = [False] * count
    for g in gateways:
        is_gateway[g] = True
    measured_s = max(1e-9, spec.duration_s - spec.warmup_s)
    per_node = [0.0] * count
    chosen: list[int | None] = [None] * count
    routes: list[dict[int, int]] = [{} for _ in range(count)]
    airtime_used_s = [0.0] * count
    for o in outcomes:
        for k, i in enumerate(o.local):
            per_node[i] = (o.control_end[k] - o.control_start[k]) / measured_s
            chosen[i] = o.chosen[k]
            routes[i] = o.routes[k]
            airtime_used_s[i] = o.airtime_used_s[k]
    deliveries: dict[int, int] = {}
    for o in outcomes:
        deliveries.update(o.gateway_deliveries)
    delivered_in: dict[int, int] = {}
    ledgers = {o.part: o.ledger for o in outcomes}
    _enter(ledgers, outcomes, spec.bucket_s, deliveries, delivered_in)
    hops = [_hops(i, chosen, routes, on) if on[i] and not is_gateway[i] else None
            for i in range(count)]
    oracle = first.oracle_hops
    pairs = [(h, oracle[i]) for i, h in enumerate(hops)
             if h is not None and oracle.get(i, 0) > 0]
    stretch = (sum(h for h, _ in pairs) / sum(o for _, o in pairs)) if pairs else None
    loads = [deliveries.get(g, 0) for g in gateways]
    mean_load = sum(loads) / len(loads) if loads else 0.0
    load_cv = (float(np.std(loads)) / mean_load) if mean_load > 0 else None
    airtime = _airtime_cells(positions_m, airtime_used_s, spec.duration_s)
    latencies = [v for o in outcomes for v in o.ledger.latencies_ms]
    offered = {kind: sum(o.ledger.offered[kind] for o in outcomes)
               for kind in (packets.INTERNET, packets.P2P)}
    arrived = {kind: sum(o.ledger.arrived[kind] for o in outcomes)
               for kind in (packets.INTERNET, packets.P2P)}
    failover = [t for o in outcomes for t in o.failover_s]
    metrics: dict[str, float | int | None] = {
        "nodes": count,
        "gateways": len(gateways),
        "sim_s": spec.duration_s,
        "wall_s": round(max(o.wall_s for o in outcomes), 3),
        "workers": len(outcomes),
        "reachable_fraction": sum(first.reachable_at_end) / count,
        "delivery_ratio_gateway": (arrived[packets.INTERNET] / offered[packets.INTERNET]
                                   if offered[packets.INTERNET] else None),
        "delivery_ratio_p2p": (arrived[packets.P2P] / offered[packets.P2P]
                               if offered[packets.P2P] else None),
        "latency_ms_p50": percentile(latencies, 50),
        "latency_ms_p95": percentile(latencies, 95),
        "mean_hops": (sum(h for h, _ in pairs) / len(pairs)) if pairs else None,
        "stretch_vs_oracle": stretch,
        "control_bytes_per_node_s": sum(per_node) / count,
        "airtime_util_p95": percentile([u for _, _, u in airtime], 95),
        "convergence_s": _slowest([o.convergence_s for o in outcomes]),
        "failover_s": max(failover) if failover else None,
        "gateway_load_cv": load_cv,
        "loops": _loops(routes, on),
        "rx_dropped_per_node_min": sum(o.rx_dropped_measured for o in outcomes)
        / count / (measured_s / 60),
    }
    if spec.group_messages_per_min > 0:
        expected = sum(o.ledger.group_expected for o in outcomes)
        received = sum(o.ledger.group_received for o in outcomes)
        metrics["delivery_ratio_group"] = received / expected if expected else None
    if any(cut.at_s + cut.duration_s < spec.duration_s for cut in spec.power_cuts):
        # The slowest cut; None when one had not recovered by the end (or none had bulbs
        # that could recover: no path of good links to a working gateway).
        per_cut = [_slowest([o.recovery_s[k] for o in outcomes])
                   for k in range(len(first.recovery_s))]
        done = [t for t in per_cut if t is not None]
        recovered = per_cut and len(done) == len(per_cut)
        metrics["recovery_s"] = max(done) if recovered else None
    return RunResult(
        scenario=spec.name, seed=spec.seed, metrics=metrics,
        positions_m=[(float(x), float(y)) for x, y in positions_m],
        is_gateway=is_gateway, on_at_end=list(on),
        reachable_at_end=list(first.reachable_at_end),
        chosen_gateway=chosen, hops=hops,
        control_bytes_per_node_s=per_node, latencies_ms=latencies,
        timeline=_timeline(outcomes, delivered_in), airtime=airtime,
        events=sorted(first.events, key=lambda e: e.t_s), interpreter=first.interpreter)
