"""SerialLink on a real pseudo-terminal: the test holds the master end, the link the slave."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from link_testkit import WAIT_S, wait_until

from gateway.framing import Deframer, LinkError, encode
from gateway.serial_link import SerialLink

REPL_TEXT = b"MicroPython v1.23 on ESP32\r\n>>> "

Received = list[tuple[bytes, bytes, int]]


class Pty:
    """A pty pair; the test reads and writes the non-blocking master fd."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        self.name = os.ttyname(self.slave)
        os.set_blocking(self.master, False)

    def close(self) -> None:
        for fd in (self.master, self.slave):
            if fd >= 0:
                os.close(fd)
        self.master = self.slave = -1

    async def write(self, data: bytes) -> None:
        """Write everything, yielding to the link while the pty's buffer is full."""
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self.master, view) :]
            except BlockingIOError:
                await asyncio.sleep(0.001)

    def read_available(self) -> bytes:
        chunks = []
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except BlockingIOError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


class MasterFrames:
    """Frames the link wrote to the master end, decoded as they are polled."""

    def __init__(self, pty: Pty) -> None:
        self.pty = pty
        self.deframer = Deframer()
        self.frames: list[bytes] = []

    def at_least(self, count: int) -> bool:
        self.frames += self.deframer.feed(self.pty.read_available())
        return len(self.frames) >= count


@pytest.fixture
def pty() -> Iterator[Pty]:
    p = Pty()
    yield p
    p.close()




def run_with_link(
    pty: Pty, body: Callable[[SerialLink, Received], Awaitable[None]], max_frame_bytes: int = 1500
) -> None:
    """Open a SerialLink on the pty's slave, run body(link, received), always close it."""

    async def main() -> None:
        received: Received = []
        link = SerialLink(
            3, pty.name, lambda f, src, rssi: received.append((f, src, rssi)),
            max_frame_bytes=max_frame_bytes,
        )
        await link.open()
        try:
            await asyncio.wait_for(body(link, received), WAIT_S * 3)
        finally:
            link.close()

    asyncio.run(main())


def sample_frames() -> list[bytes]:
    return [b"\x01", b"\x00" * 40, bytes(range(256)) * 5, bytes(i % 251 for i in range(1500))]


def test_frames_from_the_bulb_arrive_byte_exact(pty: Pty) -> None:
    frames = sample_frames()

    async def body(link: SerialLink, received: Received) -> None:
        await pty.write(b"".join(encode(f) for f in frames))
        await wait_until(lambda: len(received) == len(frames), "frames")
        peer = b"serial:" + pty.name.encode()
        assert received == [(f, peer, 0) for f in frames]
        assert link.stats["frames_in"] == len(frames)
        assert link.health() == "ok"

    run_with_link(pty, body)


def test_recovers_from_garbage_and_corruption(pty: Pty) -> None:
    good = [b"first", b"second" * 50, b"third", b"fourth"]
    corrupted = bytearray(encode(b"corrupted frame body"))
    corrupted[5] ^= 0x10
    stream = (
        b"\xff\xfe boot noise \x13\x37"  # before any delimiter: a receiver mid-stream
        + encode(good[0])
        + bytes(corrupted)
        + encode(good[1])
        + b"\x02\x41\x42\x43 garbage \x00\x00\x07"
        + encode(good[2])
        + encode(good[3])[:-9]  # cut short, then a fresh copy
        + encode(good[3])
    )

    async def body(link: SerialLink, received: Received) -> None:
        await pty.write(stream)
        await wait_until(lambda: len(received) == 4, "good frames")
        assert [f for f, _, _ in received] == good
        stats = link.stats
        assert stats["crc_errors"] >= 1
        assert stats["crc_errors"] + stats["framing_errors"] >= 4

    run_with_link(pty, body)


def test_frames_sent_appear_on_the_master(pty: Pty) -> None:
    frames = sample_frames()

    async def body(link: SerialLink, received: Received) -> None:
        link.send(None, frames[0])
        for f in frames[1:]:
            link.send(link.peer_addr, f)
        master = MasterFrames(pty)
        await wait_until(lambda: master.at_least(len(frames)), "frames on the master")
        assert master.frames == frames
        assert master.deframer.crc_errors == master.deframer.framing_errors == 0
        assert link.stats["frames_out"] == len(frames)

    run_with_link(pty, body)


