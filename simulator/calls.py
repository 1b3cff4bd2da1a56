"""Calls at a later simulated time, on a simpy Environment, without a simpy Timeout each.

A run schedules a few events per frame: a transmission's end, a retry, a bulb's timer.
`env.timeout(d).callbacks.append(lambda _e: fn(*args))` builds a Timeout (an object with a
dict), a callback list and a closure for each. `call_later` builds one slotted object and
hands it to `Environment.schedule`, simpy's public way to put an event in its queue. When
its time comes, `Environment.step` takes `callbacks` (set to None once run), calls each
with the event and then reads `_ok`: that is all a scheduled event needs to be.
Simulated time, ordering (time, priority, insertion) and `env.run(until=...)` are simpy's,
unchanged.

`FarCalls` keeps simpy's queue short. Most of a city's pending calls are far off (each bulb's
timer and its next packet, seconds to a minute ahead), and a binary heap of two entries per
bulb costs more per event the larger the city: at 100,000 bulbs each push and pop walks
17 levels of entries spread over memory. A far call waits instead in the list of its whole
second of simulated time, and one urgent call at the start of that second moves the list into
simpy's queue. So among calls due at the very same time, a far call takes its place in the
order of scheduling when its second begins, not when it was scheduled.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from simpy.events import NORMAL, URGENT


def _fire(call: _Call) -> None:
    call.fn(*call.args)


_CALLBACKS = (_fire,)


class _Call:
    __slots__ = ("callbacks", "fn", "args")
    _ok = True  # read by Environment.step: the event succeeded

    def __init__(self, fn: Callable[..., None], args: tuple[Any, ...]) -> None:
        self.callbacks: tuple[Callable[[_Call], None], ...] | None = _CALLBACKS
        self.fn = fn
        self.args = args


def call_later(env: Any, delay_s: float, fn: Callable[..., None], *args: Any) -> None:
    """Run fn(*args) delay_s simulated seconds from now (delay_s >= 0)."""
    if delay_s < 0:
        raise ValueError(f"negative delay: {delay_s!r} s")
    env.schedule(_Call(fn, args), NORMAL, delay_s)


class FarCalls:
    """call_later for one environment, with calls bucket_s or more ahead held in buckets of
    bucket_s of simulated time until their bucket begins (see the module's docstring)."""

    def __init__(self, env: Any, bucket_s: float = 1.0) -> None:
        if bucket_s <= 0:
            raise ValueError(f"bucket_s must be > 0, got {bucket_s!r}")
        self.env = env
        self.bucket_s = bucket_s
        self._buckets: dict[int, list[tuple[float, _Call]]] = {}

    def later(self, delay_s: float, fn: Callable[..., None], *args: Any) -> None:
        """Run fn(*args) delay_s simulated seconds from now (delay_s >= 0)."""
        env = self.env
        if delay_s < self.bucket_s:
            call_later(env, delay_s, fn, *args)
            return
        at_s = env.now + delay_s
        index = int(at_s // self.bucket_s)  # a later bucket than now's: delay_s >= bucket_s
        bucket = self._buckets.get(index)
        if bucket is None:
            bucket = self._buckets[index] = []
            start_s = index * self.bucket_s
            env.schedule(_Call(self._release, (index,)), URGENT,
                         start_s - env.now if start_s > env.now else 0.0)
        bucket.append((at_s, _Call(fn, args)))

    def _release(self, index: int) -> None:
        env = self.env
        now_s = env.now
        for at_s, call in self._buckets.pop(index):
            env.schedule(call, NORMAL, at_s - now_s if at_s > now_s else 0.0)

    def pending(self) -> int:
        """Calls still held in buckets."""
        return sum(len(bucket) for bucket in self._buckets.values())
