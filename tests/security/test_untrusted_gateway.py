"""Untrusted gateways in a MiniMesh: a bulb detects a gateway that drops or tampers with its
sessions, and moves its traffic to an honest one within seconds (CPython)."""

from collections.abc import Callable

from meshbulb.identity import Identity
from meshbulb.overlay import HANDSHAKE_PORT, SESSION_PORT, ExitClient, ExitServer
from meshbulb_testing.minimesh import MiniMesh
from meshbulb_testing.rng import Rng

SECRET = b"GET /bank-statement HTTP/1.1"


def random_bytes(seed: int) -> Callable[[int], bytes]:
    rng = Rng(seed)
    return lambda n: bytes(rng.below(256) for _ in range(n))


def echo(client: bytes, plaintext: bytes, now_ms: int) -> bytes:
    return b"echo:" + plaintext


class Tamperer(ExitServer):
    """A gateway that answers, but flips one bit of what it sends on the given port."""

    def __init__(self, *args: object, port: int, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.port = port

    def on_deliver(self, src: bytes, port: int, payload: bytes, now_ms: int) -> list:
        actions = super().on_deliver(src, port, payload, now_ms)
        out = []
        for action in actions:
            frame = action[3]
            if port == self.port and action[0] == 1:
                body = bytearray(frame)
                body[-12] ^= 0x01  # inside the payload, before the frame's own tail
                frame = bytes(body)
            out.append((action[0], action[1], action[2], frame))
        return out


class Dropper(ExitServer):
    """A gateway that completes handshakes and then drops every session packet."""

    def on_deliver(self, src: bytes, port: int, payload: bytes, now_ms: int) -> list:
        if port == SESSION_PORT:
            return []
        return super().on_deliver(src, port, payload, now_ms)


def build(bad: str) -> tuple[MiniMesh, ExitClient, int, int]:
    """Line: bad gateway 0 - bulb 1 - 2 - 3 - honest gateway 4."""
    mesh = MiniMesh(seed=4)
    bad_id, good_id = Identity(bytes(range(32))), Identity(bytes(range(1, 33)))
    mesh.add_node(gateway=True, address=bad_id.address)
    for _ in range(3):
        mesh.add_node()
    mesh.add_node(gateway=True, address=good_id.address)
    for i in range(4):
        mesh.link(i, i + 1)
    good = ExitServer(mesh.nodes[4], good_id, random_bytes(2), echo)
    mesh.apps[4] = good
    if bad == "tamper-handshake":
        mesh.apps[0] = Tamperer(mesh.nodes[0], bad_id, random_bytes(3), echo,
                                port=HANDSHAKE_PORT)
    elif bad == "tamper-data":
        mesh.apps[0] = Tamperer(mesh.nodes[0], bad_id, random_bytes(3), echo, port=SESSION_PORT)
    elif bad == "drop-data":
        mesh.apps[0] = Dropper(mesh.nodes[0], bad_id, random_bytes(3), echo)
    elif bad == "impostor":
        mesh.apps[0] = ExitServer(mesh.nodes[0], Identity(bytes(range(5, 37))),
                                  random_bytes(3), echo)  # a key not bound to its address
    client = ExitClient(mesh.nodes[1], random_bytes(1))
    mesh.apps[1] = client
    mesh.run(20000)
    assert mesh.nodes[1].best_gateway() == mesh.nodes[0].address  # the bad one is nearer
    return mesh, client, 0, 4


def run_until_reply(mesh: MiniMesh, client: ExitClient, limit_ms: int) -> int | None:
    mesh._handle(1, client.request(SECRET, mesh.clock()))
    start = mesh.now_ms
    while mesh.now_ms - start < limit_ms:
        mesh.run(100)
        if client.replies:
            return mesh.now_ms - start
    return None


def check_moved_to_honest_gateway(bad: str, within_ms: int) -> None:
    mesh, client, bad_gw, good_gw = build(bad)
    frames: list[bytes] = []
    mesh.tap = frames.append
    took = run_until_reply(mesh, client, 20000)
    assert took is not None and took <= within_ms, (bad, took)
    assert client.replies == [(mesh.nodes[good_gw].address, b"echo:" + SECRET)]
    assert client.failures == 1
    assert mesh.nodes[1].best_gateway() == mesh.nodes[good_gw].address
    assert not any(SECRET in frame for frame in frames)  # relays only ever carried ciphertext
    later = run_until_reply(mesh, client, 5000)  # and it stays with the honest gateway
    assert later is not None and client.failures == 1


def test_a_blackhole_gateway_is_left_within_seconds() -> None:
    check_moved_to_honest_gateway("blackhole", 5000)


def test_a_gateway_tampering_with_the_handshake_is_left_at_once() -> None:
    check_moved_to_honest_gateway("tamper-handshake", 2000)


def test_a_gateway_tampering_with_replies_is_left_at_once() -> None:
    check_moved_to_honest_gateway("tamper-data", 2000)


def test_a_gateway_dropping_session_data_is_left_after_the_reply_timeout() -> None:
    check_moved_to_honest_gateway("drop-data", 7000)


def test_an_impostor_key_is_refused() -> None:
    check_moved_to_honest_gateway("impostor", 2000)


def test_the_honest_gateway_serves_directly_when_it_is_nearest() -> None:
    mesh, client, _, good_gw = build("blackhole")
    mesh.nodes[1].penalise_gateway(mesh.nodes[0].address, mesh.clock())
    took = run_until_reply(mesh, client, 5000)
    assert took is not None and client.failures == 0
