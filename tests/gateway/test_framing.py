"""Serial framing: COBS + CRC-16 round trips, resynchronisation, corruption and size limits."""

from __future__ import annotations

import binascii

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.framing import (
    Deframer,
    LinkError,
    cobs_decode,
    cobs_encode,
    crc16,
    encode,
    max_encoded_bytes,
)

# Derandomized: the same examples every run, so the suite is deterministic.
PROPERTY = settings(derandomize=True, deadline=None, max_examples=150)

frames_st = st.lists(st.binary(min_size=1, max_size=1500), max_size=6)
# Frames full of zeros and 0xFF blocks stress COBS code bytes.
zeroish_st = st.binary(min_size=1, max_size=600).map(
    lambda b: bytes(0 if x < 96 else x for x in b)
)


def errors(d: Deframer) -> int:
    return d.crc_errors + d.framing_errors + d.oversize


def feed_in_chunks(d: Deframer, data: bytes, cuts: list[int]) -> list[bytes]:
    out: list[bytes] = []
    pos = 0
    for cut in sorted(c % (len(data) + 1) for c in cuts):
        out += d.feed(data[pos:cut]) if cut > pos else []
        pos = max(pos, cut)
    out += d.feed(data[pos:])
    return out


def test_crc16_is_genibus() -> None:
    """CRC-16/CCITT-FALSE with a final XOR of 0xFFFF (see the framing module's header)."""
    assert crc16(b"123456789") == 0xD64E
    assert crc16(b"123456789") == binascii.crc_hqx(b"123456789", 0xFFFF) ^ 0xFFFF
    assert crc16(b"") == 0x0000


def test_flipped_closing_delimiter_is_not_another_valid_frame() -> None:
    """Without the final XOR, 0x00 -> 0x01 on the closing delimiter made encode(m + crc[:1])."""
    frame = bytes(range(1, 40))
    wire = bytearray(encode(frame))
    wire[-1] = 0x01
    d = Deframer()
    assert d.feed(bytes(wire) + encode(b"next")) == [b"next"]
    assert d.crc_errors == 1


@pytest.mark.parametrize(
    ("raw", "cobs"),
    [
        (b"\x00", b"\x01\x01"),
        (b"\x00\x00", b"\x01\x01\x01"),
        (b"\x11\x22\x00\x33", b"\x03\x11\x22\x02\x33"),
        (b"\x11\x22\x33\x44", b"\x05\x11\x22\x33\x44"),
        (b"\x11\x00\x00\x00", b"\x02\x11\x01\x01\x01"),
        (bytes(range(1, 255)), b"\xff" + bytes(range(1, 255)) + b"\x01"),
        (bytes(range(1, 256)), b"\xff" + bytes(range(1, 255)) + b"\x02\xff"),
    ],
)
def test_cobs_vectors(raw: bytes, cobs: bytes) -> None:
    assert cobs_encode(raw) == cobs
    assert cobs_decode(cobs) == raw


def test_encoded_frame_layout() -> None:
    wire = encode(b"\x01\x00\x02")
    assert wire[0] == 0 and wire[-1] == 0 and 0 not in wire[1:-1]
    body = cobs_decode(wire[1:-1])
    assert body == b"\x01\x00\x02" + crc16(b"\x01\x00\x02").to_bytes(2, "big")


def test_empty_frame_is_refused() -> None:
    with pytest.raises(LinkError):
        encode(b"")


@PROPERTY
@given(frames_st, st.lists(st.integers(min_value=0), max_size=8))
def test_round_trip_in_any_chunking(frames: list[bytes], cuts: list[int]) -> None:
    d = Deframer()
    stream = b"".join(encode(f) for f in frames)
    assert feed_in_chunks(d, stream, cuts) == frames
    assert d.frames == len(frames) and errors(d) == 0
    assert d.bytes_since_frame == 0  # the closing 0x00 ends the last frame


@PROPERTY
@given(st.lists(zeroish_st, max_size=6))
def test_round_trip_zero_heavy(frames: list[bytes]) -> None:
    d = Deframer()
    assert d.feed(b"".join(encode(f) for f in frames)) == frames


