# Wire format, version 1. Every byte is documented in docs/protocol.md.
#
# Rules kept here:
# 1. All integers are big-endian. Addresses are 6 bytes. The header is a fixed 23 bytes.
# 2. hops_left and hops_taken are 16-bit, so floods can cross more than 255 hops.
# 3. hops_left and hops_taken are the only fields a relay changes; the MIC (security issue)
#    covers every other header byte and the payload, with those two fields zeroed.
# 4. When key_id != 0 the frame ends in a MIC trailer of MIC_LEN bytes; key_id 0 means none.
# 5. Decoders check lengths exactly before reading and return None on any mismatch; they never
#    raise on bad input and never touch a table. Encoders write into caller-owned buffers.

import struct

from meshbulb.compat import const

VERSION = const(1)
HEADER_LEN = const(23)
ADDR_LEN = const(6)
MIC_LEN = const(8)
BROADCAST = b"\xff\xff\xff\xff\xff\xff"
HEADER_FMT = ">BBBHH6s6sI"
_HOPS_OFFSET = const(3)

# Frame types (low nibble of byte 0).
T_HELLO = const(1)
T_ROUTE = const(2)
T_DATA = const(3)
T_RREQ = const(4)
T_RREP = const(5)
T_ACK = const(6)
T_SEQREQ = const(7)
TYPE_COUNT = const(8)
TYPE_NAMES = ("invalid", "hello", "route", "data", "rreq", "rrep", "ack", "seqreq")

# Flags (byte 1).
F_FRAG = const(0x80)  # DATA: a fragment header follows the port and length
F_ACK_REQ = const(0x40)  # DATA: the destination answers with an ACK frame
F_ANY_GW = const(0x20)  # DATA: any gateway may take this frame (internet traffic)
F_FLOOD = const(0x10)  # DATA: flooded towards dst because no route was found
_DATA_FLAGS = const(0xF0)  # every other type carries flags 0

# Payload layouts.
HELLO_FMT = ">BHHB"  # flags, hello_seq, interval_ds, entry count
F_GATEWAY = const(0x01)  # HELLO payload flag: the sender is a gateway
F_NO_ROUTE = const(0x02)  # HELLO payload flag: the sender has no route to any gateway yet
HELLO_FIXED = const(6)
HELLO_ENTRY = const(7)  # neighbour address (6), reception quality 0..255 (1)
ROUTE_FMT = ">HB"  # update interval_ds, entry count
ROUTE_FIXED = const(3)
ROUTE_ENTRY_FMT = ">6sHHBB"  # gateway, seqno, metric, load, health
ROUTE_ENTRY = const(12)
DATA_FMT = ">BH"  # port, total payload length
DATA_FIXED = const(3)
FRAG_FMT = ">HBB"  # tag, index, count (only with F_FRAG)
FRAG_LEN = const(4)
METRIC_INF = const(0xFFFF)
LOAD_GATEWAY_DOWN = const(0xFF)  # in a retraction (health 0): the gateway itself went down
MAX_FRAGMENTS = const(16)


def pack_header(buf, ftype, flags, key_id, hops_left, hops_taken, src, dst, seq):
    """Write a header at the start of buf; return HEADER_LEN."""
    struct.pack_into(
        HEADER_FMT, buf, 0, (VERSION << 4) | ftype, flags, key_id, hops_left, hops_taken,
        src, dst, seq,
    )
    return HEADER_LEN


def parse_header(frame, mtu):
    """Return (ftype, flags, key_id, hops_left, hops_taken, src, dst, seq, payload_len)
    or an error reason string. The payload is frame[HEADER_LEN:HEADER_LEN + payload_len]."""
    n = len(frame)
    if n < HEADER_LEN:
        return "short"
    if n > mtu:
        return "oversize"
    vt, flags, key_id, hops_left, hops_taken, src, dst, seq = struct.unpack_from(
        HEADER_FMT, frame, 0
    )
    if vt >> 4 != VERSION:
        return "bad_version"
    ftype = vt & 0x0F
    if ftype == 0 or ftype >= TYPE_COUNT:
        return "bad_type"
    if flags & ~_DATA_FLAGS or (flags and ftype != T_DATA):
        return "bad_flags"
    payload_len = n - HEADER_LEN
    if key_id:
        payload_len -= MIC_LEN
        if payload_len < 0:
            return "short"
    if src == BROADCAST:
        return "bad_addr"
    return ftype, flags, key_id, hops_left, hops_taken, src, dst, seq, payload_len


def set_hops(frame_buf, hops_left, hops_taken):
    """Rewrite the two mutable hop fields of a frame held in a bytearray."""
    struct.pack_into(">HH", frame_buf, _HOPS_OFFSET, hops_left, hops_taken)


