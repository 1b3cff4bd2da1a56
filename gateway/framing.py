"""Sans-IO serial framing: COBS frames between 0x00 delimiters, each checked by a CRC-16.

Wire format of one frame:  0x00 || COBS(frame || CRC-16/GENIBUS(frame), big-endian) || 0x00

CRC-16/GENIBUS is CRC-16/CCITT-FALSE (polynomial 0x1021, init 0xFFFF, no reflection) with a
final XOR of 0xFFFF; check value 0xD64E. The final XOR matters: without it a message followed
by its CRC leaves a zero register, so one more 0x00 byte keeps it valid, and a single bit flip
of the closing delimiter (0x00 -> 0x01, COBS for "one more 0x00") followed by the next 0x00
turns encode(m) into exactly encode(m + crc[:1]): a wrong frame with a good CRC.

Rules kept here:
1. encode() puts a delimiter on both sides of every frame. The leading 0x00 ends whatever
   noise or partial frame the receiver holds, so a frame that follows a delimiter is never
   lost to garbage before it; back-to-back frames cost one extra byte (an empty segment,
   which the receiver skips without counting it).
2. Deframer.feed() never raises, whatever the bytes. Each non-empty segment between two
   delimiters either yields one frame or is counted under exactly one of framing_errors
   (bad COBS, or too short to hold a frame and its CRC), crc_errors or oversize.
3. Memory is bounded: the receive buffer never holds more than the largest valid encoded
   frame. A longer segment is counted once as oversize and discarded up to the next 0x00.
4. A frame is at least one byte long (encode() refuses an empty one), so a stray short
   segment cannot pass as a frame with an empty body.
5. The CRC catches every error of odd weight or of burst length <= 16 that keeps a segment's
   length, so a flipped bit in a COBS data byte is always caught. A flip that creates or
   destroys a 0x00 or hits a COBS code byte changes the segment's length; the COBS check
   or the CRC catches it except with a chance of about 2**-16.
"""

from __future__ import annotations

import binascii

DELIMITER = 0x00
CRC_BYTES = 2
DEFAULT_MAX_FRAME_BYTES = 1500
_COBS_BLOCK = 254  # data bytes in a COBS block with no zero after it (code 0xFF)


class LinkError(Exception):
    """The caller's mistake or an environment failure on a link (bad port, bad frame size)."""


def crc16(data: bytes) -> int:
    """CRC-16/GENIBUS of data (check value: crc16(b"123456789") == 0xD64E)."""
    return binascii.crc_hqx(data, 0xFFFF) ^ 0xFFFF


def cobs_encode(data: bytes) -> bytes:
    """COBS-encode data; the result contains no 0x00 byte."""
    out = bytearray()
    for chunk in data.split(b"\x00"):
        while len(chunk) >= _COBS_BLOCK:
            out.append(_COBS_BLOCK + 1)
            out += chunk[:_COBS_BLOCK]
            chunk = chunk[_COBS_BLOCK:]
        out.append(len(chunk) + 1)
        out += chunk
    return bytes(out)


def cobs_decode(data: bytes) -> bytes | None:
    """Decode one COBS segment (no delimiters); None if it is not valid COBS."""
    out = bytearray()
    pos = 0
    size = len(data)
    while pos < size:
        code = data[pos]
        end = pos + code
        if code == 0 or end > size:
            return None
        out += data[pos + 1 : end]
        pos = end
        if code != _COBS_BLOCK + 1 and pos < size:
            out.append(0)
    return bytes(out)


def max_encoded_bytes(max_frame_bytes: int) -> int:
    """Longest COBS segment (without delimiters) of a frame of max_frame_bytes plus its CRC."""
    body = max_frame_bytes + CRC_BYTES
    return body + body // _COBS_BLOCK + 1


def encode(frame: bytes) -> bytes:
    """Return the wire bytes of one frame: 0x00, COBS(frame || CRC), 0x00.

    Raises LinkError for an empty frame (rule 4). The size limit is the link's to check.
    """
    if not frame:
        raise LinkError("cannot send an empty frame")
    body = frame + crc16(frame).to_bytes(CRC_BYTES, "big")
    return b"\x00" + cobs_encode(body) + b"\x00"


class Deframer:
    """Turns a byte stream into checked frames. `Deframer(max_frame_bytes=1500)`.

    Counters: frames, crc_errors, framing_errors, oversize; bytes_since_frame is the number of
    bytes received after the end of the last good frame (or since creation).
    """

    def __init__(self, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        if max_frame_bytes < 1:
            raise LinkError(f"max_frame_bytes must be at least 1, not {max_frame_bytes}")
        self.max_frame_bytes = max_frame_bytes
        self._max_segment_bytes = max_encoded_bytes(max_frame_bytes)
        self._buf = bytearray()
        self._discarding = False  # inside an oversize segment, skipping to the next 0x00
        self.frames = 0
        self.crc_errors = 0
        self.framing_errors = 0
        self.oversize = 0
        self.bytes_since_frame = 0

    @property
    def buffered_bytes(self) -> int:
        """Bytes held for the segment in progress (never above the largest valid segment)."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[bytes]:
        """Take received bytes; return every good frame they complete, in order. Never raises."""
        frames: list[bytes] = []
        pos = 0
        last_good_end = -1
        while True:
            zero = data.find(b"\x00", pos)
            if zero < 0:
                self._append(data[pos:])
                break
            self._append(data[pos:zero])
            frame = self._end_segment()
            if frame is not None:
                frames.append(frame)
                last_good_end = zero + 1
            pos = zero + 1
        if last_good_end >= 0:
            self.bytes_since_frame = len(data) - last_good_end
        else:
            self.bytes_since_frame += len(data)
        return frames

    def _append(self, piece: bytes) -> None:
        if self._discarding or not piece:
            return
        if len(self._buf) + len(piece) > self._max_segment_bytes:
            self.oversize += 1
            self._buf.clear()
            self._discarding = True
            return
        self._buf += piece

    def _end_segment(self) -> bytes | None:
        if self._discarding:
            self._discarding = False
            return None
        if not self._buf:
            return None  # empty segment between two delimiters: not an error (rule 1)
        body = cobs_decode(bytes(self._buf))
        self._buf.clear()
        if body is None or len(body) <= CRC_BYTES:
            self.framing_errors += 1
            return None
        if len(body) - CRC_BYTES > self.max_frame_bytes:
            self.oversize += 1
            return None
        if crc16(body[:-CRC_BYTES]) != int.from_bytes(body[-CRC_BYTES:], "big"):
            self.crc_errors += 1
            return None
        self.frames += 1
        return body[:-CRC_BYTES]
