# Frame MICs and the key refresh phases (auth.py). Runs under CPython and MicroPython.

from meshbulb import wire
from meshbulb.auth import Keyring, MicKey
from meshbulb.hkdf import hkdf, hmac_sha256

KEY = b"community key 16"


def signed_frame(mic_key, payload=b"\x01\x00\x05hello"):
    buf = bytearray(wire.HEADER_LEN + len(payload) + wire.MIC_LEN)
    wire.pack_header(buf, wire.T_DATA, 0, 0, 9, 2, b"\x02" * 6, b"\x03" * 6, 77)
    end = wire.HEADER_LEN + len(payload)
    buf[wire.HEADER_LEN:end] = payload
    assert mic_key.sign(buf, end) == len(buf)
    return bytes(buf)


def test_mic_is_truncated_hmac_sha256_over_the_whole_frame_under_a_derived_key():
    mic = MicKey(7, KEY)
    frame = signed_frame(mic)
    assert frame[2] == 7
    derived = hkdf(b"meshbulb-mic-v1", KEY, b"mic\x07", 32)
    assert frame[-8:] == hmac_sha256(derived, frame[:-8])[:8]
    assert mic.verify(frame)


def test_every_single_bit_flip_is_detected():
    mic = MicKey(1, KEY)
    frame = signed_frame(mic)
    for i in range(len(frame)):
        for bit in range(8):
            bad = bytearray(frame)
            bad[i] ^= 1 << bit
            assert not mic.verify(bytes(bad)), "flip of byte %d bit %d accepted" % (i, bit)


def test_truncated_extended_and_foreign_frames_fail():
    mic = MicKey(1, KEY)
    frame = signed_frame(mic)
    for cut in range(len(frame)):
        assert not mic.verify(frame[:cut])
    assert not mic.verify(frame + b"\x00")
    assert not MicKey(1, b"another key 16 b").verify(frame)
    assert not MicKey(2, KEY).verify(frame)  # same secret, other key id: other MIC key


def test_keys_are_checked():
    for key_id, key in ((0, KEY), (256, KEY), (1, b"short")):
        try:
            MicKey(key_id, key)
        except ValueError:
            pass
        else:
            raise AssertionError("accepted key_id %d" % key_id)


def test_key_refresh_phases_accept_and_send_the_right_keys():
    ring = Keyring(1, KEY)
    assert ring.phase == Keyring.NORMAL and ring.send_id == 1
    assert ring.accepts(1) is not None and ring.accepts(2) is None
    ring.begin_refresh(2, b"the next key 16b")
    assert ring.phase == Keyring.PHASE_ACCEPT and ring.send_id == 1
    assert ring.accepts(1) is not None and ring.accepts(2) is not None
    ring.start_sending_new()
    assert ring.phase == Keyring.PHASE_SEND and ring.sender().key_id == 2
    assert ring.accepts(1) is not None
    ring.finish()
    assert ring.phase == Keyring.NORMAL and ring.accepts(1) is None and ring.send_id == 2


def test_key_refresh_refuses_out_of_order_steps():
    ring = Keyring(1, KEY)
    for step in (ring.start_sending_new, ring.finish):
        try:
            step()
        except ValueError:
            pass
        else:
            raise AssertionError("step accepted out of order")
    ring.begin_refresh(2, b"the next key 16b")
    try:
        ring.begin_refresh(3, b"a third key 16 b")
    except ValueError:
        pass
    else:
        raise AssertionError("second refresh accepted")
