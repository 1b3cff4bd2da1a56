"""`meshbulb sim run|bench|sweep`: the city simulator from the command line."""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from .errors import ToolError
from .hugepages import heap_in_use

# The metrics a sweep prints per combination (every metric is in sweep.csv and sweep.json).
SWEEP_SUMMARY = ("delivery_ratio_gateway", "delivery_ratio_p2p", "delivery_ratio_group",
                 "latency_ms_p50", "latency_ms_p95", "stretch_vs_oracle",
                 "control_bytes_per_node_s", "rx_dropped_per_node_min", "convergence_s",
                 "failover_s", "recovery_s", "wall_s")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="sim_command", required=True, metavar="ACTION")
    run = sub.add_parser("run", help="simulate one scenario and write metrics and a report")
    run.add_argument("scenario", metavar="SCENARIO.toml")
    run.add_argument("--out", default="out/sim", metavar="DIR")
    run.add_argument("--seed", type=int)
    run.add_argument("--osm", metavar="FILE", help="OpenStreetMap extract for kind = osm")
    run.add_argument("--workers", type=_workers, default=1, metavar="N|auto",
                     help=_WORKERS_HELP + " (default 1: the exact run; docs/simulator.md says "
                     "what a split changes)")
    bench = sub.add_parser("bench", help="wall time and overhead of a synthetic city")
    bench.add_argument("--nodes", type=_node_counts, default=[1000], metavar="N[,N...]",
                       help="bulbs; several sizes run one after another, each in a process of "
                       "its own, and their cost per bulb-minute is compared with the first's")
    bench.add_argument("--minutes", type=float, default=10.0)
    bench.add_argument("--seed", type=int, default=1)
    bench.add_argument("--workers", type=_workers, default=None, metavar="N|auto",
                       help=_WORKERS_HELP + " (default auto)")
    bench.add_argument("--json", action="store_true")
    sweep = sub.add_parser("sweep", help="run a scenario over parameter values and seeds")
    sweep.add_argument("scenario", metavar="SCENARIO.toml")
    sweep.add_argument("--param", action="append", default=[], metavar="KEY=V1,V2,...")
    sweep.add_argument("--seeds", type=int, default=3)
    sweep.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="a Dask scheduler")
    sweep.add_argument("--out", default="out/sweep", metavar="DIR")
    sweep.add_argument("--osm", metavar="FILE")


_WORKERS_HELP = ("processes to split the city between, one per core; auto: as many as the "
                 "city gains from")
AUTO = "auto"


def _workers(text: str) -> int | None:
    """A number of workers, or None for auto (parallel.py rule 7)."""
    from meshbulb_sim.parallel import usable_workers

    if text == AUTO:
        return None
    try:
        workers = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number of processes or {AUTO!r}, got {text!r}") from None
    cores = usable_workers()
    if not 1 <= workers <= cores:
        raise argparse.ArgumentTypeError(
            f"{workers}: between 1 and {cores}, the cores this machine lets the run use (each "
            "worker keeps a core busy while it waits for the others)")
    return workers


def _node_counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number of bulbs or several separated by commas, got {text!r}") from None
    if any(n < 10 for n in counts):
        raise argparse.ArgumentTypeError(f"every size must be at least 10 bulbs, got {text!r}")
    return counts


