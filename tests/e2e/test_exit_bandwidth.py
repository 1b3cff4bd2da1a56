"""The owner's bandwidth cap through an emulated mesh, in each direction (exit.py rule 3): what
a bulb sends to the internet and what it downloads both go at the cap, not at the mesh's
speed, and arrive whole."""

from __future__ import annotations

import asyncio
import os

from meshbulb_gateway.emulator import Emulator

CAP_KBIT_S = 160  # 20,000 bytes per second
CAP_BYTES_S = CAP_KBIT_S * 1000 // 8
PAYLOAD = os.urandom(6 * CAP_BYTES_S)  # 6 s at the cap


class _Origin:
    """A TCP peer on loopback that takes everything sent to it, or sends PAYLOAD and closes;
    it notes when the first and the last byte passed."""

    def __init__(self, send: bool) -> None:
        self.send = send
        self.received = bytearray()
        self.first_s: float | None = None
        self.last_s: float | None = None
        self.done = asyncio.Event()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        if self.send:
            writer.write(PAYLOAD)
            await writer.drain()
        else:
            while chunk := await reader.read(65536):
                self.first_s = self.first_s or loop.time()
                self.last_s = loop.time()
                self.received += chunk
        writer.close()
        self.done.set()


async def _through_mesh(cap_kbit_s: int, upload: bool) -> tuple[bytes, float]:
    """PAYLOAD through a 3-bulb line and its gateway: the bytes that arrived and the seconds
    from the first byte to the last."""
    origin = _Origin(send=not upload)
    server = await asyncio.start_server(origin.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    emulator = Emulator(nodes=3, gateways=1, layout="line", seed=3,
                        allow=(f"127.0.0.1:{port}",), bandwidth_kbit_s=cap_kbit_s)
    await emulator.start()
    assert emulator.connector is not None
    try:
        await emulator.wait_for_routes(30.0)
        stream = await asyncio.wait_for(emulator.connector.open(f"127.0.0.1:{port}"), 15.0)
        loop = asyncio.get_running_loop()
        if upload:
            await asyncio.wait_for(stream.write(PAYLOAD), 60.0)
            stream.close()
            await asyncio.wait_for(origin.done.wait(), 60.0)
            assert origin.first_s is not None and origin.last_s is not None
            return bytes(origin.received), origin.last_s - origin.first_s
        got = bytearray()
        first_s = last_s = 0.0
        while chunk := await asyncio.wait_for(stream.read(), 60.0):
            first_s = first_s or loop.time()
            last_s = loop.time()
            got += chunk
        return bytes(got), last_s - first_s
    finally:
        await emulator.stop()
        server.close()
        await server.wait_closed()


def _rate(cap_kbit_s: int, upload: bool) -> float:
    data, seconds = asyncio.run(_through_mesh(cap_kbit_s, upload))
    assert data == PAYLOAD  # whole and in order, capped or not
    return len(data) / seconds


def test_uploads_go_at_the_cap() -> None:
    uncapped = _rate(0, upload=True)
    capped = _rate(CAP_KBIT_S, upload=True)
    print(f"upload: {uncapped:,.0f} B/s uncapped, {capped:,.0f} B/s at a cap of {CAP_BYTES_S:,}")
    assert uncapped > 2 * CAP_BYTES_S  # the mesh alone would go faster than the cap
    # Bytes go to the internet as they arrive and the stream then waits their time, so the
    # last window's worth (about a second of the cap) lands at once: 6/5 of the cap here.
    assert 0.5 * CAP_BYTES_S < capped < 1.35 * CAP_BYTES_S


def test_downloads_go_at_the_cap() -> None:
    uncapped = _rate(0, upload=False)
    capped = _rate(CAP_KBIT_S, upload=False)
    print(f"download: {uncapped:,.0f} B/s uncapped, {capped:,.0f} B/s at a cap of {CAP_BYTES_S:,}")
    assert uncapped > 2 * CAP_BYTES_S
    assert 0.5 * CAP_BYTES_S < capped < 1.25 * CAP_BYTES_S
