"""The HTML report of one simulation run: a single self-contained report.html.

render_report() draws six plots with matplotlib and embeds them as base64 PNG data URIs:
delivery over time (with control traffic and live bulbs), the latency CDF, a histogram of
control overhead per bulb, a map of bulbs coloured by chosen gateway, a map coloured by hop
count, and an airtime heat map. A headline table of the metrics and an events table go with
them, and a comparison with plain flooding when the run has that baseline (run.py).

Rules kept here:
1. One file, no external assets, no JavaScript: the page opens offline in any browser. A
   Content-Security-Policy forbids everything but inline style and data: images, so even a
   string that escaped escaping could not run.
2. Every string from the run (scenario, event labels, notes) is HTML-escaped once, where the
   page is assembled, and drawn into plots with mathtext off ("$" is just a dollar sign).
3. matplotlib is used without pyplot: each Figure gets its own Agg canvas, chosen explicitly,
   so there is no global figure state, no display and nothing to close.
4. Fast for 100,000 bulbs: maps draw small, rasterized markers and at most
   ``max_map_points`` bulbs (all gateways plus a seeded random sample, stated on the page);
   the latency CDF is drawn from at most 2,000 quantiles. Metrics are never recomputed from
   a sample.
5. The six plots are always present, with a "no data" message when a run has nothing to
   show, so reports of different runs have the same shape.
6. Events are marked as vertical lines on every timeline plot, labelled in the plot (numbered
   when there are many; left unlabelled where labels would pile up) and listed in full, with
   their numbers, in the events table.
7. Baseline metrics (results.FLOODING_METRICS, ROUTED_BYTES_METRIC) are shown in their own
   table when present; the scenario's optional metrics (results.SCENARIO_METRICS) join the
   headline table when present.
8. Output is deterministic for a given result: no timestamps, no random state beyond the
   run's seed, PNGs without a software tag.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import BoundaryNorm, to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator
from matplotlib.transforms import blended_transform_factory

from .results import (
    REQUIRED_METRICS,
    ROUTED_BYTES_METRIC,
    SCENARIO_METRICS,
    Event,
    MetricValue,
    RunResult,
    json_metric,
    validate,
)

MAP_MAX_POINTS = 50_000  # bulbs drawn on each map at most
MAX_EVENT_LABELS = 12  # above this, events are numbered in plots and named in the table
MAX_EVENT_ROWS = 1_000  # rows in the events table; the rest are in events.csv
EVENT_LABEL_ROWS = 3  # rows of event labels above the timeline
EVENT_LABEL_CHARS = 40  # longer labels are shortened in plots (never in the table)
CDF_MAX_POINTS = 2_000
HEATMAP_MAX_CELLS = 4_000_000  # larger (or irregular) airtime grids are drawn as squares
DPI = 100

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# name -> (unit, meaning); the headline table follows REQUIRED_METRICS order, then the
# SCENARIO_METRICS the run has (group traffic, power cuts).
METRIC_INFO: dict[str, tuple[str, str]] = {
    "nodes": ("bulbs", "bulbs in the mesh"),
    "gateways": ("bulbs", "bulbs with an internet uplink"),
    "sim_s": ("s", "simulated time"),
    "wall_s": ("s", "wall-clock time the run took"),
    "workers": ("processes", "processes the city was split between (1: the exact run)"),
    "reachable_fraction": ("fraction", "bulbs with a path of good links (PRR ≥ 0.5) to a "
                           "working gateway at the end, in the true link graph"),
    "delivery_ratio_gateway": ("fraction", "internet packets delivered / sent by reachable "
                               "bulbs after warmup"),
    "delivery_ratio_p2p": ("fraction", "bulb-to-bulb packets delivered / sent between "
                           "reachable bulbs after warmup"),
    "latency_ms_p50": ("ms", "median latency of delivered internet packets"),
    "latency_ms_p95": ("ms", "95th percentile latency of delivered internet packets"),
    "mean_hops": ("hops", "mean hops to the chosen gateway"),
    "stretch_vs_oracle": ("ratio", "hops taken / hops on the oracle's shortest path"),
    "control_bytes_per_node_s": ("B/(bulb·s)", "routing control traffic per bulb"),
    "airtime_util_p95": ("fraction", "share of the run the bulbs of a 100 m cell held the "
                         "air, 95th percentile over cells"),
    "convergence_s": ("s", "time until 99 % of the reachable bulbs that are on have a "
                      "gateway route"),
    "failover_s": ("s", "time from a gateway's failure until no reachable bulb selects it"),
    "recovery_s": ("s", "time from the end of a power cut until 99 % of the bulbs it "
                   "darkened (reachable, on) have a gateway route again; the slowest cut"),
    "delivery_ratio_group": ("fraction", "group messages received / bulbs on within the "
                             "group's hops of good links of the sender, after warmup"),
    "gateway_load_cv": ("std/mean", "coefficient of variation of internet packets "
                        "delivered per gateway"),
    "loops": ("count", "routing loops detected"),
    "rx_dropped_per_node_min": ("frames/(bulb·min)", "frames dropped because ESP-NOW's "
                                "receive buffer was full while the bulb was busy, after "
                                "warmup"),
}

_tab20 = colormaps["tab20"]
# 18 distinguishable colours for gateway areas: tab20's strong then light shades, minus grey
# (grey marks bulbs without a route).
_PALETTE: list[tuple[float, float, float, float]] = [
    to_rgba(_tab20(i)) for shade in (0, 1) for i in range(shade, 20, 2) if i not in (14, 15)
]
_NO_ROUTE = "#9a9a9a"
_OFF = "#d4d4d4"
_BROKEN = "#d62728"
_EVENT_COLOUR = "#d62728"


@dataclass
class _Plot:
    title: str
    caption: str
    data_uri: str


def format_metric(value: MetricValue) -> str:
    """A metric value as shown in the headline table."""
    v = json_metric(value)
    if v is None:
        return "n/a"
    if isinstance(v, int):
        return str(v)
    if v == 0.0:
        return "0"
    if abs(v) >= 1e4:
        return f"{v:.0f}"
    return f"{v:.4g}"


# --- figures -------------------------------------------------------------------------------


def _figure(width_in: float, height_in: float) -> Figure:
    fig = Figure(figsize=(width_in, height_in), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)  # the Agg canvas, explicitly: no pyplot, no display
    return fig


def _data_uri(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _no_data(ax: Axes, text: str) -> None:
    ax.text(
        0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes,
        color="#666666", parse_math=False,
    )


def _short(label: str) -> str:
    if len(label) <= EVENT_LABEL_CHARS:
        return label
    return label[: EVENT_LABEL_CHARS - 1] + "…"


def _time_scale(result: RunResult) -> tuple[float, str]:
    ends = [b.t_s for b in result.timeline] + [e.t_s for e in result.events]
    sim_s = json_metric(result.metrics.get("sim_s"))
    if sim_s is not None:
        ends.append(float(sim_s))
    return (3600.0, "h") if ends and max(ends) > 7200.0 else (1.0, "s")


def _mark_events(axes: list[Axes], events: list[Event], scale: float) -> None:
    """Rule 6: a dashed line per event on every axis, labels above the top one. A label that
    would overlap its left neighbour goes up a row; with no row free it is left out (the
    events table lists every event)."""
    if not events:
        return
    numbered = len(events) > MAX_EVENT_LABELS
    top = axes[0]
    trans = blended_transform_factory(top.transData, top.transAxes)
    xs = [event.t_s / scale for event in events]
    lo, hi = top.get_xlim() if top.has_data() else (min(xs), max(xs))
    span = max(max(xs), hi) - min(min(xs), lo) or 1.0
    gap = span * (0.02 if numbered else 0.07)  # room a label needs before the next one
    row_end = [-np.inf] * EVENT_LABEL_ROWS
    order = sorted(range(len(events)), key=lambda i: xs[i])
    for ax in axes:  # one collection per axis, however many events
        ax.vlines(
            xs, 0.0, 1.0, transform=ax.get_xaxis_transform(), colors=_EVENT_COLOUR, lw=0.9,
            linestyles="--", alpha=0.8,
        )
    for i in order:
        x = xs[i]
        free = [r for r in range(EVENT_LABEL_ROWS) if row_end[r] <= x]
        if not free:
            continue  # no room: the line stays, the table names it
        row = free[0]
        row_end[row] = x + gap
        top.text(
            x, 1.02 + 0.09 * row, str(i + 1) if numbered else _short(events[i].label),
            transform=trans, rotation=0 if numbered else 30, rotation_mode="anchor",
            ha="center" if numbered else "left", va="bottom", fontsize=7,
            color=_EVENT_COLOUR, parse_math=False,
        )


def _timeline_plot(result: RunResult) -> _Plot:
    scale, unit = _time_scale(result)
    fig = _figure(10.0, 7.5)
    ax_dr, ax_ctrl, ax_alive = (fig.add_subplot(3, 1, i + 1) for i in range(3))
    ax_ctrl.sharex(ax_dr)
    ax_alive.sharex(ax_dr)
    axes = [ax_dr, ax_ctrl, ax_alive]
    buckets = result.timeline
    if buckets:
        t_s = np.array([b.t_s for b in buckets], dtype=np.float64)
        sent = np.array([b.sent for b in buckets], dtype=np.float64)
        delivered = np.array([b.delivered for b in buckets], dtype=np.float64)
        ctrl = np.array([b.control_bytes for b in buckets], dtype=np.float64)
        alive = np.array([b.alive_nodes for b in buckets], dtype=np.float64)
        if len(t_s) > 1:
            width_s = np.diff(t_s)
            width_s = np.append(width_s, width_s[-1])
        else:
            sim_s = json_metric(result.metrics.get("sim_s"))
            width_s = np.array([float(sim_s) if sim_s else 1.0])
        width_s = np.where(width_s > 0, width_s, 1.0)
        edges = np.append(t_s, t_s[-1] + width_s[-1]) / scale
        ratio = np.divide(delivered, sent, out=np.full_like(sent, np.nan), where=sent > 0)
        ctrl_rate = ctrl / width_s / np.maximum(alive, 1.0)
        ax_dr.stairs(ratio, edges, baseline=None, color="tab:blue", lw=1.4, label="per bucket")
        overall = json_metric(result.metrics.get("delivery_ratio_gateway"))
        if overall is not None:
            ax_dr.axhline(float(overall), color="tab:blue", lw=0.8, ls=":", label="whole run")
            ax_dr.legend(loc="lower left", fontsize=8)
        ax_ctrl.stairs(ctrl_rate, edges, baseline=None, color="tab:orange", lw=1.2)
        ax_alive.stairs(alive, edges, baseline=None, color="tab:green", lw=1.2)
        ax_ctrl.set_ylim(bottom=0.0)
        ax_alive.set_ylim(bottom=0.0)
    else:
        for ax in axes:
            _no_data(ax, "no timeline recorded")
    ax_dr.set_ylim(0.0, 1.05)
    ax_dr.set_ylabel("delivery ratio\n(internet)")
    ax_ctrl.set_ylabel("control traffic\n(B/s per live bulb)")
    ax_alive.set_ylabel("live bulbs")
    ax_alive.set_xlabel(f"time ({unit})")
    for ax in axes:
        ax.grid(alpha=0.3)
    for ax in axes[:-1]:
        ax.tick_params(labelbottom=False)
    _mark_events(axes, result.events, scale)
    return _Plot(
        "Delivery over time",
        "Share of internet packets delivered in each time bucket, control traffic per live "
        "bulb, and bulbs powered on. Dashed red lines mark events.",
        _data_uri(fig),
    )


def _latency_plot(result: RunResult) -> _Plot:
    fig = _figure(8.0, 4.5)
    ax = fig.add_subplot()
    lat = np.asarray(result.latencies_ms, dtype=np.float64)
    if lat.size:
        if lat.size <= CDF_MAX_POINTS:
            xs = np.sort(lat)
            ys = np.arange(1, lat.size + 1, dtype=np.float64) / lat.size
        else:
            ys = np.linspace(0.0, 1.0, CDF_MAX_POINTS)
            xs = np.quantile(lat, ys)
        ax.plot(xs, ys, drawstyle="steps-post", color="tab:blue", lw=1.4)
        lo, hi = float(xs[0]), float(xs[-1])
        if lo > 0 and hi / lo >= 50:
            ax.set_xscale("log")
        for p, style in ((50, "--"), (95, ":")):
            v = float(np.percentile(lat, p))
            ax.axvline(v, color="#444444", lw=0.9, ls=style, label=f"p{p} = {v:.4g} ms")
        ax.legend(loc="lower right", fontsize=8)
    else:
        _no_data(ax, "no internet packet delivered")
    ax.set_ylim(0.0, 1.02)
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("fraction of delivered packets")
    ax.grid(alpha=0.3)
    return _Plot(
        "Latency CDF",
        f"End-to-end latency of the {lat.size:,} internet packets delivered.",
        _data_uri(fig),
    )


def _overhead_plot(result: RunResult) -> _Plot:
    fig = _figure(8.0, 4.5)
    ax = fig.add_subplot()
    ctrl = np.asarray(result.control_bytes_per_node_s, dtype=np.float64)
    is_gw = np.asarray(result.is_gateway, dtype=bool)
    if ctrl.size:
        bins = int(np.clip(np.sqrt(ctrl.size), 10, 60))
        ax.hist(
            [ctrl[~is_gw], ctrl[is_gw]], bins=bins, stacked=True,
            color=["tab:orange", "black"], label=["bulbs", "gateways"],
        )
        mean = float(ctrl.mean())
        p95 = float(np.percentile(ctrl, 95))
        ax.axvline(mean, color="#444444", lw=0.9, ls="--", label=f"mean = {mean:.4g} B/s")
        ax.axvline(p95, color="#444444", lw=0.9, ls=":", label=f"p95 = {p95:.4g} B/s")
        ax.legend(fontsize=8)
    else:
        _no_data(ax, "no bulbs")
    ax.set_xlabel("control traffic sent (B/s per bulb, whole run)")
    ax.set_ylabel("bulbs")
    ax.grid(alpha=0.3)
    return _Plot(
        "Control overhead per bulb",
        "Routing control bytes each bulb sent per second, averaged over the run.",
        _data_uri(fig),
    )


@dataclass
class _MapData:
    pos: FloatArray  # (n, 2), in plot units
    unit: str
    is_gw: npt.NDArray[np.bool_]
    drawn: IntArray  # node indices drawn
    note: str | None  # for the page, when the maps show a sample
    title: str  # for the maps, when they show a sample
    marker_size: float  # bulbs, in points²
    star_size: float  # gateways, in points²


def _map_data(result: RunResult, max_points: int) -> _MapData:
    pos_m = np.asarray(result.positions_m, dtype=np.float64).reshape(-1, 2)
    n = len(pos_m)
    is_gw = np.asarray(result.is_gateway, dtype=bool).reshape(n)
    extent_m = float(np.ptp(pos_m, axis=0).max()) if n else 0.0
    scale, unit = (1000.0, "km") if extent_m > 5000.0 else (1.0, "m")
    gw_idx = np.flatnonzero(is_gw).astype(np.int64)
    note = None
    title = ""
    if n > max_points:
        others = np.flatnonzero(~is_gw)
        k = min(len(others), max(0, max_points - len(gw_idx)))
        rng = np.random.default_rng(result.seed)
        picked = rng.choice(others, size=k, replace=False)
        drawn = np.sort(np.concatenate([gw_idx, picked])).astype(np.int64)
        note = (
            f"Maps show all {len(gw_idx):,} gateways and {k:,} of the {len(others):,} other "
            f"bulbs, picked at random (seed {result.seed}); every metric uses all bulbs."
        )
        title = f"{len(drawn):,} of {n:,} bulbs drawn (random sample)"
    else:
        drawn = np.arange(n, dtype=np.int64)
    marker_size = float(np.clip(100_000 / max(len(drawn), 1), 1.5, 16.0))  # points²
    star_size = float(np.clip(2_800 / max(len(gw_idx), 1), 35.0, 140.0))
    return _MapData(pos_m / scale, unit, is_gw, drawn, note, title, marker_size, star_size)


def _map_axes(md: _MapData, title_note: str = "") -> tuple[Figure, Axes]:
    pos = md.pos
    if len(pos):
        span = np.ptp(pos, axis=0)
        ratio = float(span[1] / span[0]) if span[0] > 0 else 1.0
    else:
        ratio = 1.0
    height = float(np.clip(8.0 * ratio, 3.5, 11.0)) + 0.8
    fig = _figure(9.5, height)
    ax = fig.add_subplot()
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel(f"x ({md.unit})")
    ax.set_ylabel(f"y ({md.unit})")
    ax.set_facecolor("#fbfbfb")
    if title_note:
        ax.set_title(title_note, fontsize=9, loc="left", color="#555555")
    return fig, ax


def _gateway_colours(pos: FloatArray) -> IntArray:
    """A palette index per gateway such that near gateways differ: greedy colouring of the
    8-nearest-neighbour graph, balancing colour use. Plain cycling for very many."""
    g = len(pos)
    ncol = len(_PALETTE)
    if g <= ncol:
        return np.arange(g, dtype=np.int64)
    if g > 20_000:
        return np.arange(g, dtype=np.int64) % ncol
    k = 8
    neighbours: list[set[int]] = [set() for _ in range(g)]
    chunk = max(1, 2_000_000 // g)
    for start in range(0, g, chunk):
        block = pos[start : start + chunk]
        d2 = ((block[:, None, :] - pos[None, :, :]) ** 2).sum(axis=-1)
        rows = np.arange(len(block))
        d2[rows, rows + start] = np.inf
        nearest = np.argpartition(d2, k, axis=1)[:, :k]
        for row, js in enumerate(nearest.tolist()):
            i = start + row
            for j in js:
                neighbours[i].add(j)
                neighbours[j].add(i)
    colours = np.full(g, -1, dtype=np.int64)
    used_count = [0] * ncol
    for i in range(g):
        taken = {int(colours[j]) for j in neighbours[i]}
        free = [c for c in range(ncol) if c not in taken] or list(range(ncol))
        c = min(free, key=lambda c: used_count[c])
        colours[i] = c
        used_count[c] += 1
    return colours


@dataclass
class _Bulbs:
    """The drawn bulbs of a map by their state at the end, and the counts over every bulb."""

    off: IntArray
    no_route: IntArray
    routed: IntArray  # with a chosen gateway
    broken: IntArray  # of routed: the next-hop chain breaks before the gateway (no hop count)
    n_off: int
    n_no_route: int
    n_out_of_reach: int  # of n_no_route: no path of good links to a working gateway
    n_broken: int


def _bulbs(result: RunResult, md: _MapData) -> _Bulbs:
    n = len(md.pos)
    on = np.asarray(result.on_at_end, dtype=bool).reshape(n)
    reach = np.asarray(result.reachable_at_end, dtype=bool).reshape(n)
    has_route = np.array([g is not None for g in result.chosen_gateway], dtype=bool).reshape(n)
    has_hops = np.array([h is not None for h in result.hops], dtype=bool).reshape(n)
    bulb_on = on & ~md.is_gw
    unrouted = bulb_on & ~has_route
    d = md.drawn
    d_bulb = d[~md.is_gw[d]]
    d_on = d_bulb[on[d_bulb]]
    routed = d_on[has_route[d_on]]
    return _Bulbs(
        off=d_bulb[~on[d_bulb]],
        no_route=d_on[~has_route[d_on]],
        routed=routed,
        broken=routed[~has_hops[routed]],
        n_off=int(np.count_nonzero(~on & ~md.is_gw)),
        n_no_route=int(np.count_nonzero(unrouted)),
        n_out_of_reach=int(np.count_nonzero(unrouted & ~reach)),
        n_broken=int(np.count_nonzero(bulb_on & has_route & ~has_hops)),
    )


def _draw_unrouted(ax: Axes, md: _MapData, bulbs: _Bulbs) -> list[Line2D]:
    """Bulbs off at the end as faint dots, bulbs on without a route as crosses; their legend
    entries."""
    ax.scatter(
        md.pos[bulbs.off, 0], md.pos[bulbs.off, 1], s=md.marker_size * 0.6, c=_OFF,
        linewidths=0, rasterized=True,
    )
    ax.scatter(
        md.pos[bulbs.no_route, 0], md.pos[bulbs.no_route, 1], s=md.marker_size * 1.5,
        marker="x", c=_NO_ROUTE, linewidths=0.6, rasterized=True,
    )
    return [
        Line2D([], [], ls="", marker="x", ms=5, mec=_NO_ROUTE,
               label=f"on, no route ({bulbs.n_no_route:,}; {bulbs.n_out_of_reach:,} out of reach)"),
        Line2D([], [], ls="", marker="o", ms=3, mfc=_OFF, mec="none",
               label=f"off at the end ({bulbs.n_off:,})"),
    ]


def _unrouted_caption(bulbs: _Bulbs) -> str:
    return (f" At the end {bulbs.n_off:,} bulbs were off (faint dots) and {bulbs.n_no_route:,}"
            f" on without a route (crosses), {bulbs.n_out_of_reach:,} of them out of reach: no"
            " path of good links to a working gateway.")


def _gateway_map(result: RunResult, md: _MapData) -> _Plot:
    n = len(md.pos)
    chosen = np.array([-1 if g is None else int(g) for g in result.chosen_gateway], np.int64)
    bulbs = _bulbs(result, md)
    fig, ax = _map_axes(md, md.title)
    if n:
        gw_idx = np.flatnonzero(md.is_gw)
        coloured = np.union1d(gw_idx, chosen[chosen >= 0]).astype(np.int64)
        palette_of = np.full(n, -1, dtype=np.int64)
        palette_of[coloured] = _gateway_colours(md.pos[coloured])
        palette = np.array(_PALETTE)
        routed = bulbs.routed
        unrouted_handles = _draw_unrouted(ax, md, bulbs)
        ax.scatter(
            md.pos[routed, 0], md.pos[routed, 1], s=md.marker_size,
            c=palette[palette_of[chosen[routed]]], linewidths=0, rasterized=True,
        )
        ax.scatter(
            md.pos[gw_idx, 0], md.pos[gw_idx, 1], s=md.star_size, marker="*",
            c=palette[palette_of[gw_idx]], edgecolors="black", linewidths=0.7, zorder=3,
        )
        handles = [
            Line2D([], [], ls="", marker="*", ms=11, mfc="white", mec="black",
                   label=f"gateway ({len(gw_idx):,})"),
            Line2D([], [], ls="", marker="o", ms=4, mfc=_PALETTE[0], mec="none",
                   label="bulb, coloured as its gateway"),
            *unrouted_handles,
        ]
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=8,
                   frameon=False)  # outside the map: it would hide bulbs in a corner
    else:
        _no_data(ax, "no bulbs")
    return _Plot(
        "Bulbs by chosen gateway",
        "Each bulb takes the colour of the gateway it uses at the end of the run; stars are "
        "gateways (neighbouring gateways get different colours; colours repeat far apart)."
        + _unrouted_caption(bulbs),
        _data_uri(fig),
    )


def _hops_map(result: RunResult, md: _MapData) -> _Plot:
    n = len(md.pos)
    hops = np.array([-1 if h is None else int(h) for h in result.hops], dtype=np.int64)
    bulbs = _bulbs(result, md)
    fig, ax = _map_axes(md, md.title)
    if n:
        routed = bulbs.routed[hops[bulbs.routed] >= 0]
        max_hops = int(hops.max()) if (hops >= 0).any() else 0
        cmap = colormaps["viridis"].resampled(max_hops + 1)
        norm = BoundaryNorm(np.arange(-0.5, max_hops + 1.5, 1.0), cmap.N)
        unrouted_handles = _draw_unrouted(ax, md, bulbs)
        sc = ax.scatter(
            md.pos[routed, 0], md.pos[routed, 1], s=md.marker_size, c=hops[routed],
            cmap=cmap, norm=norm, linewidths=0, rasterized=True,
        )
        ax.scatter(
            md.pos[bulbs.broken, 0], md.pos[bulbs.broken, 1], s=md.marker_size * 2.5,
            marker="+", c=_BROKEN, linewidths=0.8, rasterized=True, zorder=2,
        )
        gw_idx = np.flatnonzero(md.is_gw)
        ax.scatter(
            md.pos[gw_idx, 0], md.pos[gw_idx, 1], s=md.star_size, marker="*", c="white",
            edgecolors="black", linewidths=0.7, zorder=3,
        )
        bar = fig.colorbar(sc, ax=ax, shrink=0.8, label="hops to chosen gateway")
        bar.locator = MaxNLocator(integer=True)
        bar.update_ticks()
        handles = [
            Line2D([], [], ls="", marker="*", ms=11, mfc="white", mec="black", label="gateway"),
            Line2D([], [], ls="", marker="+", ms=6, mec=_BROKEN,
                   label=f"route broken on the way ({bulbs.n_broken:,})"),
            *unrouted_handles,
        ]
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=8,
                   frameon=False)  # outside the map: it would hide bulbs in a corner
    else:
        _no_data(ax, "no bulbs")
    return _Plot(
        "Bulbs by hop count",
        "Hops from each bulb to its chosen gateway at the end of the run, along the next hops"
        f" of the bulbs on the way. {bulbs.n_broken:,} bulbs had a route whose chain broke"
        " before the gateway (plus signs): a bulb on it was off, or had lost the route, and"
        " the bulb before it had not noticed yet." + _unrouted_caption(bulbs),
        _data_uri(fig),
    )


def _cell_size(coords: FloatArray) -> float | None:
    steps = np.diff(np.unique(coords))
    steps = steps[steps > 0]
    return float(steps.min()) if steps.size else None


def _airtime_plot(result: RunResult, md: _MapData) -> _Plot:
    cells = np.asarray(result.airtime, dtype=np.float64).reshape(-1, 3)
    scale = 1000.0 if md.unit == "km" else 1.0
    fig, ax = _map_axes(md)
    caption = "Share of time the channel is busy in each grid cell, as heard there."
    if len(cells):
        x, y = cells[:, 0] / scale, cells[:, 1] / scale
        util = cells[:, 2]
        # the scale follows the busiest cell (named on the colour bar), so quiet meshes show
        # their structure too
        vmax = max(1e-3, float(np.nanmax(util))) if np.isfinite(util).any() else 1.0
        cmap = colormaps["inferno"]
        cx, cy = _cell_size(x), _cell_size(y)
        cx = cx or cy or 1.0
        cy = cy or cx
        mappable: ScalarMappable
        nx = int(round((x.max() - x.min()) / cx)) + 1
        ny = int(round((y.max() - y.min()) / cy)) + 1
        if nx * ny <= HEATMAP_MAX_CELLS:
            grid = np.full((ny, nx), np.nan)
            ix = np.rint((x - x.min()) / cx).astype(np.int64)
            iy = np.rint((y - y.min()) / cy).astype(np.int64)
            grid[iy, ix] = util
            extent = (
                float(x.min() - cx / 2), float(x.max() + cx / 2),
                float(y.min() - cy / 2), float(y.max() + cy / 2),
            )
            mappable = ax.imshow(
                grid, origin="lower", extent=extent, cmap=cmap, vmin=0.0, vmax=vmax,
                interpolation="nearest", aspect="equal",
            )
        else:
            mappable = ax.scatter(
                x, y, c=util, cmap=cmap, vmin=0.0, vmax=vmax, marker="s", s=4,
                linewidths=0, rasterized=True,
            )
            caption += " (Irregular or very large grid: cells drawn as squares.)"
        gw_idx = np.flatnonzero(md.is_gw)
        ax.scatter(
            md.pos[gw_idx, 0], md.pos[gw_idx, 1], s=30, marker="^", c="#00e5ff",
            edgecolors="black", linewidths=0.5, zorder=3, label="gateway",
        )
        if len(gw_idx):
            ax.legend(loc="upper right", fontsize=8, framealpha=0.85)
        fig.colorbar(
            mappable, ax=ax, shrink=0.8, label=f"airtime utilisation (scale 0–{vmax:.3g})"
        )
    else:
        _no_data(ax, "no airtime recorded")
    return _Plot("Airtime heat map", caption, _data_uri(fig))


# --- page --------------------------------------------------------------------------------

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto;
       max-width: 1100px; padding: 1.5em; color: #222; background: #fff; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
.sub { color: #555; margin-top: 0; }
.note { background: #fff8e1; border-left: 4px solid #f0b400; padding: 0.5em 0.8em; }
table { border-collapse: collapse; font-size: 0.92em; }
th, td { text-align: left; padding: 0.3em 0.8em; border-bottom: 1px solid #eee; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
code { font-size: 0.95em; }
figure { margin: 0; }
img { max-width: 100%; height: auto; }
figcaption { color: #555; font-size: 0.9em; margin: 0.3em 0 0; }
footer { margin-top: 3em; color: #888; font-size: 0.85em; }
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _metrics_table(result: RunResult) -> str:
    rows = []
    shown = [*REQUIRED_METRICS, *(m for m in SCENARIO_METRICS if m in result.metrics)]
    for name in shown:
        unit, meaning = METRIC_INFO.get(name, ("", ""))
        value = format_metric(result.metrics.get(name))
        rows.append(
            f"<tr><td><code>{_e(name)}</code></td><td class=num>{_e(value)}</td>"
            f"<td>{_e(unit)}</td><td>{_e(meaning)}</td></tr>"
        )
    head = "<tr><th>metric</th><th>value</th><th>unit</th><th>meaning</th></tr>"
    return f"<table>\n{head}\n" + "\n".join(rows) + "\n</table>"


# (what, routed run's metric, flooding's metric, unit)
_FLOODING_ROWS: tuple[tuple[str, str, str, str], ...] = (
    ("delivery ratio to gateways", "delivery_ratio_gateway", "flooding_delivery_ratio_gateway",
     "fraction"),
    ("bytes sent per bulb per second (all frames, after warmup)", ROUTED_BYTES_METRIC,
     "flooding_bytes_per_node_s", "B/(bulb·s)"),
    ("median latency", "latency_ms_p50", "flooding_latency_ms_p50", "ms"),
)


def _flooding_table(result: RunResult) -> list[str]:
    """Rule 7: routed run against plain flooding, when the run has that baseline."""
    m = result.metrics
    if not any(flooding in m for _, _, flooding, _ in _FLOODING_ROWS):
        return []
    rows = [
        f"<tr><td>{_e(what)}</td><td class=num>{_e(format_metric(m.get(routed)))}</td>"
        f"<td class=num>{_e(format_metric(m.get(flooding)))}</td><td>{_e(unit)}</td></tr>"
        for what, routed, flooding, unit in _FLOODING_ROWS
    ]
    head = "<tr><th>metric</th><th>meshbulb routing</th><th>plain flooding</th><th>unit</th></tr>"
    return [
        "<h2>Baseline: plain flooding</h2>",
        "<p>The same bulbs, gateways and internet traffic with no routing protocol: every bulb "
        "rebroadcasts every packet once. Flooding runs the static network (no churn, no "
        "gateway failures).</p>",
        f"<table>\n{head}\n" + "\n".join(rows) + "\n</table>",
    ]


def _events_table(result: RunResult) -> str:
    if not result.events:
        return "<p>No events.</p>"
    rows = [
        f"<tr><td class=num>{i + 1}</td><td class=num>{_e(f'{ev.t_s:.6g}')}</td>"
        f"<td>{_e(ev.label)}</td></tr>"
        for i, ev in enumerate(result.events[:MAX_EVENT_ROWS])
    ]
    head = "<tr><th>#</th><th>t (s)</th><th>event</th></tr>"
    table = f"<table>\n{head}\n" + "\n".join(rows) + "\n</table>"
    more = len(result.events) - MAX_EVENT_ROWS
    if more > 0:
        table += f"\n<p>{more:,} more events in events.csv.</p>"
    return table


def _page(result: RunResult, plots: list[_Plot], notes: list[str]) -> str:
    m = result.metrics
    title = f"meshbulb simulation: {result.scenario} (seed {result.seed})"
    summary = (
        f"{format_metric(m.get('nodes'))} bulbs, {format_metric(m.get('gateways'))} gateways, "
        f"{format_metric(m.get('sim_s'))} s simulated in {format_metric(m.get('wall_s'))} s"
        + (f" on {result.interpreter}" if result.interpreter else "")
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta http-equiv="Content-Security-Policy" '
        "content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title>",
        f"<style>{_STYLE}</style>",
        "</head>",
        "<body>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="sub">{_e(summary)}</p>',
    ]
    parts += [f'<p class="note">{_e(note)}</p>' for note in notes]
    parts += ["<h2>Headline metrics</h2>", _metrics_table(result)]
    parts += _flooding_table(result)
    for plot in plots:
        parts += [
            f"<h2>{_e(plot.title)}</h2>",
            "<figure>",
            f'<img src="{plot.data_uri}" alt="{_e(plot.title)}">',
            f"<figcaption>{_e(plot.caption)}</figcaption>",
            "</figure>",
        ]
    parts += ["<h2>Events</h2>", _events_table(result)]
    parts += [
        "<footer>Generated by meshbulb_sim. Raw data: metrics.json, timeline.csv, nodes.csv, "
        "latencies.csv, events.csv, airtime.csv next to this file.</footer>",
        "</body>",
        "</html>",
        "",
    ]
    return "\n".join(parts)


def render_report(
    result: RunResult, out_dir: Path, *, max_map_points: int = MAP_MAX_POINTS
) -> Path:
    """Write out_dir/report.html (creating out_dir) and return its path."""
    validate(result)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    md = _map_data(result, max_map_points)
    plots = [
        _timeline_plot(result),
        _latency_plot(result),
        _overhead_plot(result),
        _gateway_map(result, md),
        _hops_map(result, md),
        _airtime_plot(result, md),
    ]
    notes = [md.note] if md.note else []
    path = out_dir / "report.html"
    path.write_text(_page(result, plots, notes), encoding="utf-8")
    return path
