"""Real sockets on loopback around an emulated mesh: an HTTP origin ("the internet"), the
emulator on its own event-loop thread, and small blocking SOCKS5 / HTTP CONNECT clients."""

from __future__ import annotations

import asyncio
import http.client
import http.server
import os
import socket
import struct
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from meshbulb_gateway.bench import OriginServer
from meshbulb_gateway.emulator import Emulator, Endpoint

T = TypeVar("T")
BODY = os.urandom(1 << 20)
TIMEOUT_S = 60.0


class _Origin(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:
        body = BODY if self.path == "/big" else self.path.encode() * 64
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def origin() -> Iterator[int]:
    server = OriginServer(("127.0.0.1", 0), _Origin)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


class EmulatorThread:
    """The emulator on a background event loop; call() runs coroutines there."""

    def __init__(self, **kwargs: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.emulator = Emulator(**kwargs)
        self.endpoint: Endpoint = self.call(self.emulator.start())
        self.call(self.emulator.wait_for_routes(30.0))

    def call(self, coro: Coroutine[Any, Any, T], timeout_s: float = TIMEOUT_S) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)

    def close(self) -> None:
        self.call(self.emulator.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def listen_overflows() -> int | None:
    """The kernel's count of connections dropped because a listen queue was full (this
    network namespace, all sockets), or None where /proc/net/netstat does not say."""
    try:
        with open("/proc/net/netstat") as f:
            lines = [line.split() for line in f if line.startswith("TcpExt:")]
    except OSError:
        return None
    if len(lines) < 2 or "ListenOverflows" not in lines[0]:
        return None
    return int(lines[1][lines[0].index("ListenOverflows")])


class Refused(Exception):
    pass


def socks_fetch(socks_port: int, host: str, port: int, path: str = "/big") -> bytes:
    """GET path from host:port through the SOCKS5 proxy; the body, or Refused(code)."""
    with socket.create_connection(("127.0.0.1", socks_port), timeout=TIMEOUT_S) as s:
        s.sendall(b"\x05\x01\x00")
        if s.recv(2) != b"\x05\x00":
            raise Refused("greeting")
        try:
            address = b"\x01" + socket.inet_aton(host)
        except OSError:
            try:
                address = b"\x04" + socket.inet_pton(socket.AF_INET6, host)
            except OSError:  # a name: the proxy passes it on, the exit resolves it
                address = b"\x03" + bytes((len(host),)) + host.encode()
        s.sendall(b"\x05\x01\x00" + address + struct.pack(">H", port))
        reply = s.recv(10)
        if len(reply) < 2 or reply[1] != 0:
            raise Refused(f"socks code {reply[1] if len(reply) > 1 else None}")
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.0 200"):
        raise Refused(head[:40].decode(errors="replace"))
    return body


def connect_fetch(http_port: int, host: str, port: int, path: str = "/big") -> bytes:
    """GET path from host:port through the HTTP CONNECT proxy (http.client's tunnel)."""
    conn = http.client.HTTPConnection("127.0.0.1", http_port, timeout=TIMEOUT_S)
    conn.set_tunnel(host, port)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.read()
    except OSError as e:
        raise Refused(str(e)) from None
    finally:
        conn.close()
