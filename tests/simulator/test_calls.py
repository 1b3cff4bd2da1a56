"""Calls scheduled on simpy's queue without a Timeout each (calls.py)."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest
import simpy

from meshbulb_sim.calls import FarCalls, call_later


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


def test_far_and_near_calls_run_in_the_order_of_their_times() -> None:
    env = simpy.Environment()
    calls = FarCalls(env, bucket_s=1.0)
    seen: list[tuple[float, str]] = []
    for delay_s, name in ((2.5, "far b"), (0.5, "near"), (1.25, "far a"), (2.25, "far c"),
                          (7.0, "farthest"), (1.0, "far at a bucket's start")):
        calls.later(delay_s, lambda name: seen.append((env.now, name)), name)
    env.run()
    assert seen == [(0.5, "near"), (1.0, "far at a bucket's start"), (1.25, "far a"),
                    (2.25, "far c"), (2.5, "far b"), (7.0, "farthest")]


def test_far_calls_wait_in_their_bucket_until_its_second_begins() -> None:
    env = simpy.Environment()
    calls = FarCalls(env, bucket_s=1.0)
    seen: list[float] = []
    env.run(until=0.3)
    for k in range(1000):  # all due within [5, 6)
        calls.later(4.7 + k / 1000, lambda: seen.append(env.now))
    calls.later(0.2, lambda: seen.append(env.now))
    assert calls.pending() == 1000  # the near call went straight to simpy's queue
    env.run(until=4.99)
    assert seen == [0.5]
    assert calls.pending() == 1000
    env.run(until=5.0005)
    assert calls.pending() == 0
    assert seen == [0.5, 5.0]
    env.run()
    assert len(seen) == 1001
    assert seen[1:] == sorted(seen[1:])
    assert seen[-1] == pytest.approx(5.999)


def test_a_far_call_can_schedule_another_far_call() -> None:
    env = simpy.Environment()
    calls = FarCalls(env, bucket_s=1.0)
    seen: list[float] = []

    def again() -> None:
        seen.append(env.now)
        if len(seen) < 4:
            calls.later(2.5, again)

    calls.later(1.5, again)
    env.run()
    assert seen == pytest.approx([1.5, 4.0, 6.5, 9.0])


def test_far_calls_refuse_a_negative_delay_and_an_empty_bucket() -> None:
    env = simpy.Environment()
    with pytest.raises(ValueError, match="negative delay"):
        FarCalls(env).later(-0.1, lambda: None)
    with pytest.raises(ValueError, match="bucket_s"):
        FarCalls(env, bucket_s=0.0)


def test_a_far_call_takes_its_place_among_equal_times_when_its_second_begins() -> None:
    env = simpy.Environment()
    calls = FarCalls(env, bucket_s=1.0)
    seen: list[str] = []
    calls.later(1.5, seen.append, "far, scheduled at 0")
    call_later(env, 0.75, lambda: calls.later(0.75, seen.append, "near, scheduled at 0.75"))
    call_later(env, 1.25, lambda: calls.later(0.25, seen.append, "near, scheduled at 1.25"))
    env.run()
    assert seen == ["near, scheduled at 0.75", "far, scheduled at 0", "near, scheduled at 1.25"]