class _Progress:
    """A progress bar on stderr for runs that take more than a few seconds."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.started = time.monotonic()
        self.shown = False

    def __call__(self, fraction: float) -> None:
        elapsed = time.monotonic() - self.started
        if elapsed < 3 and not self.shown:
            return
        self.shown = True
        filled = int(30 * min(1.0, fraction))
        print(f"\r{self.label} [{'#' * filled}{'.' * (30 - filled)}] {fraction:4.0%} "
              f"{elapsed:5.0f} s", end="", file=sys.stderr, flush=True)

    def done(self) -> None:
        if self.shown:
            print(file=sys.stderr)
            self.shown = False  # the line is ended: a second call prints nothing


def _load(path: str, osm: str | None, seed: int | None) -> Any:
    from meshbulb_sim.scenario import ScenarioError, load_scenario

    overrides = {"layout.osm_file": osm} if osm else {}
    if seed is not None:
        overrides["scenario.seed"] = str(seed)
    try:
        return load_scenario(path, overrides)
    except ScenarioError as e:
        raise ToolError(str(e)) from None


def _output_dir(path: str) -> Path:
    """--out, checked before a run: a city run takes half an hour, and finding out afterwards
    that its results cannot be written would lose it. Nothing is created here."""
    out = Path(path)
    existing = out.absolute()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ToolError(f"--out {path}: cannot write results there: {existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ToolError(f"--out {path}: cannot write results there: {existing} is not writable")
    return out


def _run(args: argparse.Namespace) -> int:
    from meshbulb_sim.osm import OsmError
    from meshbulb_sim.outcome import WorkerError
    from meshbulb_sim.run import run_scenario

    scenario = _load(args.scenario, args.osm, args.seed)
    out = _output_dir(args.out)
    progress = _Progress(f"sim {scenario.scenario.name}")
    try:
        result = run_scenario(scenario, out, progress, args.workers)
    except (OsmError, WorkerError) as e:  # a worker's error names its part and says why
        raise ToolError(str(e)) from None
    finally:
        progress.done()
    print(json.dumps(result.metrics, indent=2, sort_keys=True))
    print(f"report: {out / 'report.html'}")
    return 0


def reference_loop_ms(additions: int = 1_000_000, repeats: int = 3) -> float:
    """The best of `repeats` timings of a fixed pure-Python loop: how fast this machine runs
    Python just now. Shared machines drift (on ours the same loop took from 0.6 to 2 times
    its usual time within a day), so a bench prints it before and after its run to tell
    which differences between runs are the code's."""
    best_s = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        total = 0
        for k in range(additions):
            total += k
        best_s = min(best_s, time.perf_counter() - started)
    return round(best_s * 1000, 1)


class _FirstMinute:
    """Passes progress on, and notes when the run's first simulated minute was done: the
    minute that holds the set-up, the JIT's warm-up on PyPy and every bulb joining at once."""

    def __init__(self, progress: _Progress, fraction: float) -> None:
        self.progress = progress
        self.fraction = fraction
        self.reached: float | None = None

    def __call__(self, fraction: float) -> None:
        if self.reached is None and fraction >= self.fraction:
            self.reached = time.perf_counter()
        self.progress(fraction)


def python_build() -> str:
    """Which interpreter ran a bench. The same runs took about 1.1 times as long on a default
    pyenv build of 3.11 as on Debian's python3.11, built with PGO and LTO, on one machine
    (docs/simulator.md): figures are comparable only on the same build."""
    base = getattr(sys, "_base_executable", sys.executable)  # the interpreter behind a venv
    return f"{platform.python_implementation()} {platform.python_version()} {base}"


