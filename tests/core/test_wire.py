# Unit tests for wire.py (format v1, docs/protocol.md). Run under CPython and the MicroPython
# unix port with a 110 KB heap, which compiles this source: keep the file compact.

import struct
import sys

from meshbulb import wire

MICRO = sys.implementation.name == "micropython"
MTU = 250
SRC = b"\x02\x00\x00\x00\x00\x01"
DST = b"\x02\x00\x00\x00\x00\x02"
BC = wire.BROADCAST
FR = wire.F_FRAG
H = wire.HEADER_LEN
# Real frames from the core, shown in docs/protocol.md section 11.
HELLO_HEX = "11000000000000020000000002ffffffffffff350154bc01e6fe001e01020000000001a0"
DATA_HEX = "13600004000000020000000001020000000002227b8f0f01000d68656c6c6f2067617465776179"


def unhex(text):
    return bytes(int(text[i : i + 2], 16) for i in range(0, len(text), 2))


def frame(ftype=3, flags=0, key_id=0, hops_left=5, hops_taken=0, src=SRC, dst=DST, seq=1,
          payload=b""):
    """Header + payload + an 8-byte MIC trailer when key_id != 0."""
    buf = bytearray(H + len(payload) + (wire.MIC_LEN if key_id else 0))
    assert wire.pack_header(buf, ftype, flags, key_id, hops_left, hops_taken, src, dst,
                            seq) == H
    buf[H : H + len(payload)] = payload
    return bytes(buf)


def parse(f, mtu=MTU):
    return wire.parse_header(f, mtu)


def fmt_sizes(fmt):
    """Field sizes of a struct format made of B, H, I and Ns codes."""
    sizes = []
    n = ""
    for ch in fmt[1:]:
        if ch in "0123456789":
            n += ch
        else:
            sizes.append(int(n) if ch == "s" else {"B": 1, "H": 2, "I": 4}[ch])
            n = ""
    return sizes


def open_doc():
    """docs/protocol.md, or None where it is not reachable (MicroPython .mpy trees only)."""
    here = globals().get("__file__") or ""
    cut = here.rfind("/tests/")
    for path in (here[:cut] + "/docs/protocol.md" if cut >= 0 else "", "docs/protocol.md"):
        try:
            return open(path)
        except OSError:
            pass
    assert MICRO, "docs/protocol.md not found"
    return None


# --- header layout -----------------------------------------------------------------------


def test_constants_match_struct_formats():
    assert wire.HEADER_LEN == 23 == struct.calcsize(wire.HEADER_FMT)
    assert fmt_sizes(wire.HEADER_FMT) == [1, 1, 1, 2, 2, 6, 6, 4]
    assert struct.calcsize(wire.HELLO_FMT) == wire.HELLO_FIXED == 6
    assert wire.HELLO_ENTRY == wire.ADDR_LEN + 1 == 7
    assert struct.calcsize(wire.ROUTE_FMT) == wire.ROUTE_FIXED == 3
    assert struct.calcsize(wire.ROUTE_ENTRY_FMT) == wire.ROUTE_ENTRY == 12
    assert struct.calcsize(wire.DATA_FMT) == wire.DATA_FIXED == 3
    assert struct.calcsize(wire.FRAG_FMT) == wire.FRAG_LEN == 4
    assert (wire.MIC_LEN, wire.VERSION, wire.METRIC_INF, wire.MAX_FRAGMENTS) == (8, 1, 0xFFFF, 16)
    assert BC == b"\xff" * 6 and len(wire.TYPE_NAMES) == wire.TYPE_COUNT == 8


def test_doc_header_table_matches_code():
    f = open_doc()
    if f is None:
        return
    rows = None
    mentions = False
    for line in f:
        line = line.strip()
        mentions = mentions or "23-byte header" in line
        if line == "<!-- header-table-begin -->":
            rows = []
        elif line == "<!-- header-table-end -->":
            break
        elif rows is not None and line[:2] == "| " and "0" <= line[2:3] <= "9":
            cells = line.split("|")
            rows.append((int(cells[1]), int(cells[2])))
    f.close()
    assert mentions and rows, "header table markers not found in docs/protocol.md"
    offset = 0
    for row_offset, size in rows:
        assert row_offset == offset, "doc offset %d, expected %d" % (row_offset, offset)
        offset += size
    assert offset == wire.HEADER_LEN
    assert [size for _, size in rows] == fmt_sizes(wire.HEADER_FMT)


