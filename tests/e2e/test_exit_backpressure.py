"""An internet peer that stops reading holds back its stream, not the gateway's memory
(exit.py rule 5): what a bulb uploads waits in the bulb once the connection's buffers are
full, and arrives whole when the peer reads again."""

from __future__ import annotations

import asyncio
import os
import socket

from meshbulb_gateway.emulator import Emulator
from meshbulb_gateway.exit import SEND_BUFFER_BYTES
from meshbulb_gateway.streams import MAX_WINDOW

PAYLOAD = os.urandom(6 * SEND_BUFFER_BYTES)  # three times what the kernel holds (it doubles)
HIGH_WATER_BYTES = 64 * 1024  # asyncio's default for a transport


async def _stall_then_read() -> tuple[int, int, bool, bytes]:
    """Upload PAYLOAD to a peer that reads nothing until the bytes stop moving: the most the
    exit held in user space meanwhile, the bytes it had taken from the mesh, whether the
    bulb's write was still waiting, and what the peer got once it read."""
    release = asyncio.Event()
    received = bytearray()
    done = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await release.wait()
        while chunk := await reader.read(65536):
            received.extend(chunk)
        writer.close()
        done.set()

    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # the peer takes little
    listener.bind(("127.0.0.1", 0))
    server = await asyncio.start_server(serve, sock=listener)
    port = listener.getsockname()[1]
    emulator = Emulator(nodes=3, gateways=1, layout="line", seed=3, allow=(f"127.0.0.1:{port}",))
    await emulator.start()
    assert emulator.connector is not None
    try:
        await emulator.wait_for_routes(30.0)
        (service,) = emulator.exits.values()
        stream = await asyncio.wait_for(emulator.connector.open(f"127.0.0.1:{port}"), 15.0)
        writing = asyncio.create_task(stream.write(PAYLOAD))
        peak, taken, still_s = 0, -1, 0.0
        for _ in range(600):  # until nothing has moved for 1.5 s, at most 60 s
            await asyncio.sleep(0.1)
            peak = max(peak, service.upload_backlog_bytes())
            still_s = still_s + 0.1 if service.bytes_up == taken else 0.0
            taken = service.bytes_up
            if still_s >= 1.5 or writing.done():
                break
        waiting = not writing.done()
        release.set()
        await asyncio.wait_for(writing, 60.0)
        stream.close()
        await asyncio.wait_for(done.wait(), 60.0)
        return peak, taken, waiting, bytes(received)
    finally:
        await emulator.stop()
        server.close()
        await server.wait_closed()


def test_a_peer_that_stops_reading_holds_back_the_bulb() -> None:
    peak, taken, waiting, received = asyncio.run(_stall_then_read())
    print(f"stalled after {taken:,} of {len(PAYLOAD):,} bytes; at most {peak:,} held in user space")
    assert waiting  # the bulb's write waits, so it keeps what the peer does not take
    assert taken < len(PAYLOAD)
    assert peak <= HIGH_WATER_BYTES + MAX_WINDOW  # one window written past the mark at most
    assert received == PAYLOAD  # once the peer reads again, everything arrives in order
