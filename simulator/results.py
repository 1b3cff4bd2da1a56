"""What one simulation run produces, and how it is written to disk.

The runner fills a RunResult; write_outputs() turns it into metrics.json, CSV files and the HTML
report (report.py) in one output directory.

Rules kept here:
1. metrics holds every REQUIRED_METRICS key and may hold OPTIONAL_METRICS keys; a value is
   None where it does not apply (no p2p traffic, no failure to fail over from). validate()
   rejects any other key, per-node lists of different lengths, and chosen gateways that
   are not node indices, so that a runner bug fails loudly instead of writing a wrong report.
2. Values written to metrics.json are plain JSON: integers stay integers (numpy integers are
   converted), floats are floats, and a NaN or infinity is written as null (JSON has no NaN).
   Keys are sorted; "scenario" and "seed" sit next to the metrics.
3. CSV files have a header row and one row per item; None is an empty cell, booleans are 1/0,
   floats are written with full precision (repr), so a file read back gives the same numbers.
4. Every quantity carries its unit in its name (t_s, x_m, latency_ms, control_bytes_per_node_s).
   TimeBucket.t_s is the start of the bucket; buckets are equally spaced.
5. Nothing global: write_outputs() writes only inside the directory it is given.
"""

from __future__ import annotations

import csv
import json
import math
import numbers
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

REQUIRED_METRICS: tuple[str, ...] = (
    "nodes",
    "gateways",
    "sim_s",
    "wall_s",
    "workers",
    "reachable_fraction",
    "delivery_ratio_gateway",
    "delivery_ratio_p2p",
    "latency_ms_p50",
    "latency_ms_p95",
    "mean_hops",
    "stretch_vs_oracle",
    "control_bytes_per_node_s",
    "airtime_util_p95",
    "convergence_s",
    "failover_s",
    "gateway_load_cv",
    "loops",
    "rx_dropped_per_node_min",
)

# Present only when the scenario asks for them: the plain-flooding baseline (flooding.py)
# with the routed run's own frame bytes (control, data and retries, after warmup, per bulb
# per second), which is what flooding_bytes_per_node_s is compared with.
FLOODING_METRICS: tuple[str, ...] = (
    "flooding_delivery_ratio_gateway",
    "flooding_bytes_per_node_s",
    "flooding_transmissions_per_packet",
    "flooding_latency_ms_p50",
    "flooding_airtime_util_p95",
    "flooding_wall_s",
)
ROUTED_BYTES_METRIC = "routed_bytes_per_node_s"
# Present when the scenario has group traffic, and when a power cut ends within the run.
SCENARIO_METRICS: tuple[str, ...] = ("delivery_ratio_group", "recovery_s")
OPTIONAL_METRICS: tuple[str, ...] = (*SCENARIO_METRICS, *FLOODING_METRICS, ROUTED_BYTES_METRIC)

# Union, not |: a worker on PyPy runs Python 3.9 (interpreter.py).
MetricValue = Union[float, int, None]  # noqa: UP007


@dataclass
class Event:
    """Something that happened during the run, marked on every timeline plot."""

    t_s: float
    label: str  # e.g. "gateway 3 fails", "power cut (r=300 m)"


@dataclass
class TimeBucket:
    """One row of the timeline: what happened in [t_s, t_s + bucket_s)."""

    t_s: float  # START of the bucket
    sent: int  # internet packets sent in this bucket
    delivered: int  # of those, delivered (counted in the bucket they were sent in)
    control_bytes: int  # control bytes sent by all bulbs in this bucket (not cumulative)
    alive_nodes: int  # bulbs powered on at the end of the bucket
    rx_dropped: int = 0  # frames dropped by full receive buffers in this bucket (receiver.py)


@dataclass
class RunResult:
    """Everything a run reports. Per-node lists are indexed by node index."""

    scenario: str
    seed: int
    metrics: dict[str, MetricValue]  # REQUIRED_METRICS, and OPTIONAL_METRICS that apply
    positions_m: list[tuple[float, float]]
    is_gateway: list[bool]
    on_at_end: list[bool]  # powered on at the end (churn and power cuts switch bulbs off)
    # with a path of good links to a working gateway at the end (what reachable_fraction counts)
    reachable_at_end: list[bool]
    chosen_gateway: list[int | None]  # node index of the gateway each node uses at the end
    hops: list[int | None]  # hops to that gateway at the end; None if the chain breaks
    control_bytes_per_node_s: list[float]
    latencies_ms: Sequence[float]  # one per counted internet packet that arrived
    timeline: list[TimeBucket] = field(default_factory=list)
    airtime: list[tuple[float, float, float]] = field(default_factory=list)  # (x_m, y_m, util)
    events: list[Event] = field(default_factory=list)
    interpreter: str = ""  # what ran the simulation: wall_s means little without it


