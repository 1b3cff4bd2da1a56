"""Simulator outputs: metrics.json, the CSV files and the self-contained HTML report, written
from a synthetic, seeded RunResult; percentile edge cases; and a printed (not asserted) timing
of a 100,000-bulb report."""

from __future__ import annotations

import csv
import html
import json
import math
import time
from pathlib import Path

import numpy as np
import pytest

from meshbulb_sim.report import METRIC_INFO, format_metric, render_report
from meshbulb_sim.results import (
    REQUIRED_METRICS,
    SCENARIO_METRICS,
    Event,
    RunResult,
    TimeBucket,
    percentile,
    validate,
    write_outputs,
)

PNG_URI = "data:image/png;base64,"
SCRIPT_LABEL = 'uplink <script>alert("x")</script> & "quotes" $x^2$'


def synthetic(n_nodes: int, seed: int = 7, n_gateways: int | None = None) -> RunResult:
    """A plausible run: bulbs on a 2 km square, gateways among them, each bulb routed to its
    nearest gateway with hops ~ distance / 60 m, a few unreachable bulbs, a few bulbs off at
    the end, three events."""
    rng = np.random.default_rng(seed)
    side_m = 2000.0
    pos = rng.uniform(0.0, side_m, size=(n_nodes, 2))
    g = n_gateways if n_gateways is not None else max(2, n_nodes // 40)
    gw_idx = rng.choice(n_nodes, size=g, replace=False)
    is_gw = np.zeros(n_nodes, dtype=bool)
    is_gw[gw_idx] = True
    # nearest gateway, in chunks to bound memory
    chosen = np.empty(n_nodes, dtype=np.int64)
    dist = np.empty(n_nodes)
    for start in range(0, n_nodes, 4096):
        d = np.linalg.norm(pos[start : start + 4096, None, :] - pos[None, gw_idx, :], axis=-1)
        k = d.argmin(axis=1)
        chosen[start : start + 4096] = gw_idx[k]
        dist[start : start + 4096] = d[np.arange(len(k)), k]
    hops = np.ceil(dist / 60.0).astype(np.int64)
    unreachable = (rng.random(n_nodes) < 0.03) & ~is_gw
    bucket_s = 10.0
    timeline = []
    for i in range(60):
        sent = int(rng.integers(80, 120))
        drop = 0.4 if 20 <= i < 25 else 0.03
        timeline.append(
            TimeBucket(
                t_s=i * bucket_s,
                sent=sent,
                delivered=int(sent * (1 - drop)),
                control_bytes=int(rng.integers(20_000, 40_000)),
                alive_nodes=n_nodes - (int(n_nodes * 0.1) if 30 <= i < 40 else 0),
            )
        )
    latencies = list(rng.lognormal(mean=3.5, sigma=0.6, size=max(10, n_nodes * 3)))
    ctrl = list(rng.gamma(4.0, 3.0, size=n_nodes) + is_gw * 30.0)
    cell_m = 100.0
    centres = np.arange(cell_m / 2, side_m, cell_m)
    airtime = [(float(x), float(y), float(rng.beta(2, 12))) for x in centres for y in centres]
    metrics: dict[str, float | int | None] = {
        "nodes": n_nodes,
        "gateways": g,
        "sim_s": 600.0,
        "wall_s": 12.345,
        "workers": 1,
        "reachable_fraction": 1 - float(unreachable.mean()),
        "delivery_ratio_gateway": 0.9317,
        "delivery_ratio_p2p": None,
        "latency_ms_p50": percentile(latencies, 50),
        "latency_ms_p95": percentile(latencies, 95),
        "mean_hops": float(hops[~unreachable].mean()),
        "stretch_vs_oracle": 1.083,
        "control_bytes_per_node_s": float(np.mean(ctrl)),
        "airtime_util_p95": percentile([c[2] for c in airtime], 95),
        "convergence_s": 41.5,
        "failover_s": 7.25,
        "gateway_load_cv": 0.412,
        "loops": 0,
        "rx_dropped_per_node_min": 0.0,
        "delivery_ratio_group": 0.9513,
        "recovery_s": 6.5,
    }
    off = (rng.random(n_nodes) < 0.05) & ~is_gw
    unreachable |= off  # a bulb that is off has no route
    return RunResult(
        scenario="synthetic <city>",
        seed=seed,
        metrics=metrics,
        positions_m=[(float(x), float(y)) for x, y in pos],
        is_gateway=[bool(b) for b in is_gw],
        on_at_end=[not bool(b) for b in off],
        # every bulb with a route, and a third of those on without one
        reachable_at_end=[bool(not o and (not u or k % 3 == 0))
                          for k, (o, u) in enumerate(zip(off, unreachable, strict=True))],
        chosen_gateway=[None if u else int(c) for u, c in zip(unreachable, chosen, strict=True)],
        # every 40th routed bulb's chain breaks before its gateway: a route but no hop count
        hops=[None if u or k % 40 == 1 else int(h)
              for k, (u, h) in enumerate(zip(unreachable, hops, strict=True))],
        control_bytes_per_node_s=[float(c) for c in ctrl],
        latencies_ms=[float(v) for v in latencies],
        timeline=timeline,
        airtime=airtime,
        events=[
            Event(200.0, "gateway 3 fails"),
            Event(300.0, "power cut (r=300 m)"),
            Event(450.0, SCRIPT_LABEL),
        ],
    )


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunResult, dict[str, Path]]:
    result = synthetic(300)
    out_dir = tmp_path_factory.mktemp("run") / "nested" / "out"  # created by write_outputs
    return result, write_outputs(result, out_dir)


