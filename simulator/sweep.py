"""Parameter sweeps: every combination of parameter values times seeds, run in parallel.

Rules kept here:
1. A sweep is the cartesian product of the parameter values (in the order given) times
   ``seeds`` seeds: scenario seed + k for k = 0 .. seeds - 1. Each job calls ``run`` once with
   its own Scenario and gets back a metrics dict.
2. Every job's scenario is built and checked (scenario.apply_override) before any job starts,
   so a bad ``--param`` fails at once with the key named.
3. Jobs run in local worker processes (spawned, so ``run`` and the scenario must pickle: ``run``
   is a module-level function) or, given ``scheduler="tcp://host:port"``, on Dask distributed
   through its concurrent.futures executor. We write no scheduler of our own.
4. Results do not depend on where or in which order jobs ran: rows follow the combination
   order and every statistic is computed from the runs in seed order.
5. Per combination, for every numeric metric: mean, sample standard deviation, n and a 95 %
   Student t confidence interval (scipy's t quantile when scipy is installed, else a table
   for n <= 30 and 1.96 beyond). None and NaN values are skipped; with n < 2 the standard
   deviation and the interval are None. true counts as 1, false as 0.
6. A failed job stops the sweep with SweepError naming its parameters and seed; the jobs not
   yet started are cancelled.
7. Each run is handed to ``finished`` as soon as it is back (in the order runs finish, each
   with its parameters and seed), so a caller can keep every finished run of a sweep that
   then fails or is interrupted.
"""

from __future__ import annotations

import csv
import importlib
import itertools
import json
import math
import multiprocessing
import os
import statistics
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed
from concurrent.futures import TimeoutError as FuturesTimeoutError
from dataclasses import dataclass
from typing import Any

from .scenario import Scenario, apply_override, scenario_value

Metrics = dict[str, float | int | None]
RunFunction = Callable[[Scenario], Metrics]

# Two-sided 95 % Student t quantiles t(0.975, df) for df = 1 .. 29 (n = 2 .. 30).
_T95 = (12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
        2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
        2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452)
_Z95 = 1.96
STAT_SUFFIXES = ("mean", "std", "n", "ci_low", "ci_high")


class SweepError(Exception):
    """A sweep could not run or one of its jobs failed; str(e) says which and why."""


@dataclass(frozen=True)
class SweepJob:
    """One run: a combination of parameter values (typed, in parameter order) and a seed."""

    index: int
    combination: int
    params: tuple[tuple[str, Any], ...]
    seed: int
    scenario: Scenario

    def describe(self) -> str:
        given = ", ".join(f"{name}={value}" for name, value in self.params)
        return f"{given + ', ' if given else ''}seed {self.seed}"


@dataclass
class SweepResult:
    """``rows``: one dict per combination (parameter values, ``runs``, and for every metric
    ``<metric>_mean``, ``_std``, ``_n``, ``_ci_low``, ``_ci_high``); ``runs``: one dict per job
    (parameter values, ``seed`` and the metrics it returned)."""

    param_names: tuple[str, ...]
    seeds: int
    rows: list[dict[str, Any]]
    runs: list[dict[str, Any]]

    def to_csv(self, path: str) -> None:
        """The rows as CSV, one line per combination; None is written as an empty field."""
        columns: dict[str, None] = {}
        for row in self.rows:
            columns.update(dict.fromkeys(row))
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(columns), restval="")
            writer.writeheader()
            for row in self.rows:
                writer.writerow({k: "" if v is None else v for k, v in row.items()})

    def summary(self, metrics: Sequence[str]) -> list[str]:
        """Lines for a terminal: per combination its parameter values and runs, then each of
        ``metrics`` that the sweep measured, as mean ± the 95 % interval's half-width (the
        mean alone with one value, n/a with none)."""
        shown = [m for m in metrics if any(f"{m}_mean" in row for row in self.rows)]
        width = max((len(m) for m in shown), default=0)
        lines = []
        for row in self.rows:
            given = ", ".join(f"{name}={row[name]}" for name in self.param_names)
            runs = row["runs"]
            lines.append(f"{given or 'as written'} ({runs} run{'' if runs == 1 else 's'})")
            for m in shown:
                mean, low, high = row.get(f"{m}_mean"), row.get(f"{m}_ci_low"), row.get(
                    f"{m}_ci_high")
                if mean is None:
                    text = "n/a"
                elif low is None or high is None:
                    text = f"{mean:.4g}"
                else:
                    text = f"{mean:.4g} ± {(high - low) / 2:.2g}"
                lines.append(f"  {m:<{width}}  {text}")
        return lines

    def to_json(self, path: str) -> None:
        """Rows and runs as JSON (non-finite numbers written as null)."""
        doc = {"params": list(self.param_names), "seeds": self.seeds,
               "rows": [finite_row(row) for row in self.rows],
               "runs": [finite_row(run) for run in self.runs]}
        with open(path, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=2, allow_nan=False)
            f.write("\n")


