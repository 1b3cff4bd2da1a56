"""Prometheus metrics without a library: counters and gauges with labels, rendered in the
text exposition format 0.0.4, served by a tiny HTTP/1.0 endpoint at GET /metrics.

Rules kept here:
1. Metric and label names are checked when declared; label values are escaped when rendered
   (backslash, double quote, newline), HELP text likewise (backslash, newline).
2. Labels carry small fixed sets (reason, link, state), never a destination or a client
   address: metrics are as private as the logs.
3. The server answers one request per connection and closes it. A request head larger than
   MAX_REQUEST_BYTES, slower than ``request_timeout_s``, or malformed gets a 4xx and never
   disturbs other connections; at most ``max_connections`` are served at once.
4. No global registry: each Metrics is an object the driver creates and passes around.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MAX_REQUEST_BYTES = 8192

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")


class _Metric:
    kind = "untyped"

    def __init__(self, name: str, help: str, labels: Sequence[str]) -> None:
        if not _NAME.match(name):
            raise ValueError(f"bad metric name {name!r}")
        for label in labels:
            if not _LABEL.match(label) or label.startswith("__"):
                raise ValueError(f"bad label name {label!r}")
        if len(set(labels)) != len(labels):
            raise ValueError(f"repeated label in {labels!r}")
        self.name = name
        self.help = help
        self.labels = tuple(labels)
        self._values: dict[tuple[str, ...], float] = {}
        if not self.labels:
            self._values[()] = 0

    def _key(self, labels: dict[str, str]) -> tuple[str, ...]:
        if set(labels) != set(self.labels):
            raise ValueError(f"{self.name} takes labels {self.labels!r}, got {tuple(labels)!r}")
        return tuple(str(labels[name]) for name in self.labels)

    def value(self, **labels: str) -> float:
        """The current value of one series (0 if it was never touched)."""
        return self._values.get(self._key(labels), 0)

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {_escape_help(self.help)}", f"# TYPE {self.name} {self.kind}"]
        for key, value in self._values.items():
            if key:
                pairs = ",".join(f'{n}="{_escape_label(v)}"'
                                 for n, v in zip(self.labels, key, strict=True))
                lines.append(f"{self.name}{{{pairs}}} {format_value(value)}")
            else:
                lines.append(f"{self.name} {format_value(value)}")
        return lines


class Counter(_Metric):
    """A value that only goes up (it restarts from 0 with the process)."""

    kind = "counter"

    def inc(self, value: float = 1, **labels: str) -> None:
        if value < 0:
            raise ValueError("a counter cannot go down")
        key = self._key(labels)
        self._values[key] = self._values.get(key, 0) + value


class Gauge(_Metric):
    """A value that goes up and down."""

    kind = "gauge"

    def set(self, value: float, **labels: str) -> None:
        self._values[self._key(labels)] = value

    def inc(self, value: float = 1, **labels: str) -> None:
        key = self._key(labels)
        self._values[key] = self._values.get(key, 0) + value

    def dec(self, value: float = 1, **labels: str) -> None:
        self.inc(-value, **labels)


class Metrics:
    """A registry of counters and gauges, rendered in declaration order."""

    def __init__(self) -> None:
        self._metrics: dict[str, _Metric] = {}
        self._before_render: list[Callable[[], None]] = []

    def counter(self, name: str, help: str, labels: Sequence[str] = ()) -> Counter:
        metric = self._declare(Counter(name, help, labels))
        assert isinstance(metric, Counter)
        return metric

    def gauge(self, name: str, help: str, labels: Sequence[str] = ()) -> Gauge:
        metric = self._declare(Gauge(name, help, labels))
        assert isinstance(metric, Gauge)
        return metric

    def _declare(self, metric: _Metric) -> _Metric:
        old = self._metrics.get(metric.name)
        if old is None:
            self._metrics[metric.name] = metric
            return metric
        if type(old) is not type(metric) or old.labels != metric.labels:
            raise ValueError(f"{metric.name} is already declared as a {old.kind} with labels "
                             f"{old.labels!r}")
        return old

    def before_render(self, update: Callable[[], None]) -> None:
        """Call ``update`` at every render, e.g. to set gauges from live tables."""
        self._before_render.append(update)

    def render(self) -> str:
        """All metrics in the text exposition format 0.0.4."""
        for update in self._before_render:
            update()
        lines: list[str] = []
        for metric in self._metrics.values():
            lines.extend(metric.render())
        return "\n".join(lines) + "\n" if lines else ""


@dataclass(frozen=True)
class GatewayMetrics:
    """The gateway's metrics, declared in one place so that code and docs/gateway.md agree."""

    uplink_up: Gauge
    uplink_health: Gauge
    neighbours: Gauge
    routes: Gauge
    link_up: Gauge
    frames_in: Counter
    frames_out: Counter
    drops: Counter
    sessions: Gauge
    clients: Gauge
    upload_backlog: Gauge
    exit_bytes: Counter
    refusals: Counter