def test_partial_writes_are_queued_and_bounded(pty: Pty) -> None:
    """Nobody reads the master for a while: the pty fills, the link queues, then drops."""
    frames = [bytes([i % 255 + 1]) * 1400 for i in range(400)]

    async def body(link: SerialLink, received: Received) -> None:
        link.tx_buffer_limit_bytes = 32 * 1024
        sent: list[bytes] = []
        for f in frames:
            dropped = link.stats["tx_dropped"]
            link.send(None, f)
            if link.stats["tx_dropped"] == dropped:
                sent.append(f)
            assert link.stats["tx_queued_bytes"] <= link.tx_buffer_limit_bytes
        assert link.stats["tx_dropped"] > 0, "the pty never filled up"
        assert link.stats["tx_queued_bytes"] > 0
        master = MasterFrames(pty)
        await wait_until(lambda: master.at_least(len(sent)), "queued frames on the master")
        assert master.frames == sent  # whole frames, in order, none cut
        assert link.stats["tx_queued_bytes"] == 0
        link.send(None, b"after the burst")
        await wait_until(lambda: master.at_least(len(sent) + 1), "a frame after the burst")
        assert master.frames[-1] == b"after the burst"
        assert master.deframer.crc_errors == master.deframer.framing_errors == 0

    run_with_link(pty, body)


def test_wrong_mode_is_reported_for_repl_text(pty: Pty) -> None:
    async def body(link: SerialLink, received: Received) -> None:
        await pty.write(REPL_TEXT * 20)  # under 4 KB: not yet a verdict
        await wait_until(lambda: link.stats["bytes_in"] == len(REPL_TEXT) * 20, "REPL text")
        assert link.health() == "ok"
        await pty.write(REPL_TEXT * 200)
        await wait_until(lambda: link.wrong_mode, "the wrong-mode verdict")
        assert link.health() == (
            f"serial port {pty.name} receives data but no mesh frames: "
            "is the bulb running the mesh firmware (not the REPL)?"
        )
        assert received == []
        await pty.write(encode(b"mesh firmware now"))
        await wait_until(lambda: len(received) == 1, "a frame")
        assert link.health() == "ok"

    run_with_link(pty, body)


def test_oversize_frames_are_counted(pty: Pty) -> None:
    async def body(link: SerialLink, received: Received) -> None:
        await pty.write(encode(b"x" * 201) + encode(b"fits" * 50))
        await wait_until(lambda: len(received) == 1, "the frame that fits")
        assert link.stats["oversize"] == 1
        with pytest.raises(LinkError, match="exceeds 200"):
            link.send(None, b"y" * 201)

    run_with_link(pty, body, max_frame_bytes=200)


def test_unplugged_device_is_reported(pty: Pty) -> None:
    async def body(link: SerialLink, received: Received) -> None:
        os.close(pty.master)
        pty.master = -1
        await wait_until(lambda: not link.is_open, "the link to notice")
        assert link.health().startswith(f"serial port {pty.name} failed: ")
        link.send(None, b"frame")  # dropped and counted: the driver must not stop
        assert link.stats["tx_dropped"] == 1
        link.close()
        with pytest.raises(LinkError, match="not open"):
            link.send(None, b"frame")

    run_with_link(pty, body)


def test_send_checks_its_arguments(pty: Pty) -> None:
    async def body(link: SerialLink, received: Received) -> None:
        with pytest.raises(LinkError, match="no peer"):
            link.send(b"serial:/dev/other", b"frame")
        with pytest.raises(LinkError, match="empty"):
            link.send(None, b"")
        with pytest.raises(LinkError, match="already open"):
            await link.open()
        second = SerialLink(4, pty.name, lambda f, src, rssi: None)
        with pytest.raises(LinkError, match=f"{pty.name}: port locked by another program"):
            await second.open()

    run_with_link(pty, body)


def test_reopen_after_close(pty: Pty) -> None:
    async def body(link: SerialLink, received: Received) -> None:
        link.close()
        assert link.health() == "closed"
        await link.open()
        await pty.write(encode(b"again"))
        await wait_until(lambda: len(received) == 1, "a frame after reopening")
        assert received[0][0] == b"again"

    run_with_link(pty, body)


def test_closed_link() -> None:
    link = SerialLink(0, "/dev/ttyUSB-none", lambda f, src, rssi: None)
    assert link.health() == "closed"
    with pytest.raises(LinkError, match="not open"):
        link.send(None, b"frame")
    link.close()


def test_missing_port_raises_link_error() -> None:
    link = SerialLink(0, "/dev/meshbulb-no-such-port", lambda f, src, rssi: None)
    with pytest.raises(LinkError, match="/dev/meshbulb-no-such-port.*no such device"):
        asyncio.run(link.open())


def test_not_a_serial_device_raises_link_error(tmp_path: Path) -> None:
    plain = tmp_path / "not-a-tty"
    plain.write_bytes(b"")
    for port in (str(plain), str(tmp_path)):
        link = SerialLink(0, port, lambda f, src, rssi: None)
        with pytest.raises(LinkError, match="not a serial device") as info:
            asyncio.run(link.open())
        assert port in str(info.value)
