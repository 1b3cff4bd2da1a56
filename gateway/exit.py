"""The exit service of a gateway: end-to-end sessions with bulbs and host nodes, reliable
streams inside them, and TCP connections to the internet under the owner's policy.

Rules kept here:
1. Sessions are overlay.ExitServer's (X25519 handshake, AEAD packets). Each client session
   carries one StreamMux; a new session from a client resets the streams of its old one.
2. A stream opens with "host:port". The name is resolved here, at the exit (so DNS travels
   through the exit too), and every resolved address must pass the owner policy; otherwise
   the stream is refused with a reason the client's proxy shows, e.g. "policy:private".
3. Session limits (per client and total) and the shared, fair bandwidth cap apply to every
   stream. The cap holds in each direction on its own: internet to mesh, a read waits for
   its share before it is written into the stream; mesh to internet, bytes are written to
   the internet as they arrive and the stream then stops reading (its window closes, so the
   bulb sends no more) until their paced time has passed; under a cap a stream's window is
   about one second of it, so bursts stay that small. Every refusal is counted by reason.
4. Nothing here logs a destination, a client address or a payload.
5. An internet peer that reads slowly, or not at all, holds back the stream, not the
   gateway's memory: once a connection's unsent bytes pass its transport's high-water mark
   the stream stops reading until they drain, so its window closes and the bulb waits. Each
   connection's kernel send buffer is SEND_BUFFER_BYTES, far more than the mesh can fill in a
   round trip, so a stalled peer holds at most that plus the high-water mark and a window.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
from typing import Any

from meshbulb.identity import Identity
from meshbulb.overlay import ExitServer

from .host import Action, HostNode
from .policy import FairBandwidth, OwnerPolicy, Refusals, SessionLimits
from .streams import MAX_WINDOW, Accepted, Closed, Data, Opened, Refused, Reset, StreamMux

_READ_BYTES = 4096
_TICK_MASK = (1 << 30) - 1
# Rule 5: 2.6 MB/s at a 100 ms round trip, several times what a mesh carries; Linux doubles
# the value for its bookkeeping.
SEND_BUFFER_BYTES = 256 * 1024


class ExitService:
    """Application (host.App) of a gateway node."""

    def __init__(self, host: HostNode, identity: Identity, policy: OwnerPolicy,
                 limits: SessionLimits, bandwidth: FairBandwidth, refusals: Refusals,
                 connect_timeout_s: float = 10.0, mss: int = 160,
                 max_streams_per_client: int = 128) -> None:
        self.host = host
        self.max_streams_per_client = max_streams_per_client
        self.policy = policy
        self.limits = limits
        self.bandwidth = bandwidth  # internet to mesh
        self.upload = FairBandwidth(bandwidth.total_bytes_per_s, bandwidth.idle_s)  # rule 3
        self.refusals = refusals
        self.connect_timeout_s = connect_timeout_s
        self.mss = mss
        self.server = ExitServer(host.node, identity, os.urandom, self._serve,
                                 on_session=self._new_session)
        self._muxes: dict[bytes, StreamMux] = {}
        self._writers: dict[tuple[bytes, int], asyncio.StreamWriter] = {}
        self._half_closed: set[tuple[bytes, int]] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.bytes_up = 0
        self.bytes_down = 0
        self.streams_opened = 0

    # --- host.App ------------------------------------------------------------------------

    def on_deliver(self, src: bytes, port: int, payload: bytes, now_ms: int) -> list[Action]:
        result: list[Action] = self.server.on_deliver(src, port, payload, now_ms)
        return result

    def tick(self, now_ms: int) -> list[Action]:
        mono = self._mono_ms()
        for client, mux in list(self._muxes.items()):
            mux.tick(mono)
            self._events(client, mux)
        return []

    def next_deadline_ms(self) -> int | None:
        deadline: int | None = None
        for mux in self._muxes.values():
            d = mux.next_deadline_ms()
            if d is not None and (deadline is None or d < deadline):
                deadline = d
        return None if deadline is None else deadline & _TICK_MASK

    @property
    def sessions(self) -> int:
        return len(self._muxes)

    def open_streams(self) -> int:
        return len(self._writers)

    def sharing_clients(self) -> int:
        """Clients using the connection now, in either direction (rule 3)."""
        return len(self.bandwidth.clients() | self.upload.clients())

    def upload_backlog_bytes(self) -> int:
        """Bytes from the mesh the gateway holds for internet peers that have not taken them
        yet, beyond the kernel's send buffers (rule 5)."""
        return sum(w.transport.get_write_buffer_size() for w in self._writers.values())

    # --- sessions and streams -------------------------------------------------------------

    def _mono_ms(self) -> int:
        return int(self.host.loop.time() * 1000)

    def _new_session(self, client: bytes) -> None:
        old = self._muxes.pop(client, None)
        if old is not None:
            for key in [k for k in self._writers if k[0] == client]:
                self._close_writer(key, abort=True)

        def send(segment: bytes) -> None:
            self.host.execute(self.server.send_to(client, segment, self.host.now_ms()))

        self._muxes[client] = StreamMux(send, self._mono_ms(), mss=self.mss, initiator=False,
                                        max_streams=self.max_streams_per_client,
                                        recv_buffer=self._receive_window())

    def _receive_window(self) -> int:
        """Rule 3: under a cap, a stream's window holds about one second of it, so what a
        paused stream lets in meanwhile, and writes at once on resuming, stays that small."""
        rate = self.upload.total_bytes_per_s
        return MAX_WINDOW if rate <= 0 else min(MAX_WINDOW, max(4 * self.mss, rate))

    def _serve(self, client: bytes, plaintext: bytes, now_ms: int) -> None:
        mux = self._muxes.get(client)
        if mux is None:
            self._new_session(client)
            mux = self._muxes[client]
        mux.receive(plaintext, self._mono_ms())
        self._events(client, mux)
        return None

    def _events(self, client: bytes, mux: StreamMux) -> None:
        for event in mux.events():
            key = (client, event.stream_id)
            if isinstance(event, Opened):
                self._spawn(self._connect(client, mux, event.stream_id, event.target))
            elif isinstance(event, Data):
                writer = self._writers.get(key)
                if writer is not None:
                    self.bytes_up += len(event.data)
                    writer.write(event.data)
                    self._hold_up(client, mux, event.stream_id, writer, len(event.data))
            elif isinstance(event, Closed):
                writer = self._writers.get(key)
                if writer is not None and writer.can_write_eof():
                    writer.write_eof()
                self._half_close(key)
            elif isinstance(event, Reset):
                self._close_writer(key, abort=True)
            elif isinstance(event, (Accepted, Refused)):
                pass  # the exit never opens streams itself
        self.host.schedule()

    def _hold_up(self, client: bytes, mux: StreamMux, stream_id: int,
                 writer: asyncio.StreamWriter, nbytes: int) -> None:
        """Mesh to internet: stop reading the stream until these bytes' paced time has passed
        (rule 3) and the connection has taken them (rule 5)."""
        now_s = self.host.loop.time()
        self.upload.grant(client, nbytes, now_s)  # the bytes went at once: wait their time
        wait_s = self.upload.paced_until_s(client) - now_s
        transport = writer.transport
        backlogged = transport.get_write_buffer_size() > transport.get_write_buffer_limits()[1]
        if wait_s > 0 or backlogged:
            mux.pause_reading(stream_id)  # no Data for this stream until resumed: one hold
            self._spawn(self._resume_reading(client, mux, stream_id, writer, wait_s))

    async def _resume_reading(self, client: bytes, mux: StreamMux, stream_id: int,
                              writer: asyncio.StreamWriter, wait_s: float) -> None:
        if wait_s > 0:
            await asyncio.sleep(wait_s)
        key = (client, stream_id)
        try:
            await writer.drain()  # at once unless past the high-water mark
        except (OSError, ConnectionError):
            if self._writers.get(key) is writer:
                mux.reset(stream_id, "connect:reset")
                self._close_writer(key, abort=True)
                self.host.schedule()
            return
        if self._muxes.get(client) is mux:  # not if the session was replaced meanwhile
            mux.resume_reading(stream_id)
            self._events(client, mux)

    def _spawn(self, coro: Any) -> None:
        task = self.host.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _refuse(self, mux: StreamMux, stream_id: int, reason: str) -> None:
        self.refusals.count(reason)
        mux.refuse(stream_id, reason)
        self.host.schedule()

    async def _connect(self, client: bytes, mux: StreamMux, stream_id: int, target: str) -> None:
        host, _, port_text = target.rpartition(":")
        host = host.strip("[]")
        if not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
            self._refuse(mux, stream_id, "bad_target")
            return
        port = int(port_text)
        reason = self.limits.acquire(client)
        if reason is not None:
            self._refuse(mux, stream_id, "limit:" + reason)
            return
        try:
            await self._relay(client, mux, stream_id, host, port)
        finally:
            self.limits.release(client)

    async def _resolve(self, host: str, port: int) -> list[str]:
        try:
            return [str(ipaddress.ip_address(host))]  # a literal needs no lookup
        except ValueError:
            pass
        infos = await self.host.loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        return [str(info[4][0]) for info in infos]

    async def _relay(self, client: bytes, mux: StreamMux, stream_id: int, host: str,
                     port: int) -> None:
        try:
            addresses = await asyncio.wait_for(self._resolve(host, port), self.connect_timeout_s)
        except (TimeoutError, OSError):
            self._refuse(mux, stream_id, "dns:unresolved")
            return
        for address in addresses:
            refusal = self.policy.check(client, address, port)
            if refusal is not None:
                self._refuse(mux, stream_id, "policy:" + refusal)
                return
        connected = await self._open(addresses, port)
        if isinstance(connected, str):
            self._refuse(mux, stream_id, connected)
            return
        reader, writer = connected
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)  # rule 5
        key = (client, stream_id)
        if self._muxes.get(client) is not mux:  # the session was replaced meanwhile
            writer.close()
            return
        self._writers[key] = writer
        self.streams_opened += 1
        mux.accept(stream_id)
        self.host.schedule()
        await self._pump_down(client, mux, stream_id, reader)

    async def _open(self, addresses: list[str], port: int
                    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | str:
        """Connect to the first address that answers (a name may resolve to IPv6 and IPv4)."""
        reason = "connect:refused"
        for address in addresses:
            try:
                return await asyncio.wait_for(asyncio.open_connection(address, port),
                                              self.connect_timeout_s)
            except TimeoutError:
                reason = "connect:timeout"
            except OSError:
                reason = "connect:refused"
        return reason

    async def _pump_down(self, client: bytes, mux: StreamMux, stream_id: int,
                         reader: asyncio.StreamReader) -> None:
        """Internet to mesh, under the bandwidth cap and the stream's flow control."""
        key = (client, stream_id)
        try:
            while key in self._writers:
                data = await reader.read(_READ_BYTES)
                if not data:
                    if key in self._writers:
                        mux.close(stream_id)
                        self.host.schedule()
                        self._half_close(key)
                    return
                await self.bandwidth.take(client, len(data))
                while data and key in self._writers:
                    accepted = mux.write(stream_id, data)
                    self.bytes_down += accepted
                    data = data[accepted:]
                    self.host.schedule()
                    if data:
                        await asyncio.sleep(0.005)
        except (OSError, ConnectionError):
            if key in self._writers:
                mux.reset(stream_id, "connect:reset")
                self._close_writer(key, abort=True)
        finally:
            self.host.schedule()

    def _half_close(self, key: tuple[bytes, int]) -> None:
        """One direction of a stream ended; once both have, the connection is done."""
        if key in self._half_closed:
            self._close_writer(key)
        elif key in self._writers:
            self._half_closed.add(key)

    def _close_writer(self, key: tuple[bytes, int], abort: bool = False) -> None:
        """Close the connection: after its unsent bytes, or at once with abort (the stream was
        reset, so nobody wants them, and a stalled peer would keep them forever)."""
        self._half_closed.discard(key)
        writer = self._writers.pop(key, None)
        if writer is not None:
            if abort:
                writer.transport.abort()
            else:
                writer.close()

    async def aclose(self) -> None:
        for key in list(self._writers):
            self._close_writer(key)
        for task in list(self._tasks):
            task.cancel()