# --- HELLO -------------------------------------------------------------------------------


def pack_hello(buf, off, flags, hello_seq, interval_ds, entries):
    """entries: sequence of (node_addr, quality). Returns the new offset."""
    struct.pack_into(HELLO_FMT, buf, off, flags, hello_seq, interval_ds, len(entries))
    off += HELLO_FIXED
    for addr, quality in entries:
        buf[off : off + ADDR_LEN] = addr
        buf[off + ADDR_LEN] = quality
        off += HELLO_ENTRY
    return off


def parse_hello(frame, off, length):
    """Return (flags, hello_seq, interval_ds, count) or None; entries follow at off + 6."""
    if length < HELLO_FIXED:
        return None
    flags, hello_seq, interval_ds, count = struct.unpack_from(HELLO_FMT, frame, off)
    if length != HELLO_FIXED + count * HELLO_ENTRY or interval_ds == 0:
        return None
    if flags & ~(F_GATEWAY | F_NO_ROUTE):
        return None
    return flags, hello_seq, interval_ds, count


def hello_quality_for(frame, off, count, addr):
    """The reception quality the HELLO's sender reports for addr, or 0 when not listed."""
    start = off + HELLO_FIXED
    end = start + count * HELLO_ENTRY
    p = frame.find(addr, start, end)
    while p >= 0:
        if (p - start) % HELLO_ENTRY == 0:
            return frame[p + ADDR_LEN]
        p = frame.find(addr, p + 1, end)
    return 0


# --- ROUTE update ------------------------------------------------------------------------


def pack_route_entry(buf, off, gw, seqno, metric, load, health):
    struct.pack_into(ROUTE_ENTRY_FMT, buf, off, gw, seqno, metric, load, health)
    return off + ROUTE_ENTRY


def parse_route(frame, off, length):
    """Return (interval_ds, count) or None; entries follow at off + ROUTE_FIXED."""
    if length < ROUTE_FIXED:
        return None
    interval_ds, count = struct.unpack_from(ROUTE_FMT, frame, off)
    if length != ROUTE_FIXED + count * ROUTE_ENTRY or interval_ds == 0:
        return None
    return interval_ds, count


def route_entry(frame, off):
    """(gw, seqno, metric, load, health) of the entry at off."""
    return struct.unpack_from(ROUTE_ENTRY_FMT, frame, off)


# --- DATA --------------------------------------------------------------------------------


def parse_data(frame, off, length, flags):
    """Return (port, body_off, body_len, frag) or None. frag is None or
    (tag, index, count, total_len), already checked for consistency. The total length field
    makes a truncated or extended DATA frame detectable even without a MIC."""
    if length < DATA_FIXED:
        return None
    port, total = struct.unpack_from(DATA_FMT, frame, off)
    off += DATA_FIXED
    length -= DATA_FIXED
    if not flags & F_FRAG:
        if length != total:
            return None
        return port, off, length, None
    if length < FRAG_LEN:
        return None
    tag, index, count = struct.unpack_from(FRAG_FMT, frame, off)
    off += FRAG_LEN
    length -= FRAG_LEN
    if count < 2 or count > MAX_FRAGMENTS or index >= count or total < count:
        return None
    chunk = (total + count - 1) // count
    if chunk * (count - 1) >= total:  # no last fragment could complete this layout
        return None
    expected = chunk if index < count - 1 else total - chunk * (count - 1)
    if length != expected:
        return None
    return port, off, length, (tag, index, count, total)


def pack_data_header(buf, off, port, total_len):
    struct.pack_into(DATA_FMT, buf, off, port, total_len)
    return off + DATA_FIXED


def pack_frag_header(buf, off, tag, index, count):
    struct.pack_into(FRAG_FMT, buf, off, tag, index, count)
    return off + FRAG_LEN


def fragment_chunk(total_len, count):
    return (total_len + count - 1) // count


# --- small fixed payloads ----------------------------------------------------------------


def parse_addr(frame, off, length):
    """RREQ payload: the target address."""
    if length != ADDR_LEN:
        return None
    addr = bytes(frame[off : off + ADDR_LEN])
    if addr == BROADCAST:
        return None
    return addr


def parse_u32(frame, off, length):
    """RREP and ACK payload: a 32-bit sequence number."""
    if length != 4:
        return None
    return struct.unpack_from(">I", frame, off)[0]


def parse_u16(frame, off, length):
    """SEQREQ payload: the wanted 16-bit seqno."""
    if length != 2:
        return None
    return struct.unpack_from(">H", frame, off)[0]
