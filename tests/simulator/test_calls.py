"""Calls scheduled on simpy's queue without a Timeout each (calls.py)."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest
import simpy

from meshbulb_sim.calls import call_later


def test_a_call_runs_at_its_time_with_its_arguments() -> None:
    env = simpy.Environment()
    seen: list[tuple[float, str, int]] = []
    call_later(env, 2.5, lambda name, n: seen.append((env.now, name, n)), "b", 7)
    env.run()
    assert seen == [(2.5, "b", 7)]


def test_calls_and_simpy_events_share_one_order() -> None:
    """Equal times run in the order they were scheduled, whichever way they were."""
    env = simpy.Environment()
    seen: list[tuple[float, str]] = []

    def process() -> Generator[Any, Any, None]:
        yield env.timeout(1.0)
        seen.append((env.now, "process"))

    call_later(env, 1.0, lambda: seen.append((env.now, "first call")))
    env.process(process())
    env.timeout(1.0).callbacks.append(lambda _e: seen.append((env.now, "timeout")))
    call_later(env, 1.0, lambda: seen.append((env.now, "second call")))
    call_later(env, 0.5, lambda: seen.append((env.now, "earlier")))
    env.run()
    assert seen == [(0.5, "earlier"), (1.0, "first call"), (1.0, "timeout"),
                    (1.0, "second call"), (1.0, "process")]


def test_a_call_can_schedule_another_and_run_until_stops_on_time() -> None:
    env = simpy.Environment()
    seen: list[float] = []

    def again() -> None:
        seen.append(env.now)
        call_later(env, 1.0, again)

    call_later(env, 0.0, again)
    env.run(until=3.5)
    assert seen == [0.0, 1.0, 2.0, 3.0]
    assert env.now == 3.5


def test_a_failing_call_raises_out_of_the_run() -> None:
    env = simpy.Environment()

    def fail() -> None:
        raise RuntimeError("boom")

    call_later(env, 1.0, fail)
    with pytest.raises(RuntimeError, match="boom"):
        env.run()


def test_a_negative_delay_is_refused() -> None:
    env = simpy.Environment()
    with pytest.raises(ValueError, match="negative delay"):
        call_later(env, -0.1, lambda: None)