def test_doc_examples_are_real_frames():
    f = open_doc()
    if f is not None:
        found = 0
        for line in f:
            if line.strip() in (HELLO_HEX, DATA_HEX):
                found += 1
        f.close()
        assert found == 2
    hello = unhex(HELLO_HEX)
    assert parse(hello) == (1, 0, 0, 0, 0, DST, BC, 0x350154BC, 13)
    assert wire.parse_hello(hello, H, 13) == (wire.F_GATEWAY, 0xE6FE, 30, 1)
    assert wire.hello_quality_for(hello, H, 1, SRC) == 0xA0
    data = unhex(DATA_HEX)
    assert parse(data) == (3, 0x60, 0, 1024, 0, SRC, DST, 0x227B8F0F, 16)
    assert wire.parse_data(data, H, 16, 0x60) == (1, 26, 13, None)
    assert data[26:] == b"hello gateway"


def test_pack_header_exact_bytes():
    buf = bytearray(b"\x77" * 25)
    wire.pack_header(buf, wire.T_ROUTE, 0x50, 0xAB, 0x0102, 0x0304, b"\x10\x11\x12\x13\x14\x15",
                     b"\x20\x21\x22\x23\x24\x25", 0xDEADBEEF)
    assert bytes(buf) == unhex("1250ab01020304101112131415202122232425deadbeef7777")


def test_header_round_trip_every_type():
    for ftype in range(1, 8):
        for plen in (0, 1, 7, MTU - H):
            payload = bytes((i * 7) & 0xFF for i in range(plen))
            f = frame(ftype, 0, 0, 9, 4, SRC, DST, 0x01020304, payload)
            assert f[0] == 0x10 | ftype
            assert parse(f) == (ftype, 0, 0, 9, 4, SRC, DST, 0x01020304, plen)
    for seq in (0, 0x7FFFFFFF, 0xFFFFFFFF):
        for key_id in (0, 1, 255):
            f = frame(3, 0xF0, key_id, 65535, 65535, SRC, BC, seq, b"\x00\x00\x00")
            assert parse(f) == (3, 0xF0, key_id, 65535, 65535, SRC, BC, seq, 3)
            assert parse(bytearray(f)) == parse(f)


def test_hops_above_255_survive():
    for hops in (255, 256, 400, 1024, 65535):
        f = frame(hops_left=hops, hops_taken=hops - 1)
        assert parse(f)[3:5] == (hops, hops - 1)
        assert f[3] == hops >> 8 and f[4] == hops & 0xFF


def test_set_hops_changes_only_bytes_3_to_6():
    f = frame(3, wire.F_FLOOD, 0, 400, 0, SRC, DST, 77, b"\x05\x00\x02hi")
    buf = bytearray(f)
    for left, taken, raw in ((399, 1, b"\x01\x8f\x00\x01"), (0, 65535, b"\x00\x00\xff\xff"),
                             (65535, 0, b"\xff\xff\x00\x00")):
        wire.set_hops(buf, left, taken)
        assert buf[3:7] == raw and buf[:3] == f[:3] and buf[7:] == f[7:]
        assert parse(buf)[3:5] == (left, taken)


# --- header errors -----------------------------------------------------------------------


def test_parse_header_short():
    f = frame(payload=b"\x00\x00\x00")
    for n in range(H):
        assert parse(f[:n]) == "short"
    assert parse(f[:H])[8] == 0


def test_parse_header_oversize_against_mtu():
    for mtu in (64, 250, 1470):
        payload = bytes(mtu - H)
        assert parse(frame(payload=payload), mtu)[8] == mtu - H
        assert parse(frame(payload=payload + b"\x00"), mtu) == "oversize"


def test_parse_header_bad_version():
    for version in (0, 2, 15):
        f = bytearray(frame(1))
        f[0] = (version << 4) | 1
        assert parse(f) == "bad_version"


def test_parse_header_bad_type():
    for ftype in (0, 8, 9, 15):
        f = bytearray(frame(1))
        f[0] = 0x10 | ftype
        assert parse(f) == "bad_type"


def test_parse_header_flags():
    for flags in (0x80, 0x40, 0x20, 0x10, 0xF0):
        assert parse(frame(flags=flags))[1] == flags
    for flags in (0x01, 0x02, 0x04, 0x08, 0xFF, 0x83, 0xF1):
        assert parse(frame(flags=flags)) == "bad_flags"
    for ftype in (1, 2, 4, 5, 6, 7):  # only DATA carries header flags
        assert parse(frame(ftype=ftype))[0] == ftype
        for flags in (0x80, 0x10):
            assert parse(frame(ftype=ftype, flags=flags)) == "bad_flags"


