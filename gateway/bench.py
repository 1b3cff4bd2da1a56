"""`meshbulb bench gateway`: stream throughput through a 5-hop emulated mesh and directly
through the exit over a UDP link, CPU seconds per megabyte, and memory per open stream.
Figures are printed, never asserted.

Rules kept here:
1. "The internet" is a local HTTP origin on 127.0.0.1, let through the owner policy by an
   allow entry; nothing leaves the machine.
2. The direct case joins one host node and one gateway by two real UDP sockets on loopback
   with 1,470-byte frames; the stream segment size then fills a frame.
3. CPU time is the process's (both ends share it), so CPU seconds per MB is an upper bound
   for the gateway alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import os
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from meshbulb.auth import Keyring
from meshbulb.config import Config
from meshbulb.identity import Identity
from meshbulb.node import Node

from .connector import ExitConnector
from .emulator import Emulator
from .exit import ExitService
from .host import HostNode
from .policy import FairBandwidth, OwnerPolicy, Refusals, SessionLimits
from .udp_link import UdpLink

MESH_KEY = b"meshbulb bench mesh key"
_UDP_MTU = 1470
_UDP_MSS = 1300


class OriginServer(http.server.ThreadingHTTPServer):
    """A stand-in for an internet server on loopback. Its listen backlog is as deep as a real
    server's: with the standard library's 5, a burst of 100 connections overflowed the queue,
    and a connection whose handshake the kernel dropped waited for SYN-ACK retransmissions
    with exponential backoff (the likeliest cause of an e2e fetch that stalled a minute)."""

    request_queue_size = 1024
    daemon_threads = True


def start_origin(size: int) -> tuple[http.server.ThreadingHTTPServer, int]:
    body = os.urandom(size)

    class Origin(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = OriginServer(("127.0.0.1", 0), Origin)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


async def fetch(connector: ExitConnector, port: int) -> int:
    stream = await connector.open(f"127.0.0.1:{port}")
    await stream.write(b"GET / HTTP/1.0\r\n\r\n")
    received = 0
    while chunk := await stream.read():
        received += len(chunk)
    return received


def rss_bytes() -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


async def _timed(coro_fn: Callable[[], Any]) -> tuple[Any, float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    result = await coro_fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


async def through_mesh(size: int, port: int, hops: int = 5) -> dict[str, float]:
    emulator = Emulator(hops + 1, 1, layout="line", allow=(f"127.0.0.1:{port}",), seed=5)
    await emulator.start()
    await emulator.wait_for_routes()
    connector = emulator.connector
    assert connector is not None
    received, wall_s, cpu_s = await _timed(lambda: fetch(connector, port))
    await emulator.stop()
    return {"hops": hops, "bytes": received, "mbit_s": received * 8 / wall_s / 1e6,
            "cpu_s_per_mb": cpu_s / (received / 1e6)}


async def udp_pair(port: int) -> tuple[ExitConnector, list[Any], list[HostNode], ExitService]:
    loop = asyncio.get_running_loop()
    config = Config(mtu=_UDP_MTU, reassembly_max_bytes=4096)
    rng = random.Random(9)
    now_ms = int(loop.time() * 1000) & ((1 << 30) - 1)
    gw_id, node_id = Identity(rng.randbytes(32)), Identity(rng.randbytes(32))
    gw_host = HostNode(Node(gw_id.address, config, rng.randrange, now_ms, gateway=True,
                            keyring=Keyring(1, MESH_KEY)), loop)
    node_host = HostNode(Node(node_id.address, config, rng.randrange, now_ms,
                              keyring=Keyring(1, MESH_KEY)), loop)
    gw_link = UdpLink(0, ("127.0.0.1", 0), [], gw_host.on_frame(0), accept_any=True)
    await gw_link.open()
    node_link = UdpLink(0, ("127.0.0.1", 0), [("127.0.0.1", gw_link.bound_port)],
                        node_host.on_frame(0))
    await node_link.open()
    await gw_link.add_peer("127.0.0.1", node_link.bound_port)
    gw_host.add_link(gw_link)
    node_host.add_link(node_link)
    service = ExitService(gw_host, gw_id, OwnerPolicy.for_emulator((f"127.0.0.1:{port}",)),
                          SessionLimits(2048, 4096), FairBandwidth(0), Refusals(), mss=_UDP_MSS,
                          max_streams_per_client=4096)
    gw_host.add_app(service)
    connector = ExitConnector(node_host, mss=_UDP_MSS, max_streams=4096)
    node_host.add_app(connector)
    gw_host.start()
    node_host.start()
    while node_host.node.best_gateway() is None:
        await asyncio.sleep(0.05)
    return connector, [gw_link, node_link], [gw_host, node_host], service


async def through_exit(size: int, port: int) -> dict[str, float]:
    connector, links, hosts, _ = await udp_pair(port)
    received, wall_s, cpu_s = await _timed(lambda: fetch(connector, port))
    for host in hosts:
        host.stop()
    for link in links:
        link.close()
    return {"bytes": received, "mbit_s": received * 8 / wall_s / 1e6,
            "cpu_s_per_mb": cpu_s / (received / 1e6), "frame_bytes": _UDP_MTU}


async def held_streams(count: int, port: int) -> dict[str, float]:
    """Open `count` streams to an origin that keeps them open, and measure the memory."""
    held_writers: set[asyncio.StreamWriter] = set()

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held_writers.add(writer)
        with contextlib.suppress(ConnectionError):
            await reader.read()
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    hold_port = server.sockets[0].getsockname()[1]
    connector, links, hosts, service = await udp_pair(hold_port)
    before = rss_bytes()
    streams: list[Any] = []
    while len(streams) < count:  # in batches, as clients arrive
        batch = min(100, count - len(streams))
        streams += await asyncio.gather(*(connector.open(f"127.0.0.1:{hold_port}")
                                          for _ in range(batch)))
    held = service.open_streams()
    after = rss_bytes()
    for stream in streams:
        stream.close()
    for writer in held_writers:  # the origin hangs up too, so every handler ends by itself
        writer.close()
    await service.aclose()
    await asyncio.sleep(0.5)
    for host in hosts:
        host.stop()
    for link in links:
        link.close()
    server.close()
    await server.wait_closed()
    return {"streams": held, "rss_bytes_per_stream": (after - before) / max(1, held),
            "rss_mb_total": after / 1e6}


async def gateway_figures(size: int = 4 << 20, streams: int = 1000) -> dict[str, Any]:
    origin, port = start_origin(size)
    try:
        mesh = await through_mesh(1 << 20, port)
        direct = await through_exit(size, port)
        held = await held_streams(streams, port)
    finally:
        origin.shutdown()
    return {"through_5_hop_mesh": mesh, "through_exit_udp": direct, "concurrent_streams": held}
