"""Sweeps: planning, statistics checked by hand, local worker processes, and Dask distributed
on a LocalCluster giving the same numbers. The runs are sweep_fakes functions whose metrics
depend only on the parameters and the seed."""

from __future__ import annotations

import csv
import importlib
import json
import math
import os
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from meshbulb_sim.scenario import ScenarioError, load_scenario, parse_scenario
from meshbulb_sim.sweep import (
    SweepError,
    SweepResult,
    aggregate,
    parse_params,
    plan_sweep,
    run_sweep,
    summarize,
    t_quantile_95,
)

CI = Path(__file__).parents[2] / "simulator" / "scenarios" / "ci.toml"
PARAMS = {"radio.range_m": ["40", "60"], "radio.retries": ["1", "2"]}
T95_DF2 = 4.302653  # t(0.975, 2)
T95_DF1 = 12.706205  # t(0.975, 1)

SCENARIO = """
[scenario]
name = "sweep"
seed = 1
duration_s = 60

[layout]
kind = "grid"
nodes = 16
"""


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """sweep_fakes, importable by name here and in the worker processes started meanwhile
    (spawned processes and Dask's nannies copy this process's sys.path)."""
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    return importlib.import_module("sweep_fakes")


def expected_rows() -> list[dict[str, Any]]:
    """The aggregates of sweep_fakes.fake_run over PARAMS and seeds 1, 2, 3, by hand."""
    rows = []
    for range_m in (40.0, 60.0):
        for retries in (1, 2):
            half_score = T95_DF2 * 1 / math.sqrt(3)  # score = range + 1, 2, 3: std 1
            half_hops = T95_DF2 * retries / math.sqrt(3)  # hops = retries * 1, 2, 3
            half_odd = T95_DF1 * math.sqrt(2) / math.sqrt(2)  # odd_only = 1, 3: std sqrt 2
            rows.append({
                "radio.range_m": range_m, "radio.retries": retries, "runs": 3,
                "score_mean": range_m + 2, "score_std": 1.0, "score_n": 3,
                "score_ci_low": range_m + 2 - half_score, "score_ci_high": range_m + 2 + half_score,
                "hops_mean": 2.0 * retries, "hops_std": float(retries), "hops_n": 3,
                "hops_ci_low": 2.0 * retries - half_hops, "hops_ci_high": 2.0 * retries + half_hops,
                "odd_only_mean": 2.0, "odd_only_std": math.sqrt(2), "odd_only_n": 2,
                "odd_only_ci_low": 2 - half_odd, "odd_only_ci_high": 2 + half_odd,
                "ok_mean": 2 / 3, "ok_std": math.sqrt(1 / 3), "ok_n": 3,
                "ok_ci_low": 2 / 3 - T95_DF2 * math.sqrt(1 / 3) / math.sqrt(3),
                "ok_ci_high": 2 / 3 + T95_DF2 * math.sqrt(1 / 3) / math.sqrt(3),
                "never_mean": None, "never_std": None, "never_n": 0,
                "never_ci_low": None, "never_ci_high": None,
            })
    return rows