def test_every_file_written(written: tuple[RunResult, dict[str, Path]]) -> None:
    _, paths = written
    expected = {"metrics.json", "timeline.csv", "nodes.csv", "latencies.csv", "report.html"}
    assert expected <= set(paths)
    for name, path in paths.items():
        assert path.name == name
        assert path.is_file() and path.stat().st_size > 0


def test_metrics_json(written: tuple[RunResult, dict[str, Path]]) -> None:
    result, paths = written
    text = paths["metrics.json"].read_text(encoding="utf-8")
    doc = json.loads(text)
    assert set(doc) == {*REQUIRED_METRICS, *SCENARIO_METRICS, "scenario", "seed"}
    assert list(doc) == sorted(doc)
    assert doc["scenario"] == result.scenario and doc["seed"] == result.seed
    assert doc["delivery_ratio_p2p"] is None
    assert doc["nodes"] == 300 and isinstance(doc["loops"], int)
    assert doc["wall_s"] == 12.345


def test_csv_row_counts(written: tuple[RunResult, dict[str, Path]]) -> None:
    result, paths = written
    timeline = read_csv(paths["timeline.csv"])
    nodes = read_csv(paths["nodes.csv"])
    latencies = read_csv(paths["latencies.csv"])
    assert len(timeline) == len(result.timeline)
    assert len(nodes) == len(result.positions_m)
    assert len(latencies) == len(result.latencies_ms)
    assert len(read_csv(paths["events.csv"])) == len(result.events)
    assert len(read_csv(paths["airtime.csv"])) == len(result.airtime)
    assert list(timeline[0]) == [
        "t_s", "sent", "delivered", "control_bytes", "alive_nodes", "rx_dropped"]
    assert list(nodes[0]) == [
        "index", "x_m", "y_m", "is_gateway", "on_at_end", "reachable_at_end", "chosen_gateway",
        "hops", "control_bytes_per_node_s",
    ]  # fmt: skip
    # values round-trip exactly; None is an empty cell, booleans 1/0
    for i, row in enumerate(nodes):
        assert int(row["index"]) == i
        assert (float(row["x_m"]), float(row["y_m"])) == result.positions_m[i]
        assert row["is_gateway"] == ("1" if result.is_gateway[i] else "0")
        assert row["on_at_end"] == ("1" if result.on_at_end[i] else "0")
        assert row["reachable_at_end"] == ("1" if result.reachable_at_end[i] else "0")
        gw = result.chosen_gateway[i]
        assert row["chosen_gateway"] == ("" if gw is None else str(gw))
        assert float(row["control_bytes_per_node_s"]) == result.control_bytes_per_node_s[i]
    assert [float(r["latency_ms"]) for r in latencies] == result.latencies_ms
    assert int(timeline[5]["delivered"]) == result.timeline[5].delivered


