"""UDP link on the LAN: one datagram per mesh frame, to and from a list of known peers.

Rules kept here:
1. A peer's link address is f"udp:{host}:{port}".encode() with host as configured (an IPv6
   literal is written in brackets). Names are resolved once, in open() or add_peer(), in the
   bound socket's address family; datagrams are matched to peers by source IP and port.
2. A datagram from an unknown source is dropped and counted (unknown_peer), unless
   accept_any is set: then its source is learned as a peer, at most MAX_LEARNED_PEERS of
   them (further sources are counted as peer_table_full). Learned peers are never evicted,
   so a flood of forged sources cannot push out a real peer.
3. An empty datagram or one over max_frame_bytes is dropped and counted; every other
   datagram reaches on_frame(frame, link_src, rssi_dbm) with rssi_dbm 0. on_frame must not
   raise.
4. send(None, frame) is a broadcast: one datagram to every peer, configured or learned.
   send() never blocks; while asyncio's send queue for the socket is over its high-water
   mark (it has paused writing, 64 KiB by default) frames are dropped and counted
   (tx_dropped). Send errors the OS reports later (ICMP errors, on sockets that get them)
   are counted as send_errors.
5. LinkError (framing.py) is the only error raised: a bind that fails, a peer that does not
   resolve, send() while closed, to an unknown link address, or with a bad frame size.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any

from .framing import LinkError

MAX_LEARNED_PEERS = 64

FrameHandler = Callable[[bytes, bytes, int], None]
SockAddr = tuple[Any, ...]


def peer_link_addr(host: str, port: int) -> bytes:
    """The link address of the UDP peer host:port (rule 1)."""
    shown = f"[{host}]" if ":" in host else host
    return f"udp:{shown}:{port}".encode()


class UdpLink:
    """A mesh link over UDP. Call `await open()`, then `send()`; `close()` ends it."""

    def __init__(
        self,
        link_id: int,
        bind: tuple[str, int],
        peers: list[tuple[str, int]],
        on_frame: FrameHandler,
        max_frame_bytes: int = 1470,
        accept_any: bool = False,
    ) -> None:
        self.link_id = link_id
        self.bind = bind
        self.max_frame_bytes = max_frame_bytes
        self.accept_any = accept_any
        self._configured = list(peers)
        self._on_frame = on_frame
        self._transport: asyncio.DatagramTransport | None = None
        self._family = socket.AF_INET
        self._by_source: dict[tuple[str, int], bytes] = {}  # (ip, port) -> link address
        self._targets: dict[bytes, SockAddr] = {}  # link address -> socket address
        self._learned = 0
        self._paused = False  # asyncio paused writing: its send queue is full
        self._down_reason: str | None = None
        self._counts = dict.fromkeys(
            ("frames_in", "frames_out", "unknown_peer", "peer_table_full", "oversize",
             "empty", "tx_dropped", "send_errors"), 0)

    @property
    def is_open(self) -> bool:
        return self._transport is not None

    @property
    def stats(self) -> dict[str, int]:
        """Counters (rules 2-4); frames_out counts datagrams, one per peer of a broadcast."""
        return {**self._counts, "peers": len(self._targets), "learned_peers": self._learned}

    @property
    def bound_port(self) -> int:
        """The local UDP port, useful after binding port 0."""
        if self._transport is None:
            raise LinkError(f"UDP link {self.bind[0]}:{self.bind[1]} is not open")
        port: int = self._transport.get_extra_info("sockname")[1]
        return port

    @property
    def peers(self) -> list[bytes]:
        """Link addresses of every peer, configured then learned."""
        return list(self._targets)

    def health(self) -> str:
        """"ok", "closed" or the reason the socket failed."""
        if self._down_reason is not None:
            return f"UDP link {self.bind[0]}:{self.bind[1]} failed: {self._down_reason}"
        return "ok" if self._transport is not None else "closed"

    async def open(self) -> None:
        """Bind and resolve the configured peers; raises LinkError naming what failed."""
        if self._transport is not None:
            raise LinkError(f"UDP link {self.bind[0]}:{self.bind[1]} is already open")
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _Protocol(self), local_addr=self.bind)
        except OSError as e:
            raise LinkError(
                f"cannot bind UDP {self.bind[0]}:{self.bind[1]}: {e.strerror or e}") from e
        self._transport = transport
        self._paused = False
        self._down_reason = None
        self._family = transport.get_extra_info("socket").family
        try:
            for host, port in self._configured:
                await self._resolve(host, port)
        except LinkError:
            self.close()
            raise

    async def add_peer(self, host: str, port: int) -> bytes:
        """Add a configured peer (resolved now if the link is open); return its link address."""
        if self._transport is None:
            self._configured.append((host, port))
            return peer_link_addr(host, port)
        return await self._resolve(host, port)

    def send(self, link_addr: bytes | None, frame: bytes) -> None:
        """Send frame to the peer at link_addr, or to every peer when link_addr is None."""
        transport = self._transport
        if transport is None:
            raise LinkError(f"UDP link {self.bind[0]}:{self.bind[1]} is not open")
        if not 0 < len(frame) <= self.max_frame_bytes:
            raise LinkError(f"frame of {len(frame)} bytes is not in 1..{self.max_frame_bytes}")
        if link_addr is None:
            targets = list(self._targets.values())
        else:
            target = self._targets.get(link_addr)
            if target is None:
                raise LinkError(f"UDP link has no peer {link_addr!r}")
            targets = [target]
        for target in targets:
            if self._paused:
                self._counts["tx_dropped"] += 1
                continue
            transport.sendto(frame, target)
            self._counts["frames_out"] += 1

    def close(self) -> None:
        """Close the socket; peers learned are forgotten. Safe to call more than once."""
        transport, self._transport = self._transport, None
        if transport is not None:
            transport.close()
        self._by_source.clear()
        self._targets.clear()
        self._learned = 0

    # --- helpers and protocol callbacks -------------------------------------------------------

    async def _resolve(self, host: str, port: int) -> bytes:
        link_addr = peer_link_addr(host, port)
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, family=self._family,
                                           type=socket.SOCK_DGRAM)
        except (OSError, UnicodeError) as e:
            raise LinkError(f"cannot resolve UDP peer {host}:{port}: {e}") from e
        sockaddr = infos[0][4]
        self._add(link_addr, sockaddr)
        return link_addr

    def _add(self, link_addr: bytes, sockaddr: SockAddr) -> None:
        source = (str(sockaddr[0]), int(sockaddr[1]))
        if source in self._by_source or link_addr in self._targets:
            return  # the first name for an address wins
        self._by_source[source] = link_addr
        self._targets[link_addr] = sockaddr

    def _datagram(self, data: bytes, addr: SockAddr) -> None:
        if self._transport is None:
            return
        source = (str(addr[0]), int(addr[1]))
        link_addr = self._by_source.get(source)
        if link_addr is None and not self.accept_any:
            self._counts["unknown_peer"] += 1
            return
        if len(data) > self.max_frame_bytes:
            self._counts["oversize"] += 1
            return
        if not data:
            self._counts["empty"] += 1
            return
        if link_addr is None:
            if self._learned >= MAX_LEARNED_PEERS:
                self._counts["peer_table_full"] += 1
                return
            link_addr = peer_link_addr(*source)
            self._add(link_addr, addr)
            self._learned += 1
        self._counts["frames_in"] += 1
        self._on_frame(data, link_addr, 0)

    def _pause(self, paused: bool) -> None:
        self._paused = paused

    def _send_error(self, exc: Exception) -> None:
        self._counts["send_errors"] += 1

    def _lost(self, transport: asyncio.BaseTransport | None, exc: Exception | None) -> None:
        if exc is not None and transport is not None and transport is self._transport:
            self._down_reason = str(exc) or type(exc).__name__
            self.close()


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, link: UdpLink) -> None:
        self._link = link
        self._transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self._link._datagram(data, addr)

    def pause_writing(self) -> None:
        self._link._pause(True)

    def resume_writing(self) -> None:
        self._link._pause(False)

    def error_received(self, exc: Exception) -> None:
        self._link._send_error(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self._link._lost(self._transport, exc)
