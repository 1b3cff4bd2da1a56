"""UdpLink on loopback (127.0.0.1, ephemeral ports only)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable

import pytest
from link_testkit import WAIT_S, wait_until

from gateway.framing import LinkError
from gateway.udp_link import MAX_LEARNED_PEERS, UdpLink, peer_link_addr

LOOPBACK = "127.0.0.1"

Received = list[tuple[bytes, bytes, int]]




def recorder(received: Received) -> Callable[[bytes, bytes, int], None]:
    return lambda frame, src, rssi: received.append((frame, src, rssi))


async def open_link(received: Received, peers: list[tuple[str, int]] | None = None,
                    accept_any: bool = False) -> UdpLink:
    link = UdpLink(1, (LOOPBACK, 0), peers or [], recorder(received), accept_any=accept_any)
    await link.open()
    return link


def run(body: Callable[[], Awaitable[None]], timeout_s: float = WAIT_S * 3) -> None:
    asyncio.run(asyncio.wait_for(body(), timeout_s))


async def pair() -> tuple[UdpLink, Received, UdpLink, Received]:
    """Two links that know each other."""
    got_a: Received = []
    got_b: Received = []
    a = await open_link(got_a)
    b = await open_link(got_b, [(LOOPBACK, a.bound_port)])
    await a.add_peer(LOOPBACK, b.bound_port)
    return a, got_a, b, got_b


def test_unicast_and_broadcast_byte_exact() -> None:
    async def body() -> None:
        a, got_a, b, got_b = await pair()
        c_got: Received = []
        c = await open_link(c_got, [(LOOPBACK, a.bound_port)])
        await a.add_peer(LOOPBACK, c.bound_port)
        try:
            addr_a = peer_link_addr(LOOPBACK, a.bound_port)
            addr_b = peer_link_addr(LOOPBACK, b.bound_port)
            assert addr_b == f"udp:127.0.0.1:{b.bound_port}".encode()
            frames = [b"\x00", bytes(range(256)) * 5, b"\xff" * 1470]
            for f in frames:
                a.send(addr_b, f)
            await wait_until(lambda: len(got_b) == len(frames), "unicast frames")
            assert got_b == [(f, addr_a, 0) for f in frames]
            assert c_got == []

            a.send(None, b"to everyone")
            await wait_until(lambda: len(got_b) == 4 and len(c_got) == 1, "broadcast")
            assert got_b[-1] == (b"to everyone", addr_a, 0)
            assert c_got == [(b"to everyone", addr_a, 0)]

            b.send(addr_a, b"reply")  # the link_src a frame arrived with is a send address
            await wait_until(lambda: len(got_a) == 1, "reply")
            assert got_a == [(b"reply", addr_b, 0)]
            assert a.stats["frames_out"] == 5 and b.stats["frames_in"] == 4
            assert a.peers == [addr_b, peer_link_addr(LOOPBACK, c.bound_port)]
        finally:
            for link in (a, b, c):
                link.close()

    run(body)


def test_unknown_sources_are_dropped_and_counted() -> None:
    async def body() -> None:
        got: Received = []
        link = await open_link(got)
        stranger = await open_link([], [(LOOPBACK, link.bound_port)])
        try:
            stranger.send(None, b"hello?")
            stranger.send(None, b"anyone?")
            await wait_until(lambda: link.stats["unknown_peer"] == 2, "drops")
            assert got == []
            assert link.stats["frames_in"] == 0
        finally:
            link.close()
            stranger.close()

    run(body)


def test_accept_any_learns_peers_up_to_the_bound() -> None:
    async def body() -> None:
        got: Received = []
        link = await open_link(got, accept_any=True)
        socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(70)]
        try:
            for s in socks:
                s.bind((LOOPBACK, 0))
                s.sendto(b"hi", (LOOPBACK, link.bound_port))
            await wait_until(
                lambda: link.stats["frames_in"] + link.stats["peer_table_full"] == 70,
                "70 datagrams")
            assert link.stats["learned_peers"] == MAX_LEARNED_PEERS
            assert link.stats["peer_table_full"] == 70 - MAX_LEARNED_PEERS
            first = socks[0]
            first_addr = peer_link_addr(LOOPBACK, first.getsockname()[1])
            assert got[0] == (b"hi", first_addr, 0)
            link.send(first_addr, b"welcome")  # a learned peer can be answered
            first.settimeout(WAIT_S)
            assert first.recvfrom(2048) == (b"welcome", (LOOPBACK, link.bound_port))
        finally:
            link.close()
            for s in socks:
                s.close()

    run(body)


def test_oversize_and_empty_datagrams_are_dropped() -> None:
    async def body() -> None:
        a, got_a, b, got_b = await pair()
        raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            raw.bind((LOOPBACK, 0))
            await b.add_peer(LOOPBACK, raw.getsockname()[1])
            raw.sendto(b"x" * 1471, (LOOPBACK, b.bound_port))
            raw.sendto(b"", (LOOPBACK, b.bound_port))
            raw.sendto(b"y" * 1470, (LOOPBACK, b.bound_port))
            await wait_until(lambda: len(got_b) == 1, "the frame that fits")
            assert got_b[0][0] == b"y" * 1470
            await wait_until(lambda: b.stats["empty"] == 1, "the empty datagram")
            assert b.stats["oversize"] == 1
            with pytest.raises(LinkError, match="not in 1..1470"):
                a.send(None, b"z" * 1471)
            with pytest.raises(LinkError, match="not in 1..1470"):
                a.send(None, b"")
        finally:
            raw.close()
            a.close()
            b.close()

    run(body)


def test_errors_are_link_errors() -> None:
    async def body() -> None:
        got: Received = []
        link = await open_link(got)
        try:
            with pytest.raises(LinkError, match="no peer"):
                link.send(b"udp:127.0.0.1:9", b"frame")
            with pytest.raises(LinkError, match="already open"):
                await link.open()
            busy = UdpLink(2, (LOOPBACK, link.bound_port), [], recorder(got))
            with pytest.raises(LinkError, match=f"cannot bind UDP 127.0.0.1:{link.bound_port}"):
                await busy.open()
            bad_peer = UdpLink(3, (LOOPBACK, 0), [("bad host name!", 5000)], recorder(got))
            with pytest.raises(LinkError, match="cannot resolve UDP peer bad host name!:5000"):
                await bad_peer.open()
            assert not bad_peer.is_open
        finally:
            link.close()
        assert link.health() == "closed"
        with pytest.raises(LinkError, match="not open"):
            link.send(None, b"frame")
        with pytest.raises(LinkError, match="not open"):
            _ = link.bound_port

    run(body)


def test_send_to_a_closed_port_does_not_raise() -> None:
    async def body() -> None:
        gone = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        gone.bind((LOOPBACK, 0))
        gone_port = gone.getsockname()[1]
        gone.close()
        link = await open_link([], [(LOOPBACK, gone_port)])
        try:
            for _ in range(3):
                link.send(None, b"into the void")
                await asyncio.sleep(0.01)
            # An unconnected Linux UDP socket does not report ICMP port unreachable; were it
            # reported, it would land in send_errors. Either way nothing raises.
            assert link.stats["frames_out"] == 3
            assert link.health() == "ok"
        finally:
            link.close()

    run(body)


def test_full_send_queue_drops_frames() -> None:
    async def body() -> None:
        a, got_a, b, got_b = await pair()
        try:
            a._pause(True)  # what asyncio's pause_writing() reports when its queue is full
            a.send(None, b"dropped")
            a._pause(False)
            a.send(None, b"sent")
            await wait_until(lambda: len(got_b) == 1, "the frame sent after resuming")
            assert got_b[0][0] == b"sent"
            assert a.stats["tx_dropped"] == 1 and a.stats["frames_out"] == 1
        finally:
            a.close()
            b.close()

    run(body)


def test_peer_configured_by_name_keeps_its_name() -> None:
    async def body() -> None:
        got_a: Received = []
        got_b: Received = []
        a = await open_link(got_a)
        b = await open_link(got_b, [("localhost", a.bound_port)])
        try:
            addr_b = await a.add_peer(LOOPBACK, b.bound_port)
            a.send(addr_b, b"by name")
            await wait_until(lambda: len(got_b) == 1, "the frame")
            assert got_b[0][1] == f"udp:localhost:{a.bound_port}".encode()
            assert b.peers == [got_b[0][1]]
        finally:
            a.close()
            b.close()

    run(body)


def test_peer_link_addr_forms() -> None:
    assert peer_link_addr("bulb.lan", 4242) == b"udp:bulb.lan:4242"
    assert peer_link_addr("::1", 4242) == b"udp:[::1]:4242"


def test_ten_thousand_full_size_frames(capsys: pytest.CaptureFixture[str]) -> None:
    """10,000 frames of 1,470 bytes; UDP may drop some, at least 95 % must arrive."""
    count = 10_000
    window = 48  # frames in flight, well inside the receiver's socket buffer
    stall_s = 0.05  # a frame not seen by then is written off as lost
    frame = bytes(range(256)) * 5 + bytes(190)
    arrived = 0
    intact = 0

    def on_frame(f: bytes, src: bytes, rssi: int) -> None:
        nonlocal arrived, intact
        arrived += 1
        intact += f == frame

    async def body() -> float:
        a = await open_link([])
        b = UdpLink(2, (LOOPBACK, 0), [(LOOPBACK, a.bound_port)], on_frame)
        await b.open()
        addr_b = await a.add_peer(LOOPBACK, b.bound_port)
        written_off = 0
        try:
            start = time.perf_counter()
            for sent in range(1, count + 1):
                a.send(addr_b, frame)
                seen, seen_at = arrived, time.perf_counter()
                while sent - arrived - written_off > window:
                    await asyncio.sleep(0)
                    now = time.perf_counter()
                    if arrived != seen:
                        seen, seen_at = arrived, now
                    elif now - seen_at > stall_s:
                        written_off = sent - arrived
            seen, seen_at = arrived, time.perf_counter()
            while arrived < count and time.perf_counter() - seen_at < stall_s:
                await asyncio.sleep(0.001)
                if arrived != seen:
                    seen, seen_at = arrived, time.perf_counter()
            return seen_at - start
        finally:
            a.close()
            b.close()

    elapsed_s = asyncio.run(asyncio.wait_for(body(), 15.0))
    mbit_s = arrived * len(frame) * 8 / elapsed_s / 1e6
    with capsys.disabled():
        print(f"\nUDP loopback: {arrived}/{count} frames of {len(frame)} bytes "
              f"in {elapsed_s:.3f} s = {mbit_s:.0f} Mbit/s")
    assert intact == arrived
    assert arrived >= count * 95 // 100