def test_parse_header_bad_addr_for_broadcast_src():
    assert parse(frame(src=BC)) == "bad_addr"
    assert parse(frame(src=BC, key_id=1)) == "bad_addr"
    assert parse(frame(dst=BC))[6] == BC
    assert parse(frame(src=b"\xff\xff\xff\xff\xff\xfe"))[5] == b"\xff\xff\xff\xff\xff\xfe"


def test_parse_header_mic_room():
    base = frame(6, 0, 1)[:H]
    for n in range(wire.MIC_LEN):
        assert parse(base + bytes(n)) == "short"
    assert parse(base + bytes(8))[8] == 0
    f = frame(6, 0, 7, payload=b"\x00\x00\x00\x09")
    assert len(f) == H + 4 + 8 and parse(f)[2] == 7 and parse(f)[8] == 4
    assert wire.parse_u32(f, H, 4) == 9
    assert parse(frame(6, 0, 0, payload=bytes(12)))[8] == 12
    big = frame(key_id=1, payload=bytes(MTU - H - 8))
    assert len(big) == MTU and parse(big)[8] == MTU - 31
    assert parse(big + b"\x00") == "oversize"


def test_parse_header_check_order():
    # Length, then version, type, flags, MIC room, source address.
    f = bytearray(frame(payload=bytes(100)))
    f[0] = 0x20
    assert parse(f, 64) == "oversize" and parse(f) == "bad_version"
    f[0] = 0x10
    f[1] = 0x02
    assert parse(f) == "bad_type"
    f[0] = 0x13
    f[7:13] = BC
    assert parse(f) == "bad_flags"
    assert parse(frame(6, 0, 3, src=BC)[: H + 2]) == "short"


def check_exact(parser, payload, good, extra_max):
    """parser(frame, off, length) accepts payload and returns None for every other length."""
    got = parser(payload, 0, len(payload))
    assert got == good, got
    for n in range(len(payload)):
        assert parser(payload[:n], 0, n) is None, n
    for k in range(1, extra_max + 1):
        assert parser(payload + bytes(k), 0, len(payload) + k) is None, k


# --- HELLO -------------------------------------------------------------------------------


def hello(flags, hello_seq, interval_ds, entries):
    buf = bytearray(6 + 7 * len(entries))
    assert wire.pack_hello(buf, 0, flags, hello_seq, interval_ds, entries) == len(buf)
    return bytes(buf)


def test_hello_exact_bytes_and_round_trip():
    p = hello(wire.F_GATEWAY, 0xE6FE, 20, [(SRC, 0xA0), (DST, 7)])
    assert p == unhex("01e6fe001402") + SRC + b"\xa0" + DST + b"\x07"
    f = frame(1, 0, 0, 0, 0, b"\x02\x00\x00\x00\x00\x09", BC, 9, p)
    assert wire.parse_hello(f, H, parse(f)[8]) == (1, 0xE6FE, 20, 2)
    assert wire.hello_quality_for(f, H, 2, SRC) == 0xA0
    assert wire.hello_quality_for(f, H, 2, DST) == 7
    assert wire.hello_quality_for(f, H, 2, b"\x02\x00\x00\x00\x00\x03") == 0


def test_parse_hello_exact_length_only():
    for count in (0, 1, 2, 30):
        entries = [(bytes((2, 0, 0, 0, 0, k)), k) for k in range(count)]
        check_exact(wire.parse_hello, hello(1, 1, 10, entries), (1, 1, 10, count), 8)


def test_parse_hello_rejects_zero_interval_and_unknown_flags():
    assert wire.parse_hello(hello(0, 65535, 65535, []), 0, 6) == (0, 65535, 65535, 0)
    assert wire.parse_hello(hello(0, 1, 0, []), 0, 6) is None
    for flags in (0x04, 0x80, 0xFF, 0x07):
        assert wire.parse_hello(hello(flags, 1, 10, []), 0, 6) is None
    assert wire.parse_hello(hello(wire.F_NO_ROUTE, 1, 10, []), 0, 6) == (wire.F_NO_ROUTE, 1, 10, 0)


