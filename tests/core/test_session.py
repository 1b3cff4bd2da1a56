# Unit tests for meshbulb.session: the NK/IK handshake, transport counters, the replay window,
# malformed handshakes, rekey signalling and re-handshake after a reboot.
# Plain test_* functions with asserts: they run under pytest and under tests/mpy_runner.py.

import hashlib

from meshbulb.compat import TICKS_PERIOD
from meshbulb.session import (
    MSG1_IK,
    MSG1_NK,
    MSG2,
    OVERHEAD,
    Initiator,
    Responder,
    SessionError,
)
from meshbulb.x25519 import public_key

T0 = 123456
# RFC 7748 / libsodium blocklist: u-coordinates whose DH result is all zeros.
LOW_ORDER = (
    bytes(32),
    b"\x01" + bytes(31),
    bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
    bytes.fromhex("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),
    bytes.fromhex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
)


def key(label):
    return hashlib.sha256(label).digest()


GW = key(b"gateway static")
GW_PUB = public_key(GW)
BULB = key(b"bulb static")


def handshake(
    e=b"e1", f=b"f1", static=None, payload1=b"hello gw", payload2=b"hi bulb", now=T0, **limits
):
    """Run a full handshake; returns (initiator session, responder session, incoming)."""
    ini = Initiator(GW_PUB, key(e), static, **limits)
    msg1 = ini.message1(payload1)
    incoming = Responder(GW, **limits).read_message1(msg1, key(f))
    assert incoming is not None
    msg2, r_sess = incoming.reply(payload2, now)
    i_sess = ini.read_message2(msg2, now)
    assert i_sess is not None
    return i_sess, r_sess, incoming


def flip(data, bit):
    out = bytearray(data)
    out[bit >> 3] ^= 1 << (bit & 7)
    return bytes(out)


def test_nk_handshake_carries_payloads_and_50_messages_each_way():
    i_sess, r_sess, incoming = handshake()
    assert incoming.payload == b"hello gw"
    assert incoming.initiator_static is None
    assert i_sess.handshake_payload == b"hi bulb"
    assert r_sess.handshake_payload == b"hello gw"
    assert i_sess.peer_static == GW_PUB and r_sess.peer_static is None
    assert i_sess.initiator and not r_sess.initiator
    assert i_sess.confirmed and not r_sess.confirmed
    for n in range(50):
        up = b"up %d " % n + bytes(n)
        down = b"down %d" % n
        packet = i_sess.seal(up)
        assert len(packet) == len(up) + OVERHEAD
        assert int.from_bytes(packet[:8], "big") == n
        assert r_sess.open(packet) == up
        assert i_sess.open(r_sess.seal(down)) == down
    assert r_sess.confirmed
    assert i_sess.sent == 50 and r_sess.sent == 50


def test_directions_use_different_keys():
    i_sess, r_sess, _ = handshake()
    packet = i_sess.seal(b"mine")
    assert i_sess.open(packet) is None  # a node cannot open its own packet (reflection)
    assert r_sess.open(r_sess.seal(b"x")) is None
    assert r_sess.open(packet) == b"mine"


def test_associated_data_is_bound():
    i_sess, r_sess, _ = handshake()
    packet = i_sess.seal(b"on", b"dst=bulb7")
    assert r_sess.open(packet, b"dst=bulb8") is None
    assert r_sess.open(packet) is None
    assert r_sess.open(packet, b"dst=bulb7") == b"on"


def test_ik_handshake_authenticates_the_initiator():
    i_sess, r_sess, incoming = handshake(static=BULB)
    assert incoming.initiator_static == public_key(BULB)
    assert r_sess.peer_static == public_key(BULB)
    assert r_sess.open(i_sess.seal(b"ik data")) == b"ik data"
    assert i_sess.open(r_sess.seal(b"ik back")) == b"ik back"


def test_handshakes_with_different_ephemerals_give_different_keys():
    a, _, _ = handshake(e=b"eA")
    _, rb, _ = handshake(e=b"eB")
    assert rb.open(a.seal(b"x")) is None


def test_reordering_within_the_window_and_replays():
    i_sess, r_sess, _ = handshake()
    wanted = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 36, 37, 75, 76, 99, 100, 120, 139)
    packets = {}
    for n in range(140):  # seal in counter order, keep only the packets the test delivers
        packet = i_sess.seal(b"m%d" % n)
        if n in wanted:
            packets[n] = packet
    order = [5, 3, 4, 0, 1, 2, 9, 8, 7, 6]
    for n in order:
        assert r_sess.open(packets[n]) == b"m%d" % n, "packet %d" % n
    for n in order:
        assert r_sess.open(packets[n]) is None, "replay %d" % n
    assert r_sess.open(packets[100]) == b"m100"
    assert r_sess.open(packets[37]) == b"m37"  # 63 behind the top: the window's last slot
    assert r_sess.open(packets[36]) is None  # 64 behind: outside the window
    assert r_sess.open(packets[99]) == b"m99"
    assert r_sess.open(packets[139]) == b"m139"
    assert r_sess.open(packets[100]) is None
    assert r_sess.open(packets[76]) == b"m76"
    assert r_sess.open(packets[75]) is None
    assert r_sess.open(packets[120]) == b"m120"


