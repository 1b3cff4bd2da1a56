"""Fuzzing the core's parsers through Node.receive() (CPython; the MicroPython run of a
smaller seeded fuzz lives in tests/core/test_node_robustness.py)."""

from hypothesis import given, settings
from hypothesis import strategies as st

from meshbulb import wire
from meshbulb.config import Config
from meshbulb.node import Node
from meshbulb_testing import fuzz
from meshbulb_testing.rng import Rng


def test_100k_mutated_frames_keep_every_invariant() -> None:
    figures = fuzz.run(100_000, seed=2026)
    assert figures["frames"] == 100_000
    assert "internal_error" not in figures["drops"]
    # The mutations reach every layer: header checks, payload checks and table logic.
    for reason in ("short", "bad_version", "bad_type", "bad_payload", "duplicate"):
        assert figures["drops"].get(reason, 0) > 0, reason
    assert figures["accepted"] > 10_000


def test_every_truncation_of_every_frame_type_is_rejected() -> None:
    assert fuzz.truncations_rejected(seed=99) > 1000


@settings(max_examples=3000, deadline=None)
@given(frame=st.binary(max_size=300), rssi_dbm=st.integers(-120, 0))
def test_arbitrary_bytes_never_raise(frame: bytes, rssi_dbm: int) -> None:
    node = Node(b"\x02\x00\x00\x00\x00\x01", Config(), Rng(1).below, 0)
    node.receive(frame, 0, b"\x02\x00\x00\x00\x00\x02", rssi_dbm, 0)
    assert node.stats.drop_count("internal_error") == 0


@settings(max_examples=3000, deadline=None)
@given(
    ftype=st.integers(0, 15), flags=st.integers(0, 255), hops=st.integers(0, 65535),
    payload=st.binary(max_size=240),
)
def test_well_formed_headers_with_arbitrary_payloads_never_raise(
    ftype: int, flags: int, hops: int, payload: bytes
) -> None:
    node = Node(b"\x02\x00\x00\x00\x00\x01", Config(), Rng(1).below, 0)
    buf = bytearray(wire.HEADER_LEN)
    wire.pack_header(buf, 0, flags, 0, hops, 3, b"\x02\x00\x00\x00\x00\x07", wire.BROADCAST, 9)
    buf[0] = (wire.VERSION << 4) | ftype
    node.receive(bytes(buf) + payload, 0, b"\x02\x00\x00\x00\x00\x07", -60, 0)
    assert node.stats.drop_count("internal_error") == 0
    assert len(node.neighbours) <= 1


def test_with_a_mesh_key_every_mutated_frame_is_rejected() -> None:
    # Without the key nothing gets in: every mutation fails the MIC, the key id or the replay
    # window (an unchanged frame is a replay), so no table is ever touched.
    figures = fuzz.run(30_000, seed=7, mesh_key=b"community key 16")
    assert figures["accepted"] == 0, figures
    assert figures["drops"].get("bad_mic", 0) > 10_000
    assert "internal_error" not in figures["drops"]


def test_with_a_mesh_key_every_truncation_is_rejected() -> None:
    assert fuzz.truncations_rejected(seed=8, mesh_key=b"community key 16") > 1000