def test_hello_quality_for_ignores_misaligned_matches():
    t = b"\xaa\xbb\xcc\xdd\xee\xf1"
    other = b"\x55" * 6
    # t starts 1 byte into entry 0: 01 aa bb cc dd ee | f1 | 55 ...
    p = hello(0, 1, 10, [(b"\x01" + t[:5], t[5]), (other, 0x66), (t, 0x77)])
    assert p.find(t) == 7
    assert wire.hello_quality_for(p, 0, 2, t) == 0
    # The aligned entry after a misaligned match is still found.
    assert wire.hello_quality_for(p, 0, 3, t) == 0x77
    # t straddles entry 0's quality byte and entry 1's address.
    p = hello(0, 1, 10, [(other, t[0]), (t[1:] + b"\x99", 0x42)])
    assert p.find(t) == 12 and wire.hello_quality_for(p, 0, 2, t) == 0


def test_hello_quality_for_searches_entries_only():
    f = frame(1, 0, 0, 0, 0, SRC, BC, 1, hello(0, 1, 10, [(DST, 9), (b"\x02" * 6, 0)]))
    assert wire.hello_quality_for(f, H, 2, SRC) == 0
    assert wire.hello_quality_for(f, H, 2, BC) == 0
    assert wire.hello_quality_for(f, H, 2, DST) == 9
    assert wire.hello_quality_for(f, H, 0, DST) == 0
    assert wire.hello_quality_for(f, H, 2, b"\x02" * 6) == 0


# --- ROUTE -------------------------------------------------------------------------------


def route(interval_ds, entries):
    buf = bytearray(3 + 12 * len(entries))
    struct.pack_into(wire.ROUTE_FMT, buf, 0, interval_ds, len(entries))
    p = 3
    for gw, seqno, metric, load, health in entries:
        p = wire.pack_route_entry(buf, p, gw, seqno, metric, load, health)
    assert p == len(buf)
    return bytes(buf)


def test_route_exact_bytes_and_round_trip():
    p = route(200, [(DST, 0x1CE0, 0, 0, 255), (SRC, 0xFFFF, 0xFFFF, 0, 0)])
    assert p == unhex("00c802") + DST + unhex("1ce0000000ff") + SRC + unhex("ffffffff0000")
    assert wire.parse_route(p, 0, len(p)) == (200, 2)
    assert tuple(wire.route_entry(p, 3)) == (DST, 0x1CE0, 0, 0, 255)
    assert tuple(wire.route_entry(p, 15)) == (SRC, 0xFFFF, 0xFFFF, 0, 0)


def test_parse_route_exact_length_only():
    for count in (0, 1, 2, 18):
        entries = [(bytes((2, 0, 0, 0, 1, k)), k, 16 * k, k, 255 - k) for k in range(count)]
        check_exact(wire.parse_route, route(200, entries), (200, count), 12)


def test_parse_route_rejects_zero_interval():
    assert wire.parse_route(route(0, []), 0, 3) is None
    assert wire.parse_route(route(65535, []), 0, 3) == (65535, 0)


# --- DATA --------------------------------------------------------------------------------


def data(port, body, total=None):
    buf = bytearray(3 + len(body))
    assert wire.pack_data_header(buf, 0, port, len(body) if total is None else total) == 3
    buf[3:] = body
    return bytes(buf)


def frag(total, index, count, body, tag=0x1234, port=3):
    buf = bytearray(7 + len(body))
    assert wire.pack_frag_header(buf, wire.pack_data_header(buf, 0, port, total), tag, index,
                                 count) == 7
    buf[7:] = body
    return bytes(buf)


def pd(p, flags=FR):
    return wire.parse_data(p, 0, len(p), flags)


def test_data_exact_bytes():
    assert data(1, b"hi") == b"\x01\x00\x02hi"
    assert frag(512, 1, 3, b"", 0x5E07, 7) == b"\x07\x02\x00\x5e\x07\x01\x03"


def test_parse_data_unfragmented_exact_length_only():
    for body_len in (0, 1, 5, 216):
        body = bytes(i & 0xFF for i in range(body_len))
        p = data(9, body)
        check_exact(lambda f, off, n: wire.parse_data(f, off, n, 0), p, (9, 3, body_len, None), 3)
        f = frame(payload=p)
        assert wire.parse_data(f, H, len(p), 0) == (9, H + 3, body_len, None)
        # The length field must agree with the bytes present.
        for total in (body_len + 1, 65535, body_len - 1):
            if total >= 0:
                assert pd(data(9, body, total), 0) is None


def test_parse_data_ignores_other_flags():
    for flags in (wire.F_ACK_REQ, wire.F_ANY_GW, wire.F_FLOOD, 0x71):
        assert pd(data(255, b"x"), flags) == (255, 3, 1, None)
    assert pd(data(0, b""), 0) == (0, 3, 0, None)
    assert pd(data(1, b"abcd")) is None  # F_FRAG needs the fragment header


