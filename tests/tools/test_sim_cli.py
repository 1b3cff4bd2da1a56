"""`meshbulb sim` as a user runs it: a tiny scenario end to end, its files, and its errors."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

MESHBULB = str(Path(sys.executable).parent / "meshbulb")
TINY = """
[scenario]
name = "tiny"
seed = 5
duration_s = 90
warmup_s = 30

[layout]
kind = "grid"
nodes = 64

[gateways]
count = 2

[[churn.gateway_failure]]
at_s = 50
duration_s = 20
gateway = 0
"""


def test_sim_run_writes_metrics_csv_and_a_report(tmp_path: Path) -> None:
    scenario = tmp_path / "tiny.toml"
    scenario.write_text(TINY)
    out = tmp_path / "out"
    proc = subprocess.run([MESHBULB, "sim", "run", str(scenario), "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["nodes"] == 64 and metrics["gateways"] == 2 and metrics["loops"] == 0
    assert metrics["delivery_ratio_gateway"] > 0.9
    assert metrics["failover_s"] is not None
    for name in ("report.html", "timeline.csv", "nodes.csv", "latencies.csv"):
        assert (out / name).stat().st_size > 0, name
    assert "uplink fails" in (out / "report.html").read_text()


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two cores for two workers")
def test_sim_run_on_two_workers_says_so(tmp_path: Path) -> None:
    scenario = tmp_path / "tiny.toml"
    scenario.write_text(TINY)
    out = tmp_path / "out"
    proc = subprocess.run([MESHBULB, "sim", "run", str(scenario), "--out", str(out),
                           "--workers", "2"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["workers"] == 2 and metrics["nodes"] == 64 and metrics["loops"] == 0
    assert metrics["delivery_ratio_gateway"] > 0.9 and metrics["failover_s"] is not None
    # Asked to choose, a run this small stays on one worker: a split would cost it more.
    proc = subprocess.run([MESHBULB, "sim", "run", str(scenario), "--out", str(out),
                           "--workers", "auto"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((out / "metrics.json").read_text())["workers"] == 1


def test_sim_bench_takes_as_many_workers_as_the_city_gains_from() -> None:
    cores = len(os.sched_getaffinity(0))
    for nodes, asked, expected in (("100", [], 1), ("2000", [], min(2, cores)),
                                   ("2000", ["--workers", "auto"], min(2, cores)),
                                   ("2000", ["--workers", "1"], 1)):
        proc = subprocess.run([MESHBULB, "sim", "bench", "--nodes", nodes, "--minutes", "0.05",
                               *asked, "--json"], capture_output=True, text=True, timeout=300,
                              env={**os.environ, "MESHBULB_SIM_PYTHON": "self"})
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout.strip().splitlines()[-1])["workers"] == expected, nodes


def test_sim_refuses_workers_it_has_no_cores_for() -> None:
    cores = len(os.sched_getaffinity(0))
    for workers in ("0", str(cores + 1), "two"):
        proc = subprocess.run([MESHBULB, "sim", "bench", "--nodes", "100", "--workers", workers],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode != 0 and "--workers" in proc.stderr, workers
        assert "Traceback" not in proc.stderr


def test_sim_errors_name_the_problem(tmp_path: Path) -> None:
    scenario = tmp_path / "typo.toml"
    scenario.write_text(TINY.replace("duration_s", "durration_s"))
    proc = subprocess.run([MESHBULB, "sim", "run", str(scenario)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 1 and "duration_s" in proc.stderr
    city = Path(__file__).resolve().parents[2] / "simulator" / "scenarios" / "city.toml"
    proc = subprocess.run([MESHBULB, "sim", "run", str(city)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 1 and "--osm" in proc.stderr


def test_an_interpreter_that_is_not_there_is_named_without_a_traceback(tmp_path: Path) -> None:
    scenario = tmp_path / "tiny.toml"
    scenario.write_text(TINY)
    env = {**os.environ, "MESHBULB_SIM_PYTHON": str(tmp_path / "no-python")}
    for command in (["run", str(scenario), "--out", str(tmp_path / "out")],
                    ["bench", "--nodes", "100", "--minutes", "0.1"]):
        proc = subprocess.run([MESHBULB, "sim", *command], capture_output=True, text=True,
                              timeout=60, env=env)
        assert proc.returncode == 1, command
        assert "MESHBULB_SIM_PYTHON=" in proc.stderr and "no-python" in proc.stderr
        assert "Traceback" not in proc.stderr


def test_a_sweep_writes_its_tables_into_a_folder_it_creates(tmp_path: Path) -> None:
    scenario = tmp_path / "tiny.toml"
    scenario.write_text(TINY)
    out = tmp_path / "not" / "there" / "yet"
    proc = subprocess.run([MESHBULB, "sim", "sweep", str(scenario), "--param",
                           "radio.range_m=40,50", "--seeds", "2", "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    with open(out / "sweep.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [float(row["radio.range_m"]) for row in rows] == [40, 50]
    assert all(row["runs"] == "2" and row["nodes_mean"] == "64.0" for row in rows)
    doc = json.loads((out / "sweep.json").read_text())
    assert len(doc["runs"]) == 4 and {run["seed"] for run in doc["runs"]} == {5, 6}
    # Each run was also kept as it finished (in the order they finished).
    kept = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    assert sorted(kept, key=json.dumps) == sorted(doc["runs"], key=json.dumps)
    assert f"2 combinations x 2 seeds: {out / 'sweep.csv'}" in proc.stdout
    # ... and prints the headline metrics of each combination, with their intervals.
    lines = proc.stdout.splitlines()
    first = lines.index("radio.range_m=40.0 (2 runs)")
    delivery = lines[first + 1].split()
    assert delivery[0] == "delivery_ratio_gateway" and delivery[2] == "±"
    assert float(delivery[1]) == pytest.approx(float(rows[0]["delivery_ratio_gateway_mean"]),
                                               abs=1e-3)
    assert "radio.range_m=50.0 (2 runs)" in lines


def test_a_sweep_over_a_mistyped_setting_names_it_without_a_traceback(tmp_path: Path) -> None:
    scenario = tmp_path / "tiny.toml"
    scenario.write_text(TINY)
    proc = subprocess.run([MESHBULB, "sim", "sweep", str(scenario), "--param", "radio.rnge_m=40",
                           "--seeds", "1", "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "radio.rnge_m: unknown key; did you mean 'range_m'?" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_an_output_folder_that_cannot_be_written_is_refused_before_the_run(
        tmp_path: Path) -> None:
    scenario = tmp_path / "tiny.toml"
    scenario.write_text(TINY)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    sweep = ["sweep", str(scenario), "--param", "radio.range_m=40"]
    for command in (["run", str(scenario)], sweep):
        proc = subprocess.run([MESHBULB, "sim", *command, "--out", str(blocker / "out")],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr
        assert f"--out {blocker / 'out'}: cannot write results there" in proc.stderr
        assert "sim tiny" not in proc.stderr  # no progress bar: the run never started


def test_sim_bench_prints_its_figures() -> None:
    proc = subprocess.run([MESHBULB, "sim", "bench", "--nodes", "100", "--minutes", "1",
                           "--json"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    assert figures["nodes"] == 100 and figures["minutes"] == 1 and figures["workers"] == 1
    assert figures["delivery_ratio_gateway"] > 0.9
    assert 0 < figures["control_bytes_per_node_s"] <= 30
    # Every bulb hears a few neighbours' HELLOs and route updates each minute.
    assert figures["receptions_per_bulb_minute"] > 10
    assert figures["wall_us_per_reception"] > 0 and figures["peak_rss_mb"] > 0
    assert figures["python"].startswith("CPython 3.")  # which interpreter: builds differ
    assert figures["frame_processing_us"] > 0  # which bulb model: a bulb's CPU time per frame
    # The machine's speed around the run: a million additions take milliseconds, not none.
    assert 1 < figures["reference_loop_ms_before"] < 10_000
    assert 1 < figures["reference_loop_ms_after"] < 10_000


def test_sim_bench_refuses_a_city_too_small() -> None:
    for nodes in ("5", "100,5", "100,abc"):
        proc = subprocess.run([MESHBULB, "sim", "bench", "--nodes", nodes], capture_output=True,
                              text=True, timeout=60)
        assert proc.returncode != 0 and "--nodes" in proc.stderr and "Traceback" not in proc.stderr


def test_sim_bench_compares_sizes_each_in_a_process_of_its_own() -> None:
    proc = subprocess.run([MESHBULB, "sim", "bench", "--nodes", "100,200", "--minutes", "0.5",
                           "--json"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    runs = json.loads(proc.stdout.strip().splitlines()[-1])["runs"]
    assert [run["nodes"] for run in runs] == [100, 200]
    first, second = runs
    assert first["cost_vs_first"] == 1.0 and first["control_vs_first"] == 1.0
    assert second["cost_vs_first"] == round(
        second["wall_us_per_bulb_minute"] / first["wall_us_per_bulb_minute"], 2)
    assert second["control_vs_first"] == round(
        second["control_bytes_per_node_s"] / first["control_bytes_per_node_s"], 2)
    assert all(run["delivery_ratio_gateway"] > 0.9 and run["peak_rss_mb"] > 0 for run in runs)
    # Half a minute has no minute after the first: no figure for it, rather than a wrong one.
    assert all(run["after_first_minute_us_per_bulb_minute"] is None for run in runs)
    assert all(run["workers"] == 1 for run in runs)  # auto: too small to split
    # Every size is simulated on the same interpreter, so that the ratios compare like with like.
    assert len({run["simulation_python"] for run in runs}) == 1

    # A run too short to count a packet has no delivery ratio: the table shows a dash.
    proc = subprocess.run([MESHBULB, "sim", "bench", "--nodes", "20,40", "--minutes", "0.02"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    interpreter, _, header, *rows = proc.stdout.strip().splitlines()
    assert interpreter.startswith("on CPython 3.") and "simulated on" in interpreter
    assert "delivery" in header and [row.split()[0] for row in rows] == ["20", "40"]
    assert all(row.split()[1] == "1" for row in rows)  # workers
    assert all(row.split()[9] == "-" for row in rows)
    assert all(row.split()[5] == "-" for row in rows)  # nothing after the first minute


def test_sim_bench_costs_the_minutes_after_the_first_apart() -> None:
    proc = subprocess.run([MESHBULB, "sim", "bench", "--nodes", "100", "--minutes", "2",
                           "--json"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    # The second minute alone (100 bulb-minutes): some time, and less than the whole run took.
    after_first_us = figures["after_first_minute_us_per_bulb_minute"]
    assert 0 < after_first_us * 100 < figures["wall_s"] * 1e6


def test_sim_bench_sizes_refuse_an_interpreter_that_is_not_there(tmp_path: Path) -> None:
    env = {**os.environ, "MESHBULB_SIM_PYTHON": str(tmp_path / "python")}
    proc = subprocess.run([MESHBULB, "sim", "bench", "--nodes", "20,40", "--minutes", "0.02"],
                          capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 1 and "MESHBULB_SIM_PYTHON" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