def finite_row(row: dict[str, Any]) -> dict[str, Any]:
    """The row with non-finite numbers as None, ready for strict JSON."""
    return {k: None if isinstance(v, float) and not math.isfinite(v) else v
            for k, v in row.items()}


# -- planning --------------------------------------------------------------------------------

def parse_params(texts: Sequence[str]) -> dict[str, list[str]]:
    """``["radio.range_m=40,50,60", "core.mtu=200"]`` -> {"radio.range_m": ["40", "50", "60"],
    "core.mtu": ["200"]}; raises SweepError for a malformed or repeated parameter."""
    params: dict[str, list[str]] = {}
    for text in texts:
        name, equals, values = text.partition("=")
        name = name.strip()
        items = [v.strip() for v in values.split(",")]
        if not equals or not name or not all(items):
            raise SweepError(f"--param {text}: expected KEY=VALUE[,VALUE...], such as "
                             "radio.range_m=40,50,60")
        if name in params:
            raise SweepError(f"--param {text}: {name} is already swept")
        params[name] = items
    return params


def plan_sweep(scenario: Scenario, params: dict[str, list[str]], seeds: int) -> list[SweepJob]:
    """Every job of the sweep in order (combination by combination, then seed), each scenario
    checked; raises ScenarioError for a bad parameter and SweepError for bad counts."""
    if seeds < 1:
        raise SweepError(f"seeds: expected at least 1, got {seeds}")
    for name, values in params.items():
        if not values:
            raise SweepError(f"--param {name}: no values given")
    names = list(params)
    jobs: list[SweepJob] = []
    for combination, chosen in enumerate(itertools.product(*(params[n] for n in names))):
        overridden = scenario
        for name, value in zip(names, chosen, strict=True):
            overridden = apply_override(overridden, name, value)
        typed = tuple((name, scenario_value(overridden, name)) for name in names)
        for k in range(seeds):
            seed = overridden.scenario.seed + k
            jobs.append(SweepJob(len(jobs), combination, typed, seed, overridden.with_seed(seed)))
    return jobs


# -- running ---------------------------------------------------------------------------------

def run_sweep(scenario: Scenario, params: dict[str, list[str]], seeds: int,
              run: RunFunction, scheduler: str | None = None, workers: int | None = None,
              progress: Callable[[int, int], None] | None = None,
              timeout_s: float | None = None,
              finished: Callable[[dict[str, Any]], None] | None = None) -> SweepResult:
    """Run ``run`` on every combination of ``params`` values times ``seeds`` seeds and
    aggregate the metrics per combination.

    ``scheduler`` None runs ``workers`` local processes (default: one per CPU, at most one per
    job); "tcp://host:port" runs on that Dask distributed scheduler (``workers`` is then
    ignored). ``progress(done, total)`` is called as jobs finish, and ``finished(run)`` with
    each finished run (rule 7); ``timeout_s`` bounds the whole sweep."""
    jobs = plan_sweep(scenario, params, seeds)
    metrics = _execute(jobs, run, scheduler, workers, progress, timeout_s, finished)
    runs = [_run_row(job, result) for job, result in zip(jobs, metrics, strict=True)]
    rows: list[dict[str, Any]] = []
    for _, group in itertools.groupby(zip(jobs, metrics, strict=True),
                                      key=lambda pair: pair[0].combination):
        pairs = list(group)
        rows.append({**dict(pairs[0][0].params), "runs": len(pairs),
                     **aggregate([result for _, result in pairs])})
    return SweepResult(tuple(params), seeds, rows, runs)


def _run_row(job: SweepJob, result: Metrics) -> dict[str, Any]:
    return {**dict(job.params), "seed": job.seed, **result}


