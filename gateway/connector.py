"""The host node's way out: one end-to-end session with the best gateway, and reliable
streams inside it that proxies open to "host:port".

Rules kept here:
1. The session is overlay.ExitClient's, with the gateway the node selected. Streams ride in
   one StreamMux per session; when the session goes (gateway failed, penalised, replaced),
   its streams are reset with reason "gateway:lost" and new streams use the next gateway.
2. open() waits for a session (asking the client for one until the node has a gateway) and
   for the exit's answer, each bounded by a timeout, so no caller ever hangs: it returns a
   Stream or raises StreamOpenError with the exit's reason. A stream whose session goes
   while it opens (the node lost its route to that gateway) is opened once more in the next
   gateway's session.
3. A stream reset by the mux for "timeout" means the gateway stopped answering: the client
   is told to fail it (the node then penalises it and moves internet traffic elsewhere).
4. Stream data is read and written through asyncio queues with bounded buffering: write()
   waits while the mux's send buffer is full.
"""

from __future__ import annotations

import asyncio
import contextlib
import os

from meshbulb.compat import ticks_earliest
from meshbulb.overlay import ExitClient

from .host import Action, HostNode
from .streams import Accepted, Closed, Data, Opened, Refused, Reset, StreamMux

_TICK_MASK = (1 << 30) - 1
_GATEWAY_LOST = "gateway:lost"
_ROUTE_POLL_S = 0.25


class StreamOpenError(Exception):
    """A stream could not be opened; str(e) is the reason ("policy:private", ...)."""


class Stream:
    """One reliable byte stream through the mesh to the internet."""

    def __init__(self, connector: ExitConnector, mux: StreamMux, stream_id: int) -> None:
        self._connector = connector
        self._mux = mux
        self.stream_id = stream_id
        self.incoming: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.opened: asyncio.Future[str | None] = connector.host.loop.create_future()
        self.reset_reason: str | None = None

    async def read(self) -> bytes:
        """Next chunk of data; b"" at the end of the stream (closed or reset)."""
        chunk = await self.incoming.get()
        return chunk or b""

    async def write(self, data: bytes) -> None:
        while data:
            if self.reset_reason is not None:
                raise ConnectionError("stream reset: " + self.reset_reason)
            accepted = self._mux.write(self.stream_id, data)
            data = data[accepted:]
            self._connector.host.schedule()
            if data:
                await asyncio.sleep(0.005)

    def close(self) -> None:
        if self.reset_reason is None:
            self._mux.close(self.stream_id)
            self._connector.host.schedule()

    def _end(self, reason: str | None) -> None:
        if reason is not None and self.reset_reason is None:
            self.reset_reason = reason
        if not self.opened.done():
            self.opened.set_result(reason or "closed")
        self.incoming.put_nowait(None)