def test_report_html(written: tuple[RunResult, dict[str, Path]]) -> None:
    result, paths = written
    page = paths["report.html"].read_text(encoding="utf-8")
    assert page.count(PNG_URI) == 6
    # self-contained: nothing fetched, nothing run
    assert "<script" not in page.lower()
    assert "http://" not in page and "https://" not in page
    assert 'src="data:' in page and "<link" not in page
    for event in result.events:
        assert html.escape(event.label, quote=True) in page
    assert "gateway 3 fails" in page and "power cut (r=300 m)" in page
    # The maps tell bulbs that were off from bulbs that were on without a route.
    bulbs = [i for i, gw in enumerate(result.is_gateway) if not gw]
    off = sum(1 for i in bulbs if not result.on_at_end[i])
    no_route = [i for i in bulbs if result.on_at_end[i] and result.chosen_gateway[i] is None]
    out_of_reach = sum(1 for i in no_route if not result.reachable_at_end[i])
    assert off > 0 and 0 < out_of_reach < len(no_route)
    assert page.count(f"At the end {off:,} bulbs were off (faint dots) and {len(no_route):,} on "
                      f"without a route (crosses), {out_of_reach:,} of them out of reach: no "
                      "path of good links to a working gateway.") == 2  # the same on both maps
    # The hop map also counts the bulbs with a route but no hop count: the chain broke.
    broken = sum(1 for i in bulbs if result.on_at_end[i] and result.hops[i] is None
                 and result.chosen_gateway[i] is not None)
    assert broken > 0
    assert page.count(f"{broken:,} bulbs had a route whose chain broke before the gateway") == 1
    assert "uplink &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; " in page
    assert "synthetic &lt;city&gt;" in page and "synthetic <city>" not in page
    for name in REQUIRED_METRICS:
        assert f"<code>{name}</code>" in page
        value = format_metric(result.metrics[name])
        assert f"<td class=num>{value}</td>" in page, name
    assert "<td class=num>0.9317</td>" in page  # delivery_ratio_gateway
    assert "<td class=num>n/a</td>" in page  # delivery_ratio_p2p
    assert "<td class=num>12.35</td>" in page  # wall_s
    # The scenario's optional metrics join the table when the run has them.
    assert "<code>delivery_ratio_group</code></td><td class=num>0.9513</td>" in page
    assert "<code>recovery_s</code></td><td class=num>6.5</td>" in page
    assert "picked at random" not in page  # 300 bulbs: nothing subsampled


def test_metric_info_covers_every_metric() -> None:
    assert set(METRIC_INFO) == {*REQUIRED_METRICS, *SCENARIO_METRICS}
    assert all(unit for unit, _ in METRIC_INFO.values())


def test_format_metric() -> None:
    assert format_metric(None) == "n/a"
    assert format_metric(float("nan")) == "n/a"
    assert format_metric(3) == "3"
    assert format_metric(np.int64(3)) == "3"  # type: ignore[arg-type]
    assert format_metric(0.0) == "0"
    assert format_metric(0.93174) == "0.9317"
    assert format_metric(123456.7) == "123457"


def test_metrics_json_plain(tmp_path: Path) -> None:
    result = synthetic(50, n_gateways=3)
    result.metrics["loops"] = np.int64(2)  # type: ignore[assignment]
    result.metrics["stretch_vs_oracle"] = float("inf")
    result.metrics["mean_hops"] = np.float64(2.5)
    paths = write_outputs(result, tmp_path)
    doc = json.loads(paths["metrics.json"].read_text(encoding="utf-8"))
    assert doc["loops"] == 2 and isinstance(doc["loops"], int)
    assert doc["stretch_vs_oracle"] is None
    assert doc["mean_hops"] == 2.5


def test_validate_rejects_bad_results() -> None:
    result = synthetic(40, n_gateways=2)
    validate(result)
    del result.metrics["loops"]
    with pytest.raises(ValueError, match="loops"):
        validate(result)
    result.metrics["loops"] = 0
    result.metrics["typo_metric"] = 1
    with pytest.raises(ValueError, match="typo_metric"):
        validate(result)
    del result.metrics["typo_metric"]
    result.hops.append(1)
    with pytest.raises(ValueError, match="hops"):
        validate(result)
    result.hops.pop()
    result.on_at_end.pop()
    with pytest.raises(ValueError, match="on_at_end"):
        validate(result)
    result.on_at_end.append(True)
    result.reachable_at_end.pop()
    with pytest.raises(ValueError, match="reachable_at_end"):
        validate(result)
    result.reachable_at_end.append(True)
    result.chosen_gateway[0] = 40
    with pytest.raises(ValueError, match="chosen_gateway"):
        validate(result)