def test_forged_packets_do_not_move_the_window():
    i_sess, r_sess, _ = handshake()
    packets = [i_sess.seal(b"p%d" % n) for n in range(3)]
    forged = (1000).to_bytes(8, "big") + packets[0][8:]
    assert r_sess.open(forged) is None
    for n in range(3):
        assert r_sess.open(packets[n]) == b"p%d" % n
    for bit in range(len(packets[2]) * 8):
        assert r_sess.open(flip(i_sess.seal(b"zz"), bit)) is None, "bit %d" % bit


def test_open_never_raises_on_garbage():
    _, r_sess, _ = handshake()
    for bad in (None, 7, "text", b"", bytes(OVERHEAD - 1), bytes(OVERHEAD), bytes(100)):
        assert r_sess.open(bad) is None
    assert r_sess.open(bytes(40), None) is None


def test_malformed_message1_returns_none():
    resp = Responder(GW)
    f = key(b"f")
    msg1 = Initiator(GW_PUB, key(b"e"), None).message1(b"payload")
    ik1 = Initiator(GW_PUB, key(b"e"), BULB).message1(b"payload")
    assert resp.read_message1(msg1, f) is not None
    assert resp.read_message1(ik1, f) is not None
    for n in list(range(0, 49)) + [len(msg1) - 1]:
        assert resp.read_message1(msg1[:n], f) is None, "msg1 truncated to %d" % n
    for n in list(range(0, 97)) + [len(msg1), len(ik1) - 1]:
        assert resp.read_message1(ik1[:n], f) is None, "ik1 truncated to %d" % n
    for bit in (0, 1, 7, 8, 100, 255, 263, 264, 300, len(msg1) * 8 - 1):
        assert resp.read_message1(flip(msg1, bit), f) is None, "msg1 bit %d" % bit
    for bit in (8, 270, 300, 500, 640, 700, len(ik1) * 8 - 1):
        assert resp.read_message1(flip(ik1, bit), f) is None, "ik1 bit %d" % bit
    assert resp.read_message1(msg1 + b"\x00", f) is None
    assert resp.read_message1(bytes((MSG1_IK,)) + msg1[1:], f) is None
    assert resp.read_message1(bytes((MSG1_NK,)) + ik1[1:], f) is None
    for kind in (0, MSG2, 4, 255):
        assert resp.read_message1(bytes((kind,)) + msg1[1:], f) is None
    for bad in (None, 5, "x" * 80):
        assert resp.read_message1(bad, f) is None


def test_low_order_ephemeral_keys_are_rejected():
    resp = Responder(GW)
    msg1 = Initiator(GW_PUB, key(b"e"), None).message1(b"payload")
    for point in LOW_ORDER:
        forged = msg1[:1] + point + msg1[33:]
        assert resp.read_message1(forged, key(b"f")) is None


def test_low_order_responder_key_raises_at_message1():
    try:
        Initiator(bytes(32), key(b"e")).message1(b"x")
    except SessionError:
        return
    raise AssertionError("all-zero responder key accepted")


def test_wrong_responder_key_fails():
    other = Initiator(public_key(key(b"not the gateway")), key(b"e"))
    assert Responder(GW).read_message1(other.message1(b"x"), key(b"f")) is None