class ExitConnector:
    """Application (host.App) of a host node that proxies traffic to the internet."""

    def __init__(self, host: HostNode, session_timeout_s: float = 10.0,
                 open_timeout_s: float = 20.0, mss: int = 160, max_streams: int = 128) -> None:
        self.host = host
        self.max_streams = max_streams
        self.session_timeout_s = session_timeout_s
        self.open_timeout_s = open_timeout_s
        self.mss = mss
        self.client = ExitClient(host.node, os.urandom, on_message=self._on_message,
                                 on_session=self._on_session)
        self._mux: StreamMux | None = None
        self._gateway: bytes | None = None
        self._streams: dict[int, Stream] = {}
        self._session_up = asyncio.Event()
        self.gateway_failures = 0

    @property
    def gateway(self) -> bytes | None:
        return self._gateway

    # --- host.App ------------------------------------------------------------------------

    def on_deliver(self, src: bytes, port: int, payload: bytes, now_ms: int) -> list[Action]:
        result: list[Action] = self.client.on_deliver(src, port, payload, now_ms)
        return result

    def tick(self, now_ms: int) -> list[Action]:
        actions: list[Action] = self.client.tick(now_ms)
        if self._mux is not None:
            self._mux.tick(self._mono_ms())
            self._events()
        return actions

    def next_deadline_ms(self) -> int | None:
        deadline = self.client.next_deadline_ms()
        if self._mux is not None:
            mux_deadline = self._mux.next_deadline_ms()
            if mux_deadline is not None:
                mux_tick = mux_deadline & _TICK_MASK
                deadline = ticks_earliest(deadline, mux_tick)
        return deadline

    # --- sessions -------------------------------------------------------------------------

    def _mono_ms(self) -> int:
        return int(self.host.loop.time() * 1000)

    def _on_session(self, gateway: bytes | None) -> None:
        """Rule 1."""
        old_streams, self._streams = self._streams, {}
        for stream in old_streams.values():
            stream._end(_GATEWAY_LOST)
        self._mux = None
        self._gateway = gateway
        if gateway is None:
            self._session_up.clear()
            return

        def send(segment: bytes) -> None:
            self.host.execute(self.client.send(segment, self.host.now_ms()))

        self._mux = StreamMux(send, self._mono_ms(), mss=self.mss, initiator=True,
                              max_streams=self.max_streams)
        self._session_up.set()

    def _on_message(self, gateway: bytes, plaintext: bytes) -> None:
        if self._mux is not None and gateway == self._gateway:
            self._mux.receive(plaintext, self._mono_ms())
            self._events()

    def _events(self) -> None:
        mux = self._mux
        if mux is None:
            return
        for event in mux.events():
            stream = self._streams.get(event.stream_id)
            if isinstance(event, Accepted) and stream is not None:
                if not stream.opened.done():
                    stream.opened.set_result(None)
            elif isinstance(event, Refused) and stream is not None:
                self._streams.pop(event.stream_id, None)
                stream._end(event.reason)
            elif isinstance(event, Data) and stream is not None:
                stream.incoming.put_nowait(event.data)
            elif isinstance(event, Closed) and stream is not None:
                self._streams.pop(event.stream_id, None)
                stream._end(None)
            elif isinstance(event, Reset):
                if stream is not None:
                    self._streams.pop(event.stream_id, None)
                    stream._end(event.reason)
                if event.reason == "timeout":  # rule 3
                    self.gateway_failures += 1
                    self.host.execute(self.client.fail(self.host.now_ms()))
                    return
            elif isinstance(event, Opened):
                mux.refuse(event.stream_id, "not_an_exit")
        self.host.schedule()

    async def _wait_session(self) -> StreamMux:
        deadline_s = self.host.loop.time() + self.session_timeout_s
        asked = False
        while True:
            mux = self._mux
            if mux is not None:
                return mux
            if not asked:
                # Any datagram starts the key exchange and handshake with the selected
                # gateway (and the client retries on its own), once the node has one: while
                # it has none, asked again every _ROUTE_POLL_S.
                self.host.execute(self.client.send(b"", self.host.now_ms()))
                asked = self.host.node.best_gateway() is not None
            left_s = deadline_s - self.host.loop.time()
            if left_s <= 0:
                raise StreamOpenError("no_gateway: no session with a gateway")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._session_up.wait(),
                                       left_s if asked else min(left_s, _ROUTE_POLL_S))

    async def open(self, target: str) -> Stream:
        """Rule 2: a stream to target ("host:port"), or StreamOpenError."""
        for _ in range(2):
            mux = await self._wait_session()
            try:
                stream_id = mux.open_stream(target)
            except Exception as e:  # the mux's own limit (max_streams)
                raise StreamOpenError("limit:" + str(e)) from None
            if self._mux is not mux:
                # Sending the OPEN found the node without a route to the session's gateway
                # and ended the session: nobody would answer or end this stream.
                continue
            stream = Stream(self, mux, stream_id)
            self._streams[stream_id] = stream
            self.host.schedule()
            try:
                reason = await asyncio.wait_for(asyncio.shield(stream.opened),
                                                self.open_timeout_s)
            except TimeoutError:
                self._streams.pop(stream_id, None)
                mux.reset(stream_id, "timeout")
                raise StreamOpenError("timeout: the exit did not answer") from None
            if reason is None:
                return stream
            if reason != _GATEWAY_LOST:
                raise StreamOpenError(reason)
        raise StreamOpenError(_GATEWAY_LOST)
