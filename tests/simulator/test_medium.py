"""The shared air on its own: ESP-NOW unicast retries, their backoff and lost ACKs (medium.py
rule 3)."""

from __future__ import annotations

from random import Random
from typing import Any

import pytest
import simpy

from meshbulb_sim.medium import CW_MAX_SLOTS, CW_SLOTS, DIFS_S, SLOT_S, Medium, contention_window
from meshbulb_sim.radio import LinkTable, RadioParams, airtime_s

FRAME = bytes(100)


class _LongestBackoff(Random):
    """Every backoff takes its whole window; every reception draw fails."""

    def randrange(self, *args: Any, **kwargs: Any) -> int:
        return int(args[0]) - 1

    def random(self) -> float:
        return 0.999


class _Recording(Medium):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.starts_s: list[float] = []
        self.starts: list[tuple[int, float]] = []  # (sender, start)

    def _transmit(self, i: int, dst: int | None, frame: bytes, attempt: int,
                  taken_in: bool) -> None:
        self.starts_s.append(self.env.now)
        self.starts.append((i, self.env.now))
        super()._transmit(i, dst, frame, attempt, taken_in)


def _pair(prr: float, retries: int) -> tuple[simpy.Environment, _Recording, list[bool]]:
    env = simpy.Environment()
    links = LinkTable(neighbours=[[1], [0]], prr=[[prr], [prr]], rssi_dbm=[[-80], [-80]])
    verdicts: list[bool] = []
    medium = _Recording(env, links, RadioParams(), retries, _LongestBackoff(1),
                        lambda *_: None, lambda _i, _j, ok, _f: verdicts.append(ok))
    return env, medium, verdicts


def test_each_retry_waits_a_backoff_window_twice_the_last_up_to_the_cap() -> None:
    env, medium, verdicts = _pair(prr=0.0, retries=7)
    medium.send(0, 1, FRAME)
    env.run()
    assert verdicts == [False]
    assert len(medium.starts_s) == 8
    attempt_s = airtime_s(len(FRAME), RadioParams()) + medium.ack_s
    waits_s = [b - a - attempt_s
               for a, b in zip(medium.starts_s, medium.starts_s[1:], strict=False)]
    windows = [min(CW_SLOTS << k, CW_MAX_SLOTS) for k in range(1, 8)]
    assert waits_s == pytest.approx([DIFS_S + (w - 1) * SLOT_S for w in windows])
    assert windows[-1] == CW_MAX_SLOTS  # the cap is reached within ESP-NOW's retries
    assert [contention_window(k) for k in range(1, 8)] == windows


def test_a_retry_that_finds_the_air_busy_keeps_its_doubled_window() -> None:
    """Node 0's unicast to 1 fails; node 2, which hears 0 (and not 1), sends a broadcast
    that is still on the air when 0's retry is due. The retry then waits for the air, DIFS
    and its own window (64 slots), not a first attempt's 32."""
    env = simpy.Environment()
    links = LinkTable(neighbours=[[1, 2], [0], [0]], prr=[[0.0, 1.0], [0.0], [1.0]],
                      rssi_dbm=[[-60, -60], [-60], [-60]])
    medium = _Recording(env, links, RadioParams(), 1, _LongestBackoff(1),
                        lambda *_: None, lambda *_: None)
    medium.send(0, 1, FRAME)
    env.timeout(1e-4).callbacks.append(lambda _event: medium.send(2, None, FRAME))
    env.run()
    frame_s = airtime_s(len(FRAME), RadioParams())
    hold_s = frame_s + medium.ack_s
    first = DIFS_S + (contention_window(0) - 1) * SLOT_S
    retry = DIFS_S + (contention_window(1) - 1) * SLOT_S
    assert [i for i, _ in medium.starts] == [0, 2, 0]
    assert medium.starts[1][1] == pytest.approx(hold_s + first)  # 2 waited out 0's frame
    assert hold_s + retry < medium.starts[1][1] + frame_s  # 0's retry finds 2 on the air
    assert medium.starts[2][1] == pytest.approx(medium.starts[1][1] + frame_s + retry)


@pytest.mark.parametrize("retries", [0, 3])
def test_a_frame_is_tried_once_plus_its_retries(retries: int) -> None:
    env, medium, verdicts = _pair(prr=0.0, retries=retries)
    medium.send(0, 1, FRAME)
    env.run()
    assert len(medium.starts_s) == 1 + retries and verdicts == [False]