@PROPERTY
@given(frames_st, st.lists(st.binary(max_size=2000), min_size=7, max_size=7), st.lists(
    st.integers(min_value=0), max_size=8))
def test_garbage_between_frames(
    frames: list[bytes], garbage: list[bytes], cuts: list[int]
) -> None:
    """Noise anywhere never makes a wrong frame, and every frame after a delimiter arrives."""
    d = Deframer()
    stream = b"".join(g + encode(f) for g, f in zip(garbage, frames, strict=False))
    stream += garbage[-1]
    assert feed_in_chunks(d, stream, cuts) == frames


@PROPERTY
@given(frames_st, st.integers(min_value=0))
def test_receiver_starting_mid_stream(frames: list[bytes], cut_seed: int) -> None:
    wires = [encode(f) for f in frames]
    stream = b"".join(wires)
    cut = cut_seed % (len(stream) + 1)
    expected: list[bytes] = []
    start = 0
    for frame, wire in zip(frames, wires, strict=True):
        if cut <= start + 1:  # the receiver sees at least the frame's COBS body and end
            expected.append(frame)
        start += len(wire)
    assert Deframer().feed(stream[cut:]) == expected


def assert_every_bit_flip_detected(frame: bytes) -> None:
    wire = encode(frame)
    follower = encode(b"next frame")
    for bit in range(len(wire) * 8):
        bad = bytearray(wire)
        bad[bit // 8] ^= 1 << (bit % 8)
        d = Deframer()
        assert d.feed(bytes(bad) + follower) == [b"next frame"], f"bit {bit} of {wire.hex()}"
        assert errors(d) >= 1, f"bit {bit} of {wire.hex()} went uncounted"


@PROPERTY
@given(st.binary(min_size=1, max_size=48) | zeroish_st.map(lambda b: b[:48]))
def test_every_single_bit_flip_is_detected(frame: bytes) -> None:
    assert_every_bit_flip_detected(frame)


def test_every_single_bit_flip_is_detected_in_a_full_size_frame() -> None:
    assert_every_bit_flip_detected(bytes((i * 7 + 3) % 256 for i in range(1500)))


def test_oversize_frame_is_counted_and_the_next_one_arrives() -> None:
    d = Deframer(max_frame_bytes=100)
    assert d.feed(encode(b"a" * 101) + encode(b"b" * 100)) == [b"b" * 100]
    assert d.oversize == 1 and d.frames == 1


def test_oversize_decoded_within_segment_limit_is_counted() -> None:
    # 0x00 bytes encode one for one, so this segment fits the buffer but decodes too long.
    d = Deframer(max_frame_bytes=100)
    assert d.feed(encode(b"\x00" * 101)) == []
    assert d.oversize == 1


def test_endless_noise_keeps_the_buffer_bounded() -> None:
    d = Deframer(max_frame_bytes=100)
    limit = max_encoded_bytes(100)
    for _ in range(100):
        assert d.feed(b"\x55" * 10_000) == []
        assert d.buffered_bytes <= limit
    assert d.oversize == 1
    assert d.bytes_since_frame == 1_000_000
    assert d.feed(encode(b"after")) == [b"after"]
    assert d.bytes_since_frame == 0
    d.feed(b"abc")
    assert d.bytes_since_frame == 3


@settings(derandomize=True, deadline=None, max_examples=300)
@given(st.binary(max_size=3000), st.lists(st.integers(min_value=0), max_size=8))
def test_feed_never_raises(data: bytes, cuts: list[int]) -> None:
    d = Deframer(max_frame_bytes=64)
    feed_in_chunks(d, data, cuts)
    assert d.buffered_bytes <= max_encoded_bytes(64)
    assert min(d.frames, d.crc_errors, d.framing_errors, d.oversize) >= 0


def test_short_segments_are_framing_errors() -> None:
    d = Deframer()
    # "\x03\xff\xff" is a valid COBS body holding only the CRC of an empty frame.
    assert d.feed(b"\x00\x03\xff\xff\x00\x00\x02\x41\x00\x00\x05\x00") == []
    assert d.framing_errors == 3 and d.crc_errors == 0


def test_bad_max_frame_bytes() -> None:
    with pytest.raises(LinkError):
        Deframer(max_frame_bytes=0)