def assert_rows_match(rows: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    assert len(rows) == len(expected)
    for row, want in zip(rows, expected, strict=True):
        assert list(row) == list(want)  # same columns in the same order
        for key, value in want.items():
            if isinstance(value, float):
                assert row[key] == pytest.approx(value, rel=1e-5), key
            else:
                assert row[key] == value and type(row[key]) is type(value), key


# -- planning and statistics -----------------------------------------------------------------

def test_parse_params() -> None:
    assert parse_params(["radio.range_m=40,50, 60", "core.mtu=200"]) == {
        "radio.range_m": ["40", "50", "60"], "core.mtu": ["200"]}
    for bad in (["radio.range_m"], ["=4"], ["radio.range_m=4,,5"]):
        with pytest.raises(SweepError, match="expected KEY=VALUE"):
            parse_params(bad)
    with pytest.raises(SweepError, match="already swept"):
        parse_params(["core.mtu=200", "core.mtu=300"])


def test_plan_is_the_cartesian_product_times_seeds() -> None:
    jobs = plan_sweep(parse_scenario(SCENARIO), PARAMS, seeds=3)
    assert len(jobs) == 12
    assert [(j.params, j.seed) for j in jobs[:4]] == [
        ((("radio.range_m", 40.0), ("radio.retries", 1)), 1),
        ((("radio.range_m", 40.0), ("radio.retries", 1)), 2),
        ((("radio.range_m", 40.0), ("radio.retries", 1)), 3),
        ((("radio.range_m", 40.0), ("radio.retries", 2)), 1),
    ]
    last = jobs[-1].scenario
    assert (last.radio.range_m, last.radio.retries, last.scenario.seed) == (60.0, 2, 3)
    assert [j.combination for j in jobs] == [0] * 3 + [1] * 3 + [2] * 3 + [3] * 3


def test_plan_checks_every_value_before_running() -> None:
    with pytest.raises(ScenarioError, match=r"radio.range_m: expected a number greater than 0"):
        plan_sweep(parse_scenario(SCENARIO), {"radio.range_m": ["40", "-1"]}, seeds=1)
    with pytest.raises(ScenarioError, match="unknown key; did you mean 'range_m'"):
        plan_sweep(parse_scenario(SCENARIO), {"radio.rnage_m": ["40"]}, seeds=1)
    with pytest.raises(SweepError, match="seeds: expected at least 1"):
        plan_sweep(parse_scenario(SCENARIO), {}, seeds=0)


def test_t_quantile() -> None:
    assert t_quantile_95(1) == pytest.approx(T95_DF1, rel=1e-4)
    assert t_quantile_95(2) == pytest.approx(T95_DF2, rel=1e-4)
    assert t_quantile_95(29) == pytest.approx(2.0452, rel=1e-3)
    assert 1.95 < t_quantile_95(1000) < 1.97


def test_t_table_without_scipy(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = importlib.import_module

    def no_scipy(name: str, package: str | None = None) -> ModuleType:
        if name.startswith("scipy"):
            raise ImportError(name)
        return real_import(name, package)

    monkeypatch.setattr(importlib, "import_module", no_scipy)
    assert t_quantile_95(2) == 4.3027
    assert t_quantile_95(29) == 2.0452
    assert t_quantile_95(30) == 1.96  # n = 31 > 30


def test_summarize_and_aggregate() -> None:
    assert summarize([]) == (None, None, 0, None, None)
    assert summarize([5.0]) == (5.0, None, 1, None, None)
    mean, std, n, low, high = summarize([1.0, 2.0, 3.0])
    assert (mean, std, n) == (2.0, 1.0, 3)
    assert low == pytest.approx(2 - T95_DF2 / math.sqrt(3), rel=1e-5)
    assert high == pytest.approx(2 + T95_DF2 / math.sqrt(3), rel=1e-5)
    row = aggregate([{"a": 1, "b": None, "c": "text"},  # type: ignore[dict-item]
                     {"a": 3, "b": float("nan")}])
    assert row == {"a_mean": 2.0, "a_std": math.sqrt(2), "a_n": 2,
                   "a_ci_low": pytest.approx(2 - T95_DF1), "a_ci_high": pytest.approx(2 + T95_DF1),
                   "b_mean": None, "b_std": None, "b_n": 0, "b_ci_low": None, "b_ci_high": None}


# -- local worker processes ------------------------------------------------------------------

def test_local_sweep_aggregates_by_hand(fakes: ModuleType, tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    result = run_sweep(load_scenario(str(CI)), PARAMS, seeds=3, run=fakes.fake_run, workers=3,
                       progress=lambda done, total: seen.append((done, total)))
    assert_rows_match(result.rows, expected_rows())
    assert seen == [(k, 12) for k in range(13)]
    assert result.param_names == ("radio.range_m", "radio.retries") and result.seeds == 3
    assert len(result.runs) == 12
    assert result.runs[4] == {"radio.range_m": 40.0, "radio.retries": 2, "seed": 2,
                              "score": 42.0, "hops": 4, "odd_only": None, "ok": False,
                              "never": None}

    result.to_json(str(tmp_path / "sweep.json"))
    doc = json.loads((tmp_path / "sweep.json").read_text())
    assert doc["params"] == ["radio.range_m", "radio.retries"] and doc["seeds"] == 3
    assert doc["rows"][0]["score_mean"] == pytest.approx(42.0) and len(doc["runs"]) == 12

    result.to_csv(str(tmp_path / "sweep.csv"))
    with open(tmp_path / "sweep.csv", newline="") as f:
        lines = list(csv.DictReader(f))
    assert len(lines) == 4 and list(lines[0])[:3] == ["radio.range_m", "radio.retries", "runs"]
    assert float(lines[3]["score_mean"]) == pytest.approx(62.0)
    assert lines[0]["never_mean"] == "" and lines[0]["never_n"] == "0"

    # What `meshbulb sim sweep` prints: score = range + 1, 2, 3, so 42 ± t(0.975, 2)/sqrt(3).
    summary = result.summary(["score", "never", "not_measured"])
    assert summary[:3] == ["radio.range_m=40.0, radio.retries=1 (3 runs)",
                           "  score  42 ± 2.5", "  never  n/a"]
    assert len(summary) == 12 and summary[9] == "radio.range_m=60.0, radio.retries=2 (3 runs)"


def test_a_summary_of_one_seed_gives_the_value_alone() -> None:
    result = SweepResult((), 1, [{"runs": 1, **aggregate([{"delivery": 0.98765}])}], [])
    assert result.summary(["delivery"]) == ["as written (1 run)", "  delivery  0.9877"]


def test_local_sweep_runs_in_other_processes(fakes: ModuleType) -> None:
    result = run_sweep(parse_scenario(SCENARIO), {}, seeds=4, run=fakes.pid_run, workers=2)
    assert len(result.rows) == 1 and result.rows[0]["runs"] == 4
    assert os.getpid() not in {run["pid"] for run in result.runs}


def test_failed_run_names_its_job(fakes: ModuleType) -> None:
    with pytest.raises(SweepError, match=r"run radio.range_m=60.0, seed \d failed: "
                                         "RuntimeError: radio model exploded"):
        run_sweep(parse_scenario(SCENARIO), {"radio.range_m": ["40", "60"]}, seeds=2,
                  run=fakes.failing_run, workers=2)
    # Runs that finished before the failure were handed over as they came back (rule 7):
    # with one worker, both 40 m runs come back before the first 60 m run fails.
    kept: list[dict[str, Any]] = []
    with pytest.raises(SweepError, match="radio model exploded"):
        run_sweep(parse_scenario(SCENARIO), {"radio.range_m": ["40", "60"]}, seeds=2,
                  run=fakes.failing_run, workers=1, finished=kept.append)
    assert [(run["radio.range_m"], run["seed"]) for run in kept] == [(40.0, 1), (40.0, 2)]
    assert kept[0]["score"] == 41.0  # fake_run's metrics, with the job's parameters and seed


def test_unreachable_scheduler() -> None:
    with pytest.raises(SweepError, match="cannot reach the Dask scheduler"):
        run_sweep(parse_scenario(SCENARIO), {}, seeds=1, run=print,  # type: ignore[arg-type]
                  scheduler="tcp://127.0.0.1:1", timeout_s=2)


# -- Dask distributed ------------------------------------------------------------------------

@pytest.fixture
def dask_scheduler(fakes: ModuleType) -> Iterator[str]:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None, host="127.0.0.1") as cluster:
        yield cluster.scheduler_address


def test_dask_sweep_gives_the_same_numbers(fakes: ModuleType, dask_scheduler: str) -> None:
    started = time.monotonic()
    result = run_sweep(load_scenario(str(CI)), PARAMS, seeds=3, run=fakes.fake_run,
                       scheduler=dask_scheduler, timeout_s=25)
    assert time.monotonic() - started < 25
    assert_rows_match(result.rows, expected_rows())
    assert [run["seed"] for run in result.runs] == [1, 2, 3] * 4
    pids = run_sweep(parse_scenario(SCENARIO), {}, seeds=4, run=fakes.pid_run,
                     scheduler=dask_scheduler, timeout_s=25)
    assert os.getpid() not in {run["pid"] for run in pids.runs}  # ran on the Dask workers
