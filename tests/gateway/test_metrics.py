"""Prometheus metrics: the text format (HELP/TYPE, labels, escaping) and the HTTP endpoint,
fetched for real over 127.0.0.1, including requests that are garbage, too big or too slow."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable

import pytest

from meshbulb_gateway.metrics import (
    MAX_REQUEST_BYTES,
    Metrics,
    declare_gateway_metrics,
    format_value,
    serve_metrics,
)


def sample() -> Metrics:
    metrics = Metrics()
    frames = metrics.counter("meshbulb_frames_total", "Frames received", ["link"])
    frames.inc(link="serial0")
    frames.inc(3, link="serial0")
    frames.inc(link="udp0")
    sessions = metrics.gauge("meshbulb_sessions", "Open exit sessions")
    sessions.set(5)
    sessions.dec()
    return metrics


def test_render_format() -> None:
    assert sample().render() == (
        "# HELP meshbulb_frames_total Frames received\n"
        "# TYPE meshbulb_frames_total counter\n"
        'meshbulb_frames_total{link="serial0"} 4\n'
        'meshbulb_frames_total{link="udp0"} 1\n'
        "# HELP meshbulb_sessions Open exit sessions\n"
        "# TYPE meshbulb_sessions gauge\n"
        "meshbulb_sessions 4\n")


def test_unlabelled_metrics_start_at_zero_and_empty_registry_renders_nothing() -> None:
    metrics = Metrics()
    assert metrics.render() == ""
    metrics.counter("up_total", "x")
    metrics.gauge("labelled", "y", ["a"])
    assert metrics.render() == ("# HELP up_total x\n# TYPE up_total counter\nup_total 0\n"
                                "# HELP labelled y\n# TYPE labelled gauge\n")


def test_escaping_of_label_values_and_help() -> None:
    metrics = Metrics()
    metrics.counter("c_total", 'help with \\ and\nnewline and "quotes"', ["why"]).inc(
        why='a "quoted" \\ back\nslash')
    lines = metrics.render().splitlines()
    assert lines[0] == '# HELP c_total help with \\\\ and\\nnewline and "quotes"'
    assert lines[2] == 'c_total{why="a \\"quoted\\" \\\\ back\\nslash"} 1'


def test_multiple_labels_keep_declared_order() -> None:
    metrics = Metrics()
    g = metrics.gauge("link_up", "Link state", ["link", "kind"])
    g.set(1, kind="udp", link="l0")
    assert 'link_up{link="l0",kind="udp"} 1' in metrics.render()
    assert g.value(link="l0", kind="udp") == 1
    assert g.value(link="l1", kind="udp") == 0


def test_values() -> None:
    assert format_value(3) == "3"
    assert format_value(0.5) == "0.5"
    assert format_value(math.inf) == "+Inf"
    assert format_value(-math.inf) == "-Inf"
    assert format_value(math.nan) == "NaN"
    assert format_value(1e21) == "1e+21"


def test_declarations_are_checked() -> None:
    metrics = Metrics()
    c = metrics.counter("a_total", "x", ["reason"])
    assert metrics.counter("a_total", "x", ["reason"]) is c
    with pytest.raises(ValueError):
        metrics.gauge("a_total", "x", ["reason"])
    with pytest.raises(ValueError):
        metrics.counter("a_total", "x", ["other"])
    for bad_name in ("1abc", "has space", "dash-ed", ""):
        with pytest.raises(ValueError):
            metrics.counter(bad_name, "x")
    for bad_labels in (["__reserved"], ["a-b"], ["x", "x"]):
        with pytest.raises(ValueError):
            metrics.counter("b_total", "x", bad_labels)
    with pytest.raises(ValueError):
        c.inc(-1, reason="r")
    with pytest.raises(ValueError):
        c.inc(wrong="r")
    with pytest.raises(ValueError):
        c.inc()


def test_before_render_updates_gauges() -> None:
    metrics = Metrics()
    g = metrics.gauge("clients", "Active clients")
    live = [1, 2, 3]
    metrics.before_render(lambda: g.set(len(live)))
    assert "clients 3\n" in metrics.render()
    live.append(4)
    assert "clients 4\n" in metrics.render()


# -- the HTTP endpoint, over 127.0.0.1 -------------------------------------------------------------

async def fetch(port: int, request: bytes, eof: bool = False) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    if eof:
        writer.write_eof()
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(), 5)
    except ConnectionResetError:
        return b""
    finally:
        writer.close()


def split(response: bytes) -> tuple[str, dict[str, str], bytes]:
    head, _, body = response.partition(b"\r\n\r\n")
    status, *fields = head.decode("ascii").split("\r\n")
    return status, {k.lower(): v.strip() for k, _, v in (f.partition(":") for f in fields)}, body


async def with_server(metrics: Metrics, test: Callable[[int], Awaitable[None]],
                      request_timeout_s: float = 5.0, max_connections: int = 16) -> None:
    server = await serve_metrics(metrics, "127.0.0.1", 0, request_timeout_s, max_connections)
    try:
        port = server.sockets[0].getsockname()[1]
        await test(port)
    finally:
        server.close()
        await server.wait_closed()


def test_fetch_metrics_over_loopback() -> None:
    metrics = sample()

    async def test(port: int) -> None:
        status, fields, body = split(await fetch(port, b"GET /metrics HTTP/1.1\r\n"
                                                       b"Host: 127.0.0.1\r\n\r\n"))
        assert status == "HTTP/1.0 200 OK"
        assert fields["content-type"].startswith("text/plain; version=0.0.4")
        assert int(fields["content-length"]) == len(body)
        assert body.decode() == metrics.render()
        status, _, body = split(await fetch(port, b"GET /metrics?x=1 HTTP/1.0\r\n\r\n"))
        assert status == "HTTP/1.0 200 OK" and body.startswith(b"# HELP")
        status, fields, body = split(await fetch(port, b"HEAD /metrics HTTP/1.0\r\n\r\n"))
        assert status == "HTTP/1.0 200 OK" and body == b"" and int(fields["content-length"]) > 0

    asyncio.run(with_server(metrics, test))


def test_errors_leave_the_server_serving() -> None:
    async def test(port: int) -> None:
        cases = [
            (b"GET / HTTP/1.0\r\n\r\n", "404"),
            (b"GET /metricsx HTTP/1.0\r\n\r\n", "404"),
            (b"POST /metrics HTTP/1.0\r\n\r\n", "405"),
            (b"\x00\xff\xfe garbage \x01\r\n\r\n", "400"),
            (b"GET /metrics\r\n\r\n", "400"),
            (b"GET metrics HTTP/1.0\r\n\r\n", "400"),
            (b"GET /metrics SPDY/3\r\n\r\n", "400"),
            (b"\r\n\r\n", "400"),
            (b"GET /metrics HTTP/1.0\r\n" + b"X: " + b"a" * MAX_REQUEST_BYTES, "431"),
        ]
        for request, code in cases:
            response = await fetch(port, request)
            assert response.startswith(f"HTTP/1.0 {code} ".encode()), (request[:40], response)
        half_closed = await fetch(port, b"GET /metrics HTTP/1.0\r\n", eof=True)
        assert half_closed.startswith(b"HTTP/1.0 200 ")
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.close()  # a client that leaves at once
        assert (await fetch(port, b"GET /metrics HTTP/1.0\r\n\r\n")).startswith(b"HTTP/1.0 200")

    asyncio.run(with_server(sample(), test))


def test_a_slow_client_times_out() -> None:
    async def test(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /metr")
        response = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        assert response.startswith(b"HTTP/1.0 408 ")
        assert (await fetch(port, b"GET /metrics HTTP/1.0\r\n\r\n")).startswith(b"HTTP/1.0 200")

    asyncio.run(with_server(sample(), test, request_timeout_s=0.2))


async def status_soon(port: int, wanted: bytes) -> bytes:
    """The status line of the first fetch that gives `wanted`, trying for up to 2 s (the server
    notices connections opening and closing a moment after the client does)."""
    for _ in range(200):
        status = (await fetch(port, b"GET /metrics HTTP/1.0\r\n\r\n")).split(b"\r\n")[0]
        if wanted in status:
            break
        await asyncio.sleep(0.01)
    return status


def test_too_many_connections_get_503() -> None:
    async def test(port: int) -> None:
        idle = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
        assert await status_soon(port, b" 503 ") == b"HTTP/1.0 503 Service Unavailable"
        for _, writer in idle:
            writer.close()
        assert await status_soon(port, b" 200 ") == b"HTTP/1.0 200 OK"

    asyncio.run(with_server(sample(), test, max_connections=2))


def test_gateway_metrics_are_declared_once_with_their_labels() -> None:
    metrics = Metrics()
    gm = declare_gateway_metrics(metrics)
    gm.refusals.inc(reason="policy:private")
    gm.exit_bytes.inc(1500, direction="to_mesh")
    gm.uplink_up.set(1)
    text = metrics.render()
    assert 'meshbulb_gateway_refusals_total{reason="policy:private"} 1' in text
    assert 'meshbulb_gateway_exit_bytes_total{direction="to_mesh"} 1500' in text
    assert "meshbulb_gateway_uplink_up 1\n" in text
    assert declare_gateway_metrics(metrics).refusals is gm.refusals
