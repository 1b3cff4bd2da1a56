"""Local proxies of a host node: SOCKS5 (RFC 1928, CONNECT, no authentication) and HTTP
CONNECT (RFC 9110 section 9.3.6). Each accepted client connection becomes one stream through
the mesh to the exit gateway.

Rules kept here:
1. Names are not resolved here: a SOCKS5 domain name or an HTTP CONNECT host goes to the exit
   as it is, so DNS travels through the exit.
2. A refused stream gives the client a clear error: SOCKS5 reply code 0x02 (not allowed by
   ruleset) for the owner policy and limits, 0x04 (host unreachable) for DNS and missing
   gateways, 0x05 (connection refused) otherwise; HTTP 403 for the policy, 502 otherwise, with
   the exit's reason in the body.
3. Every wait is bounded; a client that stalls during the greeting is dropped after
   handshake_timeout_s. Proxies listen on the address given (127.0.0.1 by default).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import struct

from .connector import ExitConnector, Stream, StreamOpenError

_COPY_BYTES = 4096
# Connections the kernel queues before accept(). Beyond asyncio's default of 100 it drops a
# burst's handshakes, which then wait for retransmissions with exponential backoff (an origin
# with the standard library's backlog of 5 dropped 327 in a burst of 100 fetches).
LISTEN_BACKLOG = 1024
_CLOSE_WAIT_S = 2.0  # how long aclose() waits for the handlers it ended


def socks_code(reason: str) -> int:
    if reason.startswith(("policy:", "limit:")):
        return 0x02
    if reason.startswith(("dns:", "no_gateway")):
        return 0x04
    return 0x05


async def _pipe_in(reader: asyncio.StreamReader, stream: Stream) -> None:
    """Client to mesh."""
    try:
        while True:
            data = await reader.read(_COPY_BYTES)
            if not data:
                break
            await stream.write(data)
    except (ConnectionError, OSError):
        pass
    finally:
        stream.close()


async def _pipe_out(stream: Stream, writer: asyncio.StreamWriter) -> None:
    """Mesh to client."""
    try:
        while True:
            data = await stream.read()
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            if writer.can_write_eof():
                writer.write_eof()


async def splice(stream: Stream, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
    await asyncio.gather(_pipe_in(reader, stream), _pipe_out(stream, writer))
    writer.close()


class _Proxy:
    """What both proxies share: the connector, counters, and their open client connections
    (closed by aclose(), so that a shutdown ends every handler instead of cancelling it)."""

    def __init__(self, connector: ExitConnector, handshake_timeout_s: float = 10.0) -> None:
        self.connector = connector
        self.handshake_timeout_s = handshake_timeout_s
        self.refused = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[object]] = set()

    async def aclose(self) -> None:
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()
        if self._handlers:  # let them finish, so that none is left pending when the loop stops
            await asyncio.wait(set(self._handlers), timeout=_CLOSE_WAIT_S)

    def _track(self, writer: asyncio.StreamWriter) -> None:
        """A handler starts serving a client connection."""
        self._writers.add(writer)
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)

    async def _release(self, writer: asyncio.StreamWriter) -> None:
        """A client connection is done: flush what is left and close it."""
        self._writers.discard(writer)
        with contextlib.suppress(OSError, RuntimeError):
            await writer.drain()
        writer.close()


class Socks5Proxy(_Proxy):

    async def start(self, host: str, port: int) -> asyncio.Server:
        return await asyncio.start_server(self._client, host, port, backlog=LISTEN_BACKLOG)

    async def _greet(self, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> str | None:
        version, count = await reader.readexactly(2)
        methods = await reader.readexactly(count)
        if version != 5 or 0 not in methods:
            writer.write(b"\x05\xff")
            return None
        writer.write(b"\x05\x00")
        version, command, _, address_type = await reader.readexactly(4)
        if version != 5 or command != 1:  # only CONNECT
            writer.write(b"\x05\x07\x00\x01" + bytes(6))
            return None
        if address_type == 1:
            host = str(ipaddress.IPv4Address(await reader.readexactly(4)))
        elif address_type == 4:
            host = "[" + str(ipaddress.IPv6Address(await reader.readexactly(16))) + "]"
        elif address_type == 3:
            length = (await reader.readexactly(1))[0]
            host = (await reader.readexactly(length)).decode("idna")
        else:
            writer.write(b"\x05\x08\x00\x01" + bytes(6))
            return None
        (port,) = struct.unpack(">H", await reader.readexactly(2))
        return f"{host}:{port}"

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._track(writer)
        try:
            target = await asyncio.wait_for(self._greet(reader, writer), self.handshake_timeout_s)
            if target is None:
                return
            try:
                stream = await self.connector.open(target)
            except StreamOpenError as e:
                self.refused += 1
                writer.write(b"\x05" + bytes((socks_code(str(e)),)) + b"\x00\x01" + bytes(6))
                return
            writer.write(b"\x05\x00\x00\x01" + bytes(6))
            await writer.drain()
            await splice(stream, reader, writer)
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError, OSError,
                UnicodeError, ValueError):
            pass
        finally:
            await self._release(writer)


class HttpConnectProxy(_Proxy):
    async def start(self, host: str, port: int) -> asyncio.Server:
        return await asyncio.start_server(self._client, host, port, backlog=LISTEN_BACKLOG)

    async def _request(self, reader: asyncio.StreamReader) -> tuple[str, str]:
        head = await reader.readuntil(b"\r\n\r\n")
        if len(head) > 8192:
            raise ValueError("request head too long")
        method, target, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
        return method, target

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._track(writer)
        try:
            method, target = await asyncio.wait_for(self._request(reader),
                                                    self.handshake_timeout_s)
            if method != "CONNECT" or ":" not in target:
                writer.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                return
            try:
                stream = await self.connector.open(target)
            except StreamOpenError as e:
                self.refused += 1
                reason = str(e).encode()
                status = b"403 Forbidden" if str(e).startswith("policy:") else b"502 Bad Gateway"
                writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Type: text/plain\r\n"
                             b"Content-Length: " + str(len(reason) + 1).encode() +
                             b"\r\n\r\n" + reason + b"\n")
                return
            writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            await writer.drain()
            await splice(stream, reader, writer)
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                ConnectionError, OSError, ValueError):
            pass
        finally:
            await self._release(writer)
