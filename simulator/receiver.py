"""A bulb's receive path: its one CPU and ESP-NOW's receive buffer in front of it.

Rules kept here:
1. A bulb takes frames in one at a time, in the order they arrived, each for
   processing_s of CPU time (the core's receive, its MIC check and ESP-NOW's copy); what the
   frame makes the bulb do (forward it, answer it, hand it to the application) happens when
   that time is over. Timers and the bulb's own traffic cost no CPU time here.
2. A frame that arrives while the CPU is busy waits in ESP-NOW's receive buffer until the CPU
   takes it out. MicroPython's espnow module keeps that buffer as a ring of `rxbuf` bytes
   (526 by default: two 250-byte messages with their headers), where each message takes a
   13-byte header (length, timestamp, RSSI, sender) plus its bytes. A frame that does not fit
   is dropped and counted, as `ESPNow.stats()` counts dropped_rx_pkts.
3. A bulb switched off loses what its buffer held and what it was processing.
4. processing_s = 0 is the ideal bulb: every frame is taken in the moment it arrives and
   nothing is ever dropped here.
"""

from __future__ import annotations

# Rule 1: the core and its MIC take 33.5 us a frame on MicroPython's unix port on this
# machine (`meshbulb bench crypto`); an ESP32 at 240 MHz, a tenth of this machine's clock and
# doing several times less per cycle, should run it some 40 to 100 times slower: 1.3 to 3.4 ms.
# An estimate until a bulb is measured (docs/simulator.md).
FRAME_PROCESSING_US = 2000.0
ESPNOW_HEADER_BYTES = 13  # modespnow.c espnow_pkt_t: magic, length, time_ms, rssi, peer
ESPNOW_RXBUF_BYTES = 526  # MicroPython's default rxbuf: 2 * (13 + 250)


class ReceivePaths:
    """The receive paths of every bulb of a city, in flat lists indexed by bulb."""

    def __init__(self, count: int, processing_s: float, buffer_bytes: int) -> None:
        if processing_s < 0:
            raise ValueError(f"processing_s must be >= 0, got {processing_s!r}")
        if buffer_bytes < 0:
            raise ValueError(f"buffer_bytes must be >= 0, got {buffer_bytes!r}")
        self.processing_s = processing_s
        self.buffer_bytes = buffer_bytes
        self.busy_until_s = [0.0] * count  # when the CPU is done with what it has taken in
        self.buffered_bytes = [0] * count
        # per bulb, made when first needed: (time the CPU takes it out, bytes) of each frame
        # in the buffer, oldest first; a handful at most, so a list
        self._waiting: list[list[tuple[float, int]] | None] = [None] * count
        self.dropped = 0  # frames dropped by full buffers, all bulbs together

    def admit(self, i: int, now_s: float, frame_bytes: int) -> float | None:
        """Rules 1 and 2: when bulb i's CPU takes in a frame arriving now, or None if the
        receive buffer has no room for it."""
        busy_until = self.busy_until_s[i]
        if busy_until <= now_s:
            self.busy_until_s[i] = now_s + self.processing_s
            return now_s
        waiting = self._waiting[i]
        if waiting is None:
            waiting = self._waiting[i] = []
        while waiting and waiting[0][0] <= now_s:
            self.buffered_bytes[i] -= waiting.pop(0)[1]
        size = ESPNOW_HEADER_BYTES + frame_bytes
        if self.buffered_bytes[i] + size > self.buffer_bytes:
            self.dropped += 1
            return None
        waiting.append((busy_until, size))
        self.buffered_bytes[i] += size
        self.busy_until_s[i] = busy_until + self.processing_s
        return busy_until

    def switch_off(self, i: int, now_s: float) -> None:
        """Rule 3."""
        self.busy_until_s[i] = now_s
        self.buffered_bytes[i] = 0
        self._waiting[i] = None