def test_malformed_message2_returns_none():
    ini = Initiator(GW_PUB, key(b"e"))
    assert ini.read_message2(bytes(49), T0) is None  # before message1
    incoming = Responder(GW).read_message1(ini.message1(b"p"), key(b"f"))
    msg2, _ = incoming.reply(b"r", T0)
    stranger = Initiator(GW_PUB, key(b"e2"))
    stranger.message1(b"p")
    assert stranger.read_message2(msg2, T0) is None  # answers another message1
    for n in range(len(msg2)):
        assert ini.read_message2(msg2[:n], T0) is None, "truncated to %d" % n
    for bit in (0, 3, 8, 200, 263, 264, 300, len(msg2) * 8 - 1):
        assert ini.read_message2(flip(msg2, bit), T0) is None, "bit %d" % bit
    for point in LOW_ORDER:
        assert ini.read_message2(msg2[:1] + point + msg2[33:], T0) is None
    for bad in (None, 3, "y" * 60, msg2 + b"\x00", bytes((MSG1_NK,)) + msg2[1:]):
        assert ini.read_message2(bad, T0) is None
    session = ini.read_message2(msg2, T0)
    assert session is not None
    assert ini.read_message2(msg2, T0) is None  # one session per Initiator


def test_handshake_objects_are_single_use():
    ini = Initiator(GW_PUB, key(b"e"))
    msg1 = ini.message1(b"p")
    try:
        ini.message1(b"again")
    except SessionError:
        pass
    else:
        raise AssertionError("message1 sent twice")
    incoming = Responder(GW).read_message1(msg1, key(b"f"))
    incoming.reply(b"r", T0)
    try:
        incoming.reply(b"r2", T0)
    except SessionError:
        return
    raise AssertionError("replied twice")


def test_bad_key_sizes_raise_value_error():
    for call in (
        lambda: Initiator(bytes(31), key(b"e")),
        lambda: Initiator(GW_PUB, bytes(33)),
        lambda: Initiator(GW_PUB, key(b"e"), b"short"),
        lambda: Responder(bytes(16)),
        lambda: Responder(GW).read_message1(b"", bytes(3)),
    ):
        try:
            call()
        except ValueError:
            continue
        raise AssertionError("bad key size accepted")


def test_rekey_signalled_by_message_count_then_exhausted():
    i_sess, r_sess, _ = handshake(rekey_messages=8, rekey_ms=60000)
    for n in range(7):
        r_sess.open(i_sess.seal(b"%d" % n))
    assert not i_sess.needs_rekey(T0) and not r_sess.needs_rekey(T0)
    r_sess.open(i_sess.seal(b"7"))
    assert i_sess.needs_rekey(T0)
    assert r_sess.needs_rekey(T0)  # the receiver counts what it received
    for _ in range(8):
        i_sess.seal(b"grace")
    try:
        i_sess.seal(b"one too many")
    except SessionError:
        pass
    else:
        raise AssertionError("sealed past the hard limit")
    assert i_sess.needs_rekey(T0)


def test_rekey_signalled_by_age_across_tick_wrap():
    start = TICKS_PERIOD - 500
    i_sess, r_sess, _ = handshake(now=start, rekey_ms=1000)
    assert not i_sess.needs_rekey(start + 999 - TICKS_PERIOD)
    packet = i_sess.seal(b"late", b"", (start + 1500) % TICKS_PERIOD)
    assert i_sess.needs_rekey((start + 1000) % TICKS_PERIOD)
    assert r_sess.open(packet, b"", (start + 1999) % TICKS_PERIOD) == b"late"
    assert r_sess.open(i_sess.seal(b"x"), b"", (start + 2000) % TICKS_PERIOD) is None
    try:
        i_sess.seal(b"expired", b"", (start + 2000) % TICKS_PERIOD)
    except SessionError:
        return
    raise AssertionError("sealed after the hard time limit")


def test_fresh_handshake_after_reboot_replaces_the_session():
    old_i, old_r, _ = handshake(e=b"boot1", f=b"f1")
    for n in range(5):
        assert old_r.open(old_i.seal(b"before %d" % n)) is not None
    # The bulb reboots: its session state is gone; it handshakes again with a new ephemeral.
    new_i, new_r, incoming = handshake(e=b"boot2", f=b"f2", payload1=b"rebooted")
    assert incoming.payload == b"rebooted"
    assert not new_r.confirmed
    first = new_i.seal(b"after 0")  # counters restart at 0 under the new keys
    assert int.from_bytes(first[:8], "big") == 0
    assert old_r.open(first) is None
    assert new_r.open(first) == b"after 0"
    assert new_r.confirmed
    assert new_r.open(old_i.seal(b"stale")) is None
    assert new_i.open(new_r.seal(b"welcome back")) == b"welcome back"