def _bench(args: argparse.Namespace) -> int:
    from meshbulb_sim.engine import SimSpec
    from meshbulb_sim.interpreter import simulation_python
    from meshbulb_sim.layouts import grid
    from meshbulb_sim.outcome import WorkerError
    from meshbulb_sim.parallel import auto_workers, run_city, usable_workers
    from meshbulb_sim.run import place_gateways

    if args.minutes <= 0:
        raise ToolError("--minutes must be positive")
    if len(args.nodes) > 1:
        return _bench_sizes(args)
    nodes = args.nodes[0]
    layout = grid(nodes, 30.0)
    gateways = place_gateways(layout, max(1, nodes // 250), args.seed)
    duration_s = args.minutes * 60
    spec = SimSpec(name="bench", seed=args.seed, duration_s=duration_s,
                   warmup_s=min(120.0, duration_s / 2))
    progress = _Progress(f"bench {nodes} bulbs")
    first_minute = _FirstMinute(progress, 60.0 / duration_s)
    loop_before_ms = reference_loop_ms()
    started = time.perf_counter()
    try:
        python = simulation_python(nodes * duration_s)
        workers = (args.workers if args.workers is not None else
                   auto_workers(nodes, usable_workers(), python is not None))
        result, outcomes = run_city(spec, layout.positions_m, gateways, workers,
                                    first_minute, python)
    except WorkerError as e:
        raise ToolError(str(e)) from None
    finally:
        progress.done()
    ended = time.perf_counter()
    wall_s = ended - started
    # The cost of each later minute alone: linear scaling is about how that grows with the
    # city, and the first minute holds what does not (docs/simulator.md, the sizes bench).
    after_first_us = (None if first_minute.reached is None or args.minutes <= 1 else
                      round((ended - first_minute.reached) * 1e6 / (nodes * (args.minutes - 1)), 1))
    loop_after_ms = reference_loop_ms()
    bulb_minutes = nodes * args.minutes
    # Frames the cores took in (no bulb reboots in a bench): the work a bulb-minute holds, so
    # that a layout with fewer neighbours per bulb (a small grid's edges) is seen for what it is.
    received = sum(o.frames_in for o in outcomes)
    # Peak memory of every process of the run, added up (pages a worker shares with the
    # parent since the fork count twice, so this is an upper bound).
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if workers > 1 or python is not None:
        peak_kb += sum(o.peak_rss_kb for o in outcomes)
    figures = {"nodes": nodes, "minutes": args.minutes, "workers": workers,
               "wall_s": round(wall_s, 2),
               "wall_us_per_bulb_minute": round(wall_s * 1e6 / bulb_minutes, 1),
               "after_first_minute_us_per_bulb_minute": after_first_us,
               "receptions_per_bulb_minute": round(received / bulb_minutes, 1),
               "wall_us_per_reception": round(wall_s * 1e6 / max(1, received), 2),
               "control_bytes_per_node_s": result.metrics["control_bytes_per_node_s"],
               "delivery_ratio_gateway": result.metrics["delivery_ratio_gateway"],
               "peak_rss_mb": round(peak_kb / 1024),
               # The bulb model behind the figures: runs before 869f53f had no receive path.
               "frame_processing_us": spec.frame_processing_us,
               "heap": heap_in_use(),
               "python": python_build(),
               # What ran the simulation itself: this Python or another (interpreter.py).
               "simulation_python": outcomes[0].interpreter,
               "reference_loop_ms_before": loop_before_ms,
               "reference_loop_ms_after": loop_after_ms}
    print(json.dumps(figures) if args.json else json.dumps(figures, indent=2))
    return 0


def _ratio(value: float | None, first: float | None) -> float | None:
    return round(value / first, 2) if value is not None and first else None


def _shown(value: float | None, width: int, decimals: int) -> str:
    """A figure right-aligned in its column; a dash where a short run has none."""
    return f"{'-':>{width}}" if value is None else f"{value:>{width}.{decimals}f}"


def _bench_sizes(args: argparse.Namespace) -> int:
    """Linear scaling: each size in a fresh process (its own heap and peak memory), then the
    cost per bulb-minute and the control traffic per bulb against the first size's. Every
    size is simulated on one interpreter, so the sizes compare like with like: the one the
    smallest size runs on (interpreter.py rule 1), unless MESHBULB_SIM_PYTHON names one.
    PyPy's JIT warms up for seconds whatever the city's size, which a small run cannot
    amortise: on PyPy the ratios would measure that, not how the cost grows with the city.
    This machine's speed drifts, so each run's reference loop is printed beside it."""
    from meshbulb_sim.interpreter import ENV_VAR, THIS_INTERPRETER, simulation_python
    from meshbulb_sim.outcome import WorkerError

    try:
        python = simulation_python(min(args.nodes) * args.minutes * 60)
    except WorkerError as e:
        raise ToolError(str(e)) from None
    env = {**os.environ, ENV_VAR: python or THIS_INTERPRETER}
    runs: list[dict[str, Any]] = []
    for nodes in args.nodes:
        command = [sys.executable, "-m", "meshbulb_tools.cli", "sim", "bench", "--nodes",
                   str(nodes), "--minutes", str(args.minutes), "--seed", str(args.seed),
                   "--workers", AUTO if args.workers is None else str(args.workers), "--json"]
        proc = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False, env=env)
        if proc.returncode != 0:
            raise ToolError(f"the {nodes}-bulb run failed (exit code {proc.returncode})")
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    first = runs[0]
    for run in runs:
        run["cost_vs_first"] = _ratio(run["wall_us_per_bulb_minute"],
                                      first["wall_us_per_bulb_minute"])
        run["after_first_minute_vs_first"] = _ratio(
            run["after_first_minute_us_per_bulb_minute"],
            first["after_first_minute_us_per_bulb_minute"])
        run["control_vs_first"] = _ratio(run["control_bytes_per_node_s"],
                                         first["control_bytes_per_node_s"])
    if args.json:
        print(json.dumps({"runs": runs}))
        return 0
    print(f"on {first['python']}, simulated on {first['simulation_python']}")
    print(f"{'':>26} {'us per bulb-minute':>21} {'after the 1st minute':>21}")
    print(f"{'bulbs':>8} {'workers':>7} {'wall s':>9} {'':>12} {'x first':>8} {'':>12} "
          f"{'x first':>8} {'control B/s':>12} {'x first':>8} {'delivery':>9} {'peak MB':>8} "
          f"{'loop ms before/after':>21}")
    for run in runs:
        loop = f"{run['reference_loop_ms_before']:.0f}/{run['reference_loop_ms_after']:.0f}"
        print(f"{run['nodes']:>8} {run['workers']:>7} {run['wall_s']:>9.1f} "
              f"{run['wall_us_per_bulb_minute']:>12.1f} "
              f"{_shown(run['cost_vs_first'], 8, 2)} "
              f"{_shown(run['after_first_minute_us_per_bulb_minute'], 12, 1)} "
              f"{_shown(run['after_first_minute_vs_first'], 8, 2)} "
              f"{run['control_bytes_per_node_s']:>12.2f} "
              f"{_shown(run['control_vs_first'], 8, 2)} "
              f"{_shown(run['delivery_ratio_gateway'], 9, 4)} {run['peak_rss_mb']:>8} {loop:>21}")
    return 0


class _RunLog:
    """Every finished run of a sweep as one JSON line in runs.jsonl, written as it comes back
    (sweep.py rule 7), so that a sweep that fails or is interrupted after hours keeps the
    runs it finished. The folder and file are made at the first run: a sweep refused at
    once leaves nothing behind."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self._file: TextIO | None = None

    def __call__(self, run: dict[str, Any]) -> None:
        from meshbulb_sim.sweep import finite_row

        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("w", encoding="utf-8")
        self._file.write(json.dumps(finite_row(run), allow_nan=False) + "\n")
        self._file.flush()
        self.count += 1

    def where(self) -> str:
        if not self.count:
            return ""
        runs = "run that finished is" if self.count == 1 else f"{self.count} runs that finished are"
        return f"; the {runs} in {self.path}"

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def _sweep(args: argparse.Namespace) -> int:
    from meshbulb_sim.osm import OsmError
    from meshbulb_sim.run import run_metrics
    from meshbulb_sim.scenario import ScenarioError
    from meshbulb_sim.sweep import SweepError, parse_params, run_sweep

    scenario = _load(args.scenario, args.osm, None)
    try:
        params = parse_params(args.param)
    except SweepError as e:
        raise ToolError(str(e)) from None
    out = _output_dir(args.out)
    progress = _Progress(f"sweep {scenario.scenario.name}")
    kept = _RunLog(out / "runs.jsonl")
    try:
        result = run_sweep(scenario, params, args.seeds, run_metrics, scheduler=args.scheduler,
                           progress=lambda done, total: progress(done / total), finished=kept)
    except (SweepError, ScenarioError, OsmError) as e:  # a --param, or the map, in a job
        raise ToolError(f"{e}{kept.where()}") from None
    except KeyboardInterrupt:
        progress.done()
        if kept.count:
            print(f"meshbulb: {kept.where()[2:]}", file=sys.stderr)
        raise
    finally:
        progress.done()
        kept.close()
    out.mkdir(parents=True, exist_ok=True)  # checked writable before the sweep
    result.to_csv(str(out / "sweep.csv"))
    result.to_json(str(out / "sweep.json"))
    for line in result.summary(SWEEP_SUMMARY):
        print(line)
    print(f"{len(result.rows)} combinations x {args.seeds} seeds: {out / 'sweep.csv'}")
    return 0


def run(args: argparse.Namespace) -> int:
    handlers = {"run": _run, "bench": _bench, "sweep": _sweep}
    return handlers[args.sim_command](args)
