"""Picklable stand-ins for a simulation run, for tests/simulator/test_sweep.py.

They are module-level functions (worker processes and Dask workers import them by name) whose
metrics depend only on the scenario's parameters and seed, so every aggregate can be worked
out by hand.
"""

from __future__ import annotations

import os

from meshbulb_sim.scenario import Scenario


def fake_run(scenario: Scenario) -> dict[str, float | int | None]:
    """With seeds 1, 2, 3: score = range + 1..3, hops = retries * 1..3, odd_only = 1, 3 (None
    for seed 2), ok = true, false, true, never = always None."""
    seed = scenario.scenario.seed
    return {
        "score": scenario.radio.range_m + seed,
        "hops": scenario.radio.retries * seed,
        "odd_only": float(seed) if seed % 2 else None,
        "ok": seed != 2,
        "never": None,
    }


def failing_run(scenario: Scenario) -> dict[str, float | int | None]:
    """fake_run, except that a 60 m radio range fails."""
    if scenario.radio.range_m == 60:
        raise RuntimeError("radio model exploded")
    return fake_run(scenario)


def pid_run(scenario: Scenario) -> dict[str, float | int | None]:
    """The id of the process that ran the job."""
    return {"pid": os.getpid()}
