"""A bulb's receive path: one frame at a time through its CPU, ESP-NOW's receive buffer in
front of it, and what that costs a packet crossing the mesh."""

from __future__ import annotations

import numpy as np
import pytest

from meshbulb_sim import packets
from meshbulb_sim.engine import SimSpec, Simulation
from meshbulb_sim.radio import RadioParams
from meshbulb_sim.receiver import ESPNOW_HEADER_BYTES, ESPNOW_RXBUF_BYTES, ReceivePaths


def test_an_idle_bulb_takes_a_frame_in_at_once_and_a_busy_one_queues_it() -> None:
    paths = ReceivePaths(2, processing_s=0.002, buffer_bytes=ESPNOW_RXBUF_BYTES)
    assert paths.admit(0, 1.0, 40) == 1.0
    assert paths.admit(0, 1.0005, 40) == pytest.approx(1.002)
    assert paths.admit(0, 1.001, 40) == pytest.approx(1.004)
    assert paths.buffered_bytes[0] == 2 * (ESPNOW_HEADER_BYTES + 40)
    assert paths.admit(1, 1.001, 40) == 1.001  # another bulb's CPU is its own
    # Once the CPU has taken both out, the buffer is empty again and the CPU idle at 1.006.
    assert paths.admit(0, 1.0045, 10) == pytest.approx(1.006)
    assert paths.buffered_bytes[0] == ESPNOW_HEADER_BYTES + 10
    assert paths.admit(0, 1.009, 10) == 1.009 and paths.dropped == 0


def test_a_full_receive_buffer_drops_what_does_not_fit_and_keeps_the_rest() -> None:
    # MicroPython's default rxbuf holds two 250-byte messages with their headers, not three.
    paths = ReceivePaths(1, processing_s=0.01, buffer_bytes=ESPNOW_RXBUF_BYTES)
    assert paths.admit(0, 0.0, 250) == 0.0  # taken in: not in the buffer
    assert paths.admit(0, 0.001, 250) is not None
    assert paths.admit(0, 0.002, 250) is not None
    assert paths.admit(0, 0.003, 250) is None
    assert paths.dropped == 1 and paths.buffered_bytes == [ESPNOW_RXBUF_BYTES]
    assert paths.admit(0, 0.004, 1) is None  # not even a small one
    # The CPU takes the first buffered frame out at 0.01: room for one more.
    assert paths.admit(0, 0.0105, 250) == pytest.approx(0.03)
    assert paths.dropped == 2


def test_a_bulb_switched_off_loses_its_buffer() -> None:
    paths = ReceivePaths(1, processing_s=0.01, buffer_bytes=100)
    paths.admit(0, 0.0, 50)
    paths.admit(0, 0.001, 50)
    paths.switch_off(0, 0.002)
    assert paths.buffered_bytes == [0]
    assert paths.admit(0, 0.003, 50) == 0.003


def test_an_ideal_bulb_takes_everything_in_the_moment_it_arrives() -> None:
    paths = ReceivePaths(1, processing_s=0.0, buffer_bytes=0)
    assert [paths.admit(0, 0.5, 250) for _ in range(100)] == [0.5] * 100
    assert paths.dropped == 0


def test_nonsense_is_refused() -> None:
    with pytest.raises(ValueError, match="processing_s"):
        ReceivePaths(1, processing_s=-1.0, buffer_bytes=10)
    with pytest.raises(ValueError, match="buffer_bytes"):
        ReceivePaths(1, processing_s=0.0, buffer_bytes=-1)


def line_run(processing_us: float, buffer_bytes: int = ESPNOW_RXBUF_BYTES) -> Simulation:
    """Eight bulbs in a row 30 m apart, the gateway at one end, 6 packets a minute each. No
    shadowing: every link to the next bulb is good, every longer one weak."""
    positions = np.array([(30.0 * i, 0.0) for i in range(8)])
    spec = SimSpec(name="line", seed=4, duration_s=120, warmup_s=30,
                   radio=RadioParams(shadowing_db=0.0),
                   internet_packets_per_min=6, frame_processing_us=processing_us,
                   rx_buffer_bytes=buffer_bytes)
    sim = Simulation(spec, positions, [0])
    sim.run()
    return sim


def test_every_hop_adds_its_processing_time_to_a_packets_latency() -> None:
    ideal, slow = line_run(0.0), line_run(5000.0)
    assert ideal.packets.ratio(packets.INTERNET) == slow.packets.ratio(packets.INTERNET) == 1.0
    # Each hop takes the packet in once (the gateway too): 1 to 7 hops here, so 5 to 35 ms.
    extra_ms = np.median(slow.packets.latencies_ms) - np.median(ideal.packets.latencies_ms)
    mean_hops = 4.0  # bulbs 1..7 send alike; their median packet crosses 4 hops
    assert 0.8 * mean_hops * 5 <= extra_ms <= 1.5 * mean_hops * 5
    assert ideal.receivers.dropped == slow.receivers.dropped == 0


def test_a_bulb_with_no_receive_buffer_loses_what_arrives_while_it_is_busy() -> None:
    sim = line_run(20000.0, buffer_bytes=0)
    assert sim.receivers.dropped > 0
    # The timeline shows when (its buckets end by the run's end; the last may be cut off).
    assert 0 < sum(b.rx_dropped for b in sim.timeline) <= sim.receivers.dropped
    roomy = line_run(20000.0)
    assert roomy.receivers.dropped < sim.receivers.dropped
