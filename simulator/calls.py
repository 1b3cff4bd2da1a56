"""Calls at a later simulated time, on a simpy Environment, without a simpy Timeout each.

A run schedules a few events per frame: a transmission's end, a retry, a bulb's timer.
`env.timeout(d).callbacks.append(lambda _e: fn(*args))` builds a Timeout (an object with a
dict), a callback list and a closure for each. `call_later` builds one slotted object and
hands it to `Environment.schedule`, simpy's public way to put an event in its queue. When
its time comes, `Environment.step` takes `callbacks` (set to None once run), calls each
with the event and then reads `_ok`: that is all a scheduled event needs to be.
Simulated time, ordering (time, priority, insertion) and `env.run(until=...)` are simpy's,
unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from simpy.events import NORMAL


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