def test_report_of_an_empty_run(tmp_path: Path) -> None:
    """No timeline, latencies, airtime, events, routes or even gateways: still six plots."""
    result = synthetic(20, n_gateways=2)
    result.timeline, result.latencies_ms, result.airtime, result.events = [], [], [], []
    result.chosen_gateway = [None] * 20
    result.hops = [None] * 20
    result.is_gateway = [False] * 20
    del result.metrics["recovery_s"], result.metrics["delivery_ratio_group"]
    page = render_report(result, tmp_path).read_text(encoding="utf-8")
    assert page.count(PNG_URI) == 6
    assert "No events." in page
    assert "<code>recovery_s</code>" not in page  # no power cut: no row
    result.positions_m = []
    result.is_gateway, result.chosen_gateway, result.hops = [], [], []
    result.on_at_end, result.reachable_at_end = [], []
    result.control_bytes_per_node_s = []
    page = render_report(result, tmp_path).read_text(encoding="utf-8")
    assert page.count(PNG_URI) == 6


def test_many_events_and_long_runs(tmp_path: Path) -> None:
    result = synthetic(60, n_gateways=3)
    for b in result.timeline:
        b.t_s *= 300.0  # 5 hours: the time axis switches to hours
    result.events = [Event(600.0 * i, f"light switch {i}") for i in range(30)]
    page = render_report(result, tmp_path).read_text(encoding="utf-8")
    assert page.count(PNG_URI) == 6
    assert "light switch 29" in page


def test_thousands_of_events(tmp_path: Path) -> None:
    result = synthetic(60, n_gateways=3)
    result.events = [Event(0.2 * i, f"bulb {i} switched off") for i in range(3000)]
    page = render_report(result, tmp_path).read_text(encoding="utf-8")
    assert page.count(PNG_URI) == 6
    assert "bulb 999 switched off" in page and "bulb 1000 switched off" not in page
    assert "2,000 more events in events.csv." in page


def test_report_is_deterministic(tmp_path: Path) -> None:
    result = synthetic(80, n_gateways=4)
    first = render_report(result, tmp_path / "a").read_bytes()
    assert render_report(result, tmp_path / "b").read_bytes() == first


def test_percentile() -> None:
    assert percentile([], 50) is None
    assert percentile([5.0], 0) == 5.0
    assert percentile([5.0], 50) == 5.0
    assert percentile([5.0], 100) == 5.0
    assert percentile([1.0, 2.0], 50) == 1.5
    assert percentile([3.0, 1.0, 2.0], 0) == 1.0
    assert percentile([3.0, 1.0, 2.0], 100) == 3.0
    assert percentile([1, 2, 3, 4], 25) == 1.75
    assert percentile(iter([4.0, 4.0, 4.0]), 95) == 4.0
    rng = np.random.default_rng(1)
    for size in (2, 3, 10, 101):
        data = list(rng.normal(size=size))
        for p in (0.0, 1.0, 33.3, 50.0, 95.0, 99.9, 100.0):
            got = percentile(data, p)
            assert got is not None and math.isclose(got, float(np.percentile(data, p)))
    for bad_p in (-1.0, 100.1, float("nan")):
        with pytest.raises(ValueError):
            percentile([1.0], bad_p)
    with pytest.raises(ValueError):
        percentile([1.0, float("nan")], 50)


def test_timing_100k(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Printed, not asserted: the report of a 100,000-bulb run."""
    t0 = time.perf_counter()
    result = synthetic(100_000, n_gateways=250)
    t1 = time.perf_counter()
    paths = write_outputs(result, tmp_path)
    t2 = time.perf_counter()
    report_t0 = time.perf_counter()
    render_report(result, tmp_path / "again")
    t3 = time.perf_counter()
    page = paths["report.html"].read_text(encoding="utf-8")
    assert page.count(PNG_URI) == 6
    assert "picked at random" in page
    with capsys.disabled():
        print(
            f"\n100,000 bulbs: build {t1 - t0:.2f} s, write_outputs {t2 - t1:.2f} s, "
            f"render_report {t3 - report_t0:.2f} s, report.html {len(page) / 1e6:.2f} MB"
        )