def validate(result: RunResult) -> None:
    """Raise ValueError if the result is inconsistent (rule 1)."""
    keys = set(result.metrics)
    missing = [k for k in REQUIRED_METRICS if k not in keys]
    unknown = sorted(keys - set(REQUIRED_METRICS) - set(OPTIONAL_METRICS))
    if missing or unknown:
        raise ValueError(f"metrics: missing {missing}, unknown {unknown}")
    n = len(result.positions_m)
    for name, values in (
        ("is_gateway", result.is_gateway),
        ("on_at_end", result.on_at_end),
        ("reachable_at_end", result.reachable_at_end),
        ("chosen_gateway", result.chosen_gateway),
        ("hops", result.hops),
        ("control_bytes_per_node_s", result.control_bytes_per_node_s),
    ):
        if len(values) != n:
            raise ValueError(f"{name} has {len(values)} entries for {n} nodes")
    for i, gw in enumerate(result.chosen_gateway):
        if gw is not None and not 0 <= gw < n:
            raise ValueError(f"node {i}: chosen_gateway {gw} is not a node index")


def percentile(values: Iterable[float], p: float) -> float | None:
    """The p-th percentile (0..100) with linear interpolation between the closest ranks (the
    same as numpy.percentile's default). None for no values. NaN values or p are refused."""
    if not 0.0 <= p <= 100.0:  # also catches NaN
        raise ValueError(f"percentile p={p} is outside 0..100")
    data = sorted(float(v) for v in values)
    if not data:
        return None
    if any(math.isnan(v) for v in data):
        raise ValueError("percentile of values containing NaN")
    rank = (len(data) - 1) * p / 100.0
    lo = math.floor(rank)
    hi = min(lo + 1, len(data) - 1)
    frac = rank - lo
    if frac == 0.0:
        return data[lo]
    return data[lo] + (data[hi] - data[lo]) * frac


def json_metric(value: object) -> MetricValue:
    """A metric value as plain JSON (rule 2)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        f = float(value)
        return f if math.isfinite(f) else None
    raise TypeError(f"metric value {value!r} is not a number")


def _cell(value: object) -> str | int:
    """One CSV cell (rule 3)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return 1 if value else 0
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return repr(float(value))
    return str(value)


def _write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        writer.writerows([_cell(v) for v in row] for row in rows)


def write_metrics_json(result: RunResult, path: Path) -> None:
    doc: dict[str, object] = {k: json_metric(result.metrics[k])
                              for k in (*REQUIRED_METRICS, *OPTIONAL_METRICS)
                              if k in result.metrics}
    doc["scenario"] = result.scenario
    doc["seed"] = int(result.seed)
    if result.interpreter:
        doc["interpreter"] = result.interpreter
    text = json.dumps(doc, sort_keys=True, indent=2, allow_nan=False)
    path.write_text(text + "\n", encoding="utf-8")


def write_outputs(result: RunResult, out_dir: Path) -> dict[str, Path]:
    """Write every output file of a run into out_dir (created if needed). Returns the paths
    keyed by file name: metrics.json, timeline.csv, nodes.csv, latencies.csv, events.csv,
    airtime.csv and report.html."""
    from .report import render_report  # report imports this module; matplotlib loads lazily

    validate(result)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        name: out_dir / name
        for name in (
            "metrics.json",
            "timeline.csv",
            "nodes.csv",
            "latencies.csv",
            "events.csv",
            "airtime.csv",
        )
    }
    write_metrics_json(result, paths["metrics.json"])
    _write_csv(
        paths["timeline.csv"],
        ("t_s", "sent", "delivered", "control_bytes", "alive_nodes", "rx_dropped"),
        ((b.t_s, b.sent, b.delivered, b.control_bytes, b.alive_nodes, b.rx_dropped)
         for b in result.timeline),
    )
    _write_csv(
        paths["nodes.csv"],
        ("index", "x_m", "y_m", "is_gateway", "on_at_end", "reachable_at_end", "chosen_gateway",
         "hops", "control_bytes_per_node_s"),
        (
            (i, x_m, y_m, bool(gw), bool(on), bool(reach), chosen, hop, ctrl)
            for i, ((x_m, y_m), gw, on, reach, chosen, hop, ctrl) in enumerate(
                zip(
                    result.positions_m,
                    result.is_gateway,
                    result.on_at_end,
                    result.reachable_at_end,
                    result.chosen_gateway,
                    result.hops,
                    result.control_bytes_per_node_s,
                    strict=True,
                )
            )
        ),
    )
    _write_csv(paths["latencies.csv"], ("latency_ms",), ((v,) for v in result.latencies_ms))
    _write_csv(paths["events.csv"], ("t_s", "label"), ((e.t_s, e.label) for e in result.events))
    _write_csv(paths["airtime.csv"], ("x_m", "y_m", "utilisation"), result.airtime)
    paths["report.html"] = render_report(result, out_dir)
    return paths