def _execute(jobs: list[SweepJob], run: RunFunction, scheduler: str | None,
             workers: int | None, progress: Callable[[int, int], None] | None,
             timeout_s: float | None,
             finished: Callable[[dict[str, Any]], None] | None) -> list[Metrics]:
    results: list[Metrics | None] = [None] * len(jobs)
    executor, close = _open_executor(scheduler, workers, len(jobs), timeout_s)
    futures: dict[Future[Metrics], SweepJob] = {}
    try:
        for job in jobs:
            futures[executor.submit(run, job.scenario)] = job
        if progress is not None:
            progress(0, len(jobs))
        for done, future in enumerate(as_completed(futures, timeout=timeout_s), 1):
            job = futures[future]
            try:
                result = future.result()
            except Exception as e:  # the run's own failure, reported with its job
                raise SweepError(f"run {job.describe()} failed: {type(e).__name__}: {e}") from e
            if not isinstance(result, dict):
                raise SweepError(f"run {job.describe()} returned {type(result).__name__}, "
                                 "expected a dict of metrics")
            results[job.index] = result
            if finished is not None:
                finished(_run_row(job, result))
            if progress is not None:
                progress(done, len(jobs))
    except FuturesTimeoutError:
        _abandon(executor, futures)
        raise SweepError(f"the sweep did not finish within {timeout_s:g} s") from None
    except BaseException:
        _abandon(executor, futures)
        raise
    else:
        executor.shutdown(wait=True)
    finally:
        close()
    return [result for result in results if result is not None]


def _abandon(executor: Executor, futures: dict[Future[Metrics], SweepJob]) -> None:
    for future in futures:
        future.cancel()
    executor.shutdown(wait=False)


def _open_executor(scheduler: str | None, workers: int | None, jobs: int,
                   timeout_s: float | None) -> tuple[Executor, Callable[[], None]]:
    """The executor to run on and what closes its connection afterwards."""
    if scheduler is None:
        count = min(workers or os.cpu_count() or 1, max(jobs, 1))
        if count < 1:
            raise SweepError(f"workers: expected at least 1, got {workers}")
        pool = ProcessPoolExecutor(max_workers=count,
                                   mp_context=multiprocessing.get_context("spawn"))
        return pool, lambda: None
    try:
        distributed = importlib.import_module("distributed")
    except ImportError:
        raise SweepError(f"--scheduler {scheduler}: needs Dask distributed "
                         '(pip install "dask[distributed]")') from None
    try:
        connect = {} if timeout_s is None else {"timeout": timeout_s}
        client = distributed.Client(scheduler, set_as_default=False, **connect)
    except (OSError, TimeoutError, ValueError) as e:
        raise SweepError(f"--scheduler {scheduler}: cannot reach the Dask scheduler: "
                         f"{e}") from None
    executor: Executor = client.get_executor(pure=False)
    close: Callable[[], None] = client.close
    return executor, close


# -- statistics ------------------------------------------------------------------------------

def t_quantile_95(df: int) -> float:
    """The two-sided 95 % Student t quantile t(0.975, df) (scipy's when installed)."""
    try:
        stats = importlib.import_module("scipy.stats")
    except ImportError:
        return _T95[df - 1] if df <= len(_T95) else _Z95
    return float(stats.t.ppf(0.975, df))


def summarize(values: Sequence[float]) -> tuple[float | None, float | None, int,
                                                  float | None, float | None]:
    """(mean, sample standard deviation, n, ci_low, ci_high) of ``values``, with a 95 %
    Student t interval; mean is None when n = 0, the rest when n < 2."""
    n = len(values)
    if n == 0:
        return None, None, 0, None, None
    mean = statistics.fmean(values)
    if n < 2:
        return mean, None, 1, None, None
    std = statistics.stdev(values)
    half = t_quantile_95(n - 1) * std / math.sqrt(n)
    return mean, std, n, mean - half, mean + half


def aggregate(results: Sequence[Metrics]) -> dict[str, float | int | None]:
    """For every numeric metric of ``results`` (in first-seen order) its ``_mean``, ``_std``,
    ``_n``, ``_ci_low`` and ``_ci_high``; None and NaN values are skipped."""
    names: dict[str, None] = {}
    for result in results:
        names.update((k, None) for k, v in result.items()
                     if v is None or isinstance(v, int | float))
    row: dict[str, float | int | None] = {}
    for name in names:
        numbers = (_number(r.get(name)) for r in results)
        values = [v for v in numbers if v is not None]
        for suffix, stat in zip(STAT_SUFFIXES, summarize(values), strict=True):
            row[f"{name}_{suffix}"] = stat
    return row


def _number(value: object) -> float | None:
    """A metric value as a float, or None when it is missing, NaN or not a number."""
    if not isinstance(value, int | float) or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value)
