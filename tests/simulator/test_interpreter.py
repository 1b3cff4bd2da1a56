"""Simulations on another interpreter (interpreter.py, worker.py): which one is chosen, and that
a run there is the same run as here. PyPy's tests run where the checkout has .venv-pypy
(`make` builds it when pypy3 is installed; .ci/run installs pypy3)."""

from __future__ import annotations

import json
import os
import platform
import stat
import sys
from pathlib import Path

import numpy as np
import pytest

from meshbulb_sim.engine import SimSpec
from meshbulb_sim.interpreter import (
    CHECKOUT_PYPY,
    ENV_VAR,
    PYPY_MIN_BULB_S,
    Packed,
    simulation_python,
)
from meshbulb_sim.layouts import grid
from meshbulb_sim.outcome import WorkerError
from meshbulb_sim.parallel import run_city
from meshbulb_sim.run import place_gateways, run_scenario
from meshbulb_sim.scenario import load_scenario

CI_TOML = Path(__file__).resolve().parents[2] / "simulator" / "scenarios" / "ci.toml"
HAS_PYPY = os.access(CHECKOUT_PYPY, os.X_OK)
needs_pypy = pytest.mark.skipif(not HAS_PYPY, reason="no .venv-pypy in this checkout")


def _grid(nodes: int, seconds: float, **core: int) -> tuple[SimSpec, np.ndarray, list[int]]:
    layout = grid(nodes, 30.0)
    gateways = place_gateways(layout, max(1, nodes // 100), 1)
    spec = SimSpec(name="grid", seed=1, duration_s=seconds, warmup_s=seconds / 2,
                   core=dict(core))
    return spec, layout.positions_m, gateways


def _same_run(a: dict[str, object], b: dict[str, object]) -> None:
    assert {k: v for k, v in a.items() if k != "wall_s"} == {
        k: v for k, v in b.items() if k != "wall_s"}


def test_the_variable_names_the_interpreter_and_self_keeps_this_one(tmp_path: Path) -> None:
    python = tmp_path / "python"
    python.write_text("#!/bin/sh\n")
    python.chmod(python.stat().st_mode | stat.S_IXUSR)
    assert simulation_python(10.0, {ENV_VAR: str(python)}) == str(python)  # any size
    assert simulation_python(1e12, {ENV_VAR: "self"}) is None
    with pytest.raises(WorkerError, match=f"{ENV_VAR}=/no/such/python"):
        simulation_python(1e12, {ENV_VAR: "/no/such/python"})


def test_unset_the_checkouts_pypy_takes_large_runs_only() -> None:
    small = simulation_python(PYPY_MIN_BULB_S - 1, {})
    large = simulation_python(PYPY_MIN_BULB_S, {})
    assert small is None
    assert large == (str(CHECKOUT_PYPY) if HAS_PYPY else None)


def test_arrays_cross_as_plain_values() -> None:
    for array in (np.arange(12, dtype=np.int64).reshape(6, 2), np.linspace(0, 1, 7),
                  np.zeros((0, 2))):
        back = Packed.of(array).array()
        assert back.dtype == array.dtype and back.shape == array.shape
        assert np.array_equal(back, array) and back.flags.writeable


@pytest.mark.parametrize("workers", [1, 2])
def test_this_interpreter_started_afresh_runs_the_same_run(workers: int) -> None:
    spec, positions, gateways = _grid(300, 40.0)
    shown: list[float] = []
    seen: list[float] = []
    here, _ = run_city(spec, positions, gateways, workers, shown.append)
    afresh, outcomes = run_city(spec, positions, gateways, workers, seen.append,
                                sys.executable)
    _same_run(here.metrics, afresh.metrics)
    assert all(o.interpreter.startswith("CPython") for o in outcomes)
    # Progress crosses back from the worker (forked workers draw it where they run).
    assert len(seen) >= 3 and seen == sorted(seen)
    if workers == 1:
        assert seen == shown


def test_a_worker_that_fails_says_why() -> None:
    spec, positions, gateways = _grid(50, 5.0, hello_imin_ms=1)  # below the core's bound
    with pytest.raises(WorkerError, match=r"the simulation:(.|\n)*hello_imin_ms"):
        run_city(spec, positions, gateways, 1, None, sys.executable)
    with pytest.raises(WorkerError, match=r"part 0 of 2(.|\n)*hello_imin_ms"):
        run_city(spec, positions, gateways, 2, None, sys.executable)


def test_a_worker_that_exits_without_an_outcome_fails_the_run(tmp_path: Path) -> None:
    python = tmp_path / "python"
    python.write_text("#!/bin/sh\ncat > /dev/null\nexit 3\n")
    python.chmod(python.stat().st_mode | stat.S_IXUSR)
    spec, positions, gateways = _grid(50, 5.0)
    with pytest.raises(WorkerError, match="the simulation exited with code 3 and no outcome"):
        run_city(spec, positions, gateways, 1, None, str(python))


@needs_pypy
@pytest.mark.parametrize("workers", [1, 2])
def test_pypy_runs_the_same_run_as_cpython(workers: int) -> None:
    spec, positions, gateways = _grid(400, 60.0)
    here, _ = run_city(spec, positions, gateways, workers)
    there, outcomes = run_city(spec, positions, gateways, workers, None, str(CHECKOUT_PYPY))
    _same_run(here.metrics, there.metrics)
    assert all(o.interpreter.startswith("PyPy") for o in outcomes)


@needs_pypy
def test_the_ci_scenario_on_pypy_is_the_ci_scenario(monkeypatch: pytest.MonkeyPatch) -> None:
    """Churn, joins, a gateway failure, bulb-to-bulb peers within a radius, groups."""
    scenario = load_scenario(str(CI_TOML))
    monkeypatch.setenv(ENV_VAR, "self")
    here = run_scenario(scenario)
    monkeypatch.setenv(ENV_VAR, str(CHECKOUT_PYPY))
    there = run_scenario(scenario)
    _same_run(here.metrics, there.metrics)


def test_metrics_and_report_say_what_ran_the_simulation(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, sys.executable)
    scenario = load_scenario(str(CI_TOML), {"scenario.duration_s": "200",
                                            "scenario.warmup_s": "60"})
    run_scenario(scenario, tmp_path)
    written = json.loads((tmp_path / "metrics.json").read_text())
    assert written["interpreter"].startswith(f"CPython {platform.python_version()} ")
    assert f"on {written['interpreter']}" in (tmp_path / "report.html").read_text()