def test_fragment_chunk_equal_chunk_rule():
    assert [wire.fragment_chunk(t, c) for t, c in ((512, 3), (1500, 8), (10, 2), (11, 2))] == \
        [171, 188, 5, 6]
    for total in (2, 17, 219, 1500, 3392):
        for count in range(2, 17):
            chunk = wire.fragment_chunk(total, count)
            last = total - chunk * (count - 1)
            if total >= count and last > 0:
                assert 0 < last <= chunk and chunk * (count - 1) + last == total


def test_parse_data_fragments_exact_length_only():
    for total, count in ((512, 3), (1500, 8), (2, 2), (32, 16), (3392, 16)):
        chunk = wire.fragment_chunk(total, count)
        for index in range(count):
            n = chunk if index < count - 1 else total - chunk * (count - 1)
            p = frag(total, index, count, bytes(n))
            check_exact(lambda f, off, k: wire.parse_data(f, off, k, FR), p,
                        (3, 7, n, (0x1234, index, count, total)), 1)


def test_parse_data_fragment_count_and_index_bounds():
    for count in (0, 1, 17, 255):  # sizes otherwise consistent (10 bytes per fragment)
        assert pd(frag(10 * count, 0, count, bytes(10))) is None
        assert pd(frag(10 * count, max(0, count - 1), count, bytes(10))) is None
    assert pd(frag(100, 0, 2, bytes(50))) is not None
    assert pd(frag(160, 15, 16, bytes(10))) is not None
    for index in (2, 3, 255):
        assert pd(frag(100, index, 2, bytes(50))) is None


def test_parse_data_fragment_total_and_chunk_rules():
    # total must be at least count.
    for total, count in ((0, 2), (1, 2), (15, 16)):
        assert pd(frag(total, 0, count, b"")) is None
        assert pd(frag(total, 0, count, b"\x00")) is None
    # Non-last fragments carry exactly ceil(total / count) bytes, the last the rest.
    assert pd(frag(11, 0, 2, bytes(5))) is None
    assert pd(frag(11, 0, 2, bytes(6))) == (3, 7, 6, (0x1234, 0, 2, 11))
    assert pd(frag(11, 1, 2, bytes(5))) == (3, 7, 5, (0x1234, 1, 2, 11))
    assert pd(frag(11, 1, 2, bytes(6))) is None
    # A last chunk of zero or fewer bytes (5 in 4: 3 * 2 > 5; 9 in 4: 3 * 3 = 9) is refused.
    for total, body_len in ((5, 0), (5, 1), (5, 2), (9, 0), (9, 3)):
        assert pd(frag(total, 3, 4, bytes(body_len))) is None


# --- small fixed payloads ----------------------------------------------------------------


def test_parse_addr_exact_length_only():
    check_exact(wire.parse_addr, DST, DST, 8)
    assert wire.parse_addr(BC, 0, 6) is None
    got = wire.parse_addr(bytearray(b"\x00" + SRC), 1, 6)
    assert got == SRC and isinstance(got, bytes)


def test_parse_u32_and_u16_exact_length_only():
    check_exact(wire.parse_u32, b"\xde\xad\xbe\xef", 0xDEADBEEF, 4)
    assert wire.parse_u32(b"\x00\x00\x00\x00\x01", 1, 4) == 1
    check_exact(wire.parse_u16, b"\x1c\xe1", 0x1CE1, 3)
    assert wire.parse_u16(b"\x00\xff\xff", 1, 2) == 0xFFFF


def test_default_mtu_budget_matches_doc():
    body = MTU - H - wire.MIC_LEN
    assert (body, body - 3, body - 7, 16 * (body - 7)) == (219, 216, 212, 3392)
    assert ((body - 6) // 7, (body - 3) // 12) == (30, 18)


def test_fragment_layouts_that_can_never_complete_are_refused():
    # total 5 in 4 fragments: chunk 2, and 3 * 2 >= 5 leaves nothing for the last fragment.
    for index in range(4):
        body = bytes(wire.DATA_FIXED + wire.FRAG_LEN + 2)
        b = bytearray(body)
        wire.pack_data_header(b, 0, 1, 5)
        wire.pack_frag_header(b, wire.DATA_FIXED, 7, index, 4)
        assert wire.parse_data(bytes(b), 0, len(b), wire.F_FRAG) is None
