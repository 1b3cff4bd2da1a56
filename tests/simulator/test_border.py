"""The air across the border between two parts of a city (border.py), with two media on two
simpy queues and their records swapped by hand, as parallel.py swaps them."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import simpy

from meshbulb_sim.border import TX, VERDICT, BorderMedium
from meshbulb_sim.radio import RadioParams, airtime_s, build_links

WINDOW_S = 0.002
PARAMS = RadioParams(shadowing_db=0.0)


class _Part:
    def __init__(self, local: list[bool], seed: int) -> None:
        positions = np.array([[0.0, 0.0], [10.0, 0.0], [20.0, 0.0], [30.0, 0.0]])
        links = build_links(positions, PARAMS, 1)
        self.env = simpy.Environment()
        self.delivered: list[tuple[float, int, int, bytes]] = []
        self.verdicts: list[tuple[float, int, int, bool]] = []
        self.medium = BorderMedium(self.env, links, local, PARAMS, 7, random.Random(seed),
                                   self._deliver, self._verdict)

    def _deliver(self, j: int, i: int, frame: bytes, _rssi: int) -> None:
        self.delivered.append((self.env.now, j, i, frame))

    def _verdict(self, i: int, j: int, acked: bool, _frame: bytes) -> None:
        self.verdicts.append((self.env.now, i, j, acked))


def _pair() -> tuple[_Part, _Part]:
    """Bulbs 0 and 1 in the west part, 2 and 3 in the east; all four hear each other."""
    return _Part([True, True, False, False], 1), _Part([False, False, True, True], 2)


def _run(west: _Part, east: _Part, windows: int) -> list[Any]:
    """Run both parts window by window, swapping their outboxes; every record swapped."""
    swapped: list[Any] = []
    for k in range(1, windows + 1):
        for part in (west, east):
            part.env.run(until=k * WINDOW_S)
        west_out, east_out = west.medium.outbox, east.medium.outbox
        west.medium.outbox, east.medium.outbox = [], []
        east.medium.apply(west_out)
        west.medium.apply(east_out)
        swapped += west_out + east_out
    return swapped


def test_a_broadcast_reaches_the_other_part_a_window_late_at_most() -> None:
    west, east = _pair()
    west.medium.send(1, None, b"hello" * 20)
    swapped = _run(west, east, 5)
    assert [r[0] for r in swapped] == [TX]
    assert {(j, i) for _t, j, i, _f in west.delivered} == {(0, 1)}
    assert {(j, i) for _t, j, i, _f in east.delivered} == {(2, 1), (3, 1)}
    end_s = airtime_s(100, PARAMS)
    assert all(end_s <= t <= WINDOW_S for t, *_ in east.delivered)
    assert all(f == b"hello" * 20 for *_, f in east.delivered)


def test_a_unicast_across_is_settled_by_the_addressee_part() -> None:
    west, east = _pair()
    west.medium.send(1, 2, b"for two")
    west.medium.send(1, None, b"next")  # waits until the first one is settled
    swapped = _run(west, east, 6)
    assert [(t, j, i) for t, j, i, _f in east.delivered][:1] == [(WINDOW_S, 2, 1)]
    verdicts = [r for r in swapped if r[0] == VERDICT]
    assert verdicts == [(VERDICT, 1, True, True)]
    assert west.verdicts == [(2 * WINDOW_S, 1, 2, True)]
    starts = [r[1] for r in swapped if r[0] == TX]
    assert len(starts) == 2 and starts[1] > 2 * WINDOW_S  # after the verdict came back
    assert sum(1 for _t, j, _i, f in east.delivered if f == b"for two") == 1
    assert (3, 1, b"for two") not in [(j, i, f) for _t, j, i, f in east.delivered]


def test_a_frame_from_across_collides_with_one_still_on_the_air() -> None:
    west, east = _pair()
    west.medium.send(1, None, b"w" * 200)  # from 0 to about 2.1 ms
    east.env.run(until=0.001)
    east.medium.send(3, None, b"e" * 240)  # from 1 ms: carrier sense cannot hear the west yet
    _run(west, east, 5)
    # Both frames were still on the air when each part learnt of the other's (at 2 ms), and
    # every bulb hears both senders: bulbs 0 and 2 heard them at once and take neither in,
    # and each sender was sending when the other's frame began.
    assert east.delivered == [] and west.delivered == []
    assert east.medium.collisions >= 1 and west.medium.collisions >= 1


def test_a_frame_from_across_that_ended_before_a_local_one_began_is_taken_in() -> None:
    west, east = _pair()
    west.medium.send(1, None, b"w" * 20)  # from 0 to about 0.6 ms
    east.env.run(until=0.0012)
    east.medium.send(3, None, b"e" * 20)  # from 1.2 ms, after it: no overlap anywhere
    _run(west, east, 5)
    assert {(j, i) for _t, j, i, _f in east.delivered} == {(2, 1), (3, 1), (2, 3)}
    assert {(j, i) for _t, j, i, _f in west.delivered} == {(0, 1), (0, 3), (1, 3)}