def _star(unicast: bool) -> _Recording:
    """Node 0 sends (to 1, or to everyone); node 2, which hears 0, has a frame 0.1 ms later."""
    env = simpy.Environment()
    links = LinkTable(neighbours=[[1, 2], [0], [0]], prr=[[1.0, 1.0], [1.0], [1.0]],
                      rssi_dbm=[[-60, -60], [-60], [-60]])
    medium = _Recording(env, links, RadioParams(), 7, _LongestBackoff(1),
                        lambda *_: None, lambda *_: None)
    medium.send(0, 1 if unicast else None, FRAME)
    env.timeout(1e-4).callbacks.append(lambda _event: medium.send(2, None, FRAME))
    env.run()
    return medium


def test_a_unicast_keeps_the_senders_neighbours_quiet_until_its_ack_is_over() -> None:
    frame_s = airtime_s(len(FRAME), RadioParams())
    unicast, broadcast = _star(True), _star(False)
    assert unicast.ack_s == pytest.approx(10e-6 + 304e-6)  # SIFS + 14 bytes at 1 Mbit/s
    assert broadcast.starts_s[1] >= frame_s + DIFS_S
    # The same backoff (the longest) after a longer busy air: by exactly the ACK's time.
    assert unicast.starts_s[1] - broadcast.starts_s[1] == pytest.approx(unicast.ack_s)


class _AcksLost(_LongestBackoff):
    """Every frame gets through and every ACK is lost: the draws alternate (frame, then ACK)."""

    def __init__(self) -> None:
        super().__init__(1)
        self.draws = 0

    def random(self) -> float:
        self.draws += 1
        return 0.0 if self.draws % 2 else 0.999


def test_a_frame_whose_acks_are_lost_arrives_once_and_the_sender_hears_of_a_failure() -> None:
    env = simpy.Environment()
    links = LinkTable(neighbours=[[1], [0]], prr=[[0.9], [0.9]], rssi_dbm=[[-70], [-70]])
    received: list[tuple[int, int, bytes]] = []
    verdicts: list[bool] = []
    medium = _Recording(env, links, RadioParams(), 3, _AcksLost(),
                        lambda j, i, frame, _rssi: received.append((j, i, frame)),
                        lambda _i, _j, ok, _f: verdicts.append(ok))
    medium.send(0, 1, FRAME)
    env.run()
    assert len(medium.starts_s) == 4 and verdicts == [False]
    assert received == [(1, 0, FRAME)]  # the retries were duplicates to the addressee's MAC
    frame_s = airtime_s(len(FRAME), RadioParams())
    assert medium.airtime_used_s[0] == pytest.approx(4 * frame_s)
    assert medium.airtime_used_s[1] == pytest.approx(4 * medium.ack_air_s)  # it sent 4 ACKs


def _chain() -> tuple[simpy.Environment, _Recording, list[tuple[int, int]]]:
    """0 - 1 - 2 - 3, every link perfect: 2 is hidden from 0, and 3 from 1."""
    env = simpy.Environment()
    links = LinkTable(neighbours=[[1], [0, 2], [1, 3], [2]],
                      prr=[[1.0], [1.0, 1.0], [1.0, 1.0], [1.0]],
                      rssi_dbm=[[-60], [-60, -60], [-60, -60], [-60]])
    delivered: list[tuple[int, int]] = []
    medium = _Recording(env, links, RadioParams(), 7, _LongestBackoff(1),
                        lambda j, i, _f, _r: delivered.append((j, i)), lambda *_: None)
    return env, medium, delivered


def test_the_addressees_neighbours_hear_its_ack_and_wait_for_it() -> None:
    env, medium, _ = _chain()
    frame_s = airtime_s(len(FRAME), RadioParams())
    medium.send(0, 1, FRAME)
    # 2 does not hear 0's frame; it has a frame of its own just after that frame ends.
    env.timeout(frame_s + 1e-6).callbacks.append(lambda _event: medium.send(2, None, FRAME))
    env.run()
    assert [i for i, _ in medium.starts] == [0, 2]
    ack_end_s = frame_s + medium.ack_s
    assert medium.starts[1][1] == pytest.approx(ack_end_s + DIFS_S + (CW_SLOTS - 1) * SLOT_S)
    assert medium.airtime_used_s[1] == pytest.approx(medium.ack_air_s)


def test_an_ack_collides_with_a_frame_reaching_the_addressees_neighbour() -> None:
    env, medium, delivered = _chain()
    frame_s = airtime_s(len(FRAME), RadioParams())
    medium.send(0, 1, FRAME)
    # 3, hidden from 0 and 1, starts a broadcast to 2 shortly before 0's frame ends: 1's ACK
    # reaches 2 in the middle of it.
    env.timeout(frame_s - 2e-4).callbacks.append(lambda _event: medium.send(3, None, FRAME))
    env.run()
    assert (1, 0) in delivered  # the unicast got through and was acknowledged
    assert (2, 3) not in delivered
    assert medium.collisions >= 1
    assert not medium.collided  # nothing is left waiting for an end that will not come