def declare_gateway_metrics(metrics: Metrics) -> GatewayMetrics:
    p = "meshbulb_gateway_"
    return GatewayMetrics(
        uplink_up=metrics.gauge(p + "uplink_up", "1 while the uplink check succeeds, else 0"),
        uplink_health=metrics.gauge(p + "uplink_health",
                                    "Uplink health announced to the mesh, 0 (down) to 255"),
        neighbours=metrics.gauge(p + "neighbours", "Mesh neighbours heard recently"),
        routes=metrics.gauge(p + "routes", "Routes the gateway node holds", ["table"]),
        link_up=metrics.gauge(p + "link_up", "1 while a link to the mesh is open", ["link"]),
        frames_in=metrics.counter(p + "frames_in_total", "Mesh frames received", ["type"]),
        frames_out=metrics.counter(p + "frames_out_total", "Mesh frames sent", ["type"]),
        drops=metrics.counter(p + "drops_total", "Mesh frames dropped", ["reason"]),
        sessions=metrics.gauge(p + "sessions", "Open connections from the mesh to the internet"),
        clients=metrics.gauge(p + "clients", "Clients sharing the bandwidth now"),
        upload_backlog=metrics.gauge(p + "upload_backlog_bytes",
                                     "Bytes from the mesh waiting for slow internet peers"),
        exit_bytes=metrics.counter(p + "exit_bytes_total", "Bytes carried for the mesh",
                                   ["direction"]),
        refusals=metrics.counter(p + "refusals_total", "Connections refused, by reason",
                                 ["reason"]),
    )


def format_value(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _escape_label(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


# -- the HTTP endpoint ------------------------------------------------------------------------

_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
            408: "Request Timeout", 431: "Request Header Fields Too Large",
            503: "Service Unavailable"}


async def serve_metrics(metrics: Metrics, host: str, port: int, request_timeout_s: float = 5.0,
                        max_connections: int = 16) -> asyncio.Server:
    """Serve ``metrics`` at http://host:port/metrics (port 0 picks a free port; read it from
    ``server.sockets[0].getsockname()``). Close the returned server to stop."""
    open_connections = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal open_connections
        open_connections += 1
        try:
            if open_connections > max_connections:
                status, body, head_only = 503, "busy\n", False
            else:
                status, body, head_only = await _answer(metrics, reader, request_timeout_s)
            payload = body.encode("utf-8")
            content_type = CONTENT_TYPE if status == 200 else "text/plain; charset=utf-8"
            writer.write((f"HTTP/1.0 {status} {_REASONS[status]}\r\n"
                          f"Content-Type: {content_type}\r\n"
                          f"Content-Length: {len(payload)}\r\n"
                          "Connection: close\r\n\r\n").encode("ascii"))
            if not head_only:
                writer.write(payload)
            await asyncio.wait_for(writer.drain(), request_timeout_s)
        except OSError:  # the client went away or stalled (ConnectionError, TimeoutError)
            pass
        finally:
            open_connections -= 1
            writer.close()

    return await asyncio.start_server(handle, host, port, limit=MAX_REQUEST_BYTES)


async def _answer(metrics: Metrics, reader: asyncio.StreamReader,
                  timeout_s: float) -> tuple[int, str, bool]:
    """(status, body, head only) for the request waiting on ``reader``."""
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout_s)
    except TimeoutError:
        return 408, "request timeout\n", False
    except asyncio.LimitOverrunError:
        return 431, "request too large\n", False
    except asyncio.IncompleteReadError as e:
        head = e.partial  # HTTP/0.9-style or half-closed request: judge what arrived
    line = head.split(b"\r\n", 1)[0].split(b"\n", 1)[0]
    try:
        method, target, version = line.decode("ascii").split(" ")
    except (UnicodeDecodeError, ValueError):
        return 400, "bad request\n", False
    if not version.startswith("HTTP/1.") or not target.startswith("/"):
        return 400, "bad request\n", False
    if target.split("?", 1)[0] != "/metrics":
        return 404, "not found; try /metrics\n", False
    if method not in ("GET", "HEAD"):
        return 405, "method not allowed\n", False
    return 200, metrics.render(), method == "HEAD"
