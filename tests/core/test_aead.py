# Unit tests for meshbulb.aead: AES-128-CTR + HMAC-SHA256-128 encrypt-then-MAC.
# Plain test_* functions with asserts: they run under pytest and under tests/mpy_runner.py.

from meshbulb.aead import TAG_LEN, Aead
from meshbulb.aes import AesEcb, ctr_xor
from meshbulb.hkdf import hkdf, hmac_sha256

KEY = bytes(range(32))
NONCE = bytes.fromhex("0001020304050607")
AD = b"hdr:\x01\x02"
MSG = b"turn the kitchen bulb to 40% warm white, please"


def _flip(data, bit):
    out = bytearray(data)
    out[bit >> 3] ^= 1 << (bit & 7)
    return bytes(out)


def test_round_trip_various_lengths():
    a = Aead(KEY)
    for n in (0, 1, 15, 16, 17, 200, 600):
        pt = bytes((i * 7) & 0xFF for i in range(n))
        sealed = a.seal(NONCE, AD, pt)
        assert len(sealed) == n + TAG_LEN
        assert a.open(NONCE, AD, sealed) == pt, "length %d" % n
    assert a.open(NONCE, b"", a.seal(NONCE, b"", b"")) == b""


def test_construction_matches_the_documented_rules():
    okm = hkdf(b"", KEY, b"meshbulb aead v1", 48)
    ct = ctr_xor(AesEcb(okm[:16]), NONCE + bytes(8), MSG)
    mac_in = len(AD).to_bytes(8, "big") + AD + NONCE + ct
    tag = hmac_sha256(okm[16:], mac_in)[:16]
    assert Aead(KEY).seal(NONCE, AD, MSG) == ct + tag


def test_accepts_bytearray_and_memoryview_inputs():
    a = Aead(bytearray(KEY))
    sealed = a.seal(bytearray(NONCE), memoryview(AD), bytearray(MSG))
    assert sealed == Aead(KEY).seal(NONCE, AD, MSG)
    assert a.open(memoryview(NONCE), bytearray(AD), memoryview(sealed)) == MSG


def test_every_bit_flip_of_ciphertext_and_tag_fails():
    a = Aead(KEY)
    sealed = a.seal(NONCE, AD, MSG)
    for bit in range(len(sealed) * 8):
        assert a.open(NONCE, AD, _flip(sealed, bit)) is None, "bit %d" % bit


def test_every_bit_flip_of_ad_and_nonce_fails():
    a = Aead(KEY)
    sealed = a.seal(NONCE, AD, MSG)
    for bit in range(len(AD) * 8):
        assert a.open(NONCE, _flip(AD, bit), sealed) is None, "ad bit %d" % bit
    for bit in range(64):
        assert a.open(_flip(NONCE, bit), AD, sealed) is None, "nonce bit %d" % bit


def test_ad_and_ciphertext_boundary_is_bound():
    # Moving a byte between ad and ciphertext must not verify (length prefix, rule 3).
    a = Aead(KEY)
    sealed = a.seal(NONCE, AD, MSG)
    assert a.open(NONCE, AD[:-1], AD[-1:] + sealed) is None
    assert a.open(NONCE, AD + b"\x00", sealed) is None


def test_truncated_or_extended_input_is_none():
    a = Aead(KEY)
    sealed = a.seal(NONCE, AD, MSG)
    for n in range(len(sealed)):
        assert a.open(NONCE, AD, sealed[:n]) is None, "truncated to %d" % n
    assert a.open(NONCE, AD, sealed + b"\x00") is None
    assert a.open(NONCE, AD, b"") is None


def test_wrong_key_is_none():
    sealed = Aead(KEY).seal(NONCE, AD, MSG)
    other = bytearray(KEY)
    other[31] ^= 1
    assert Aead(bytes(other)).open(NONCE, AD, sealed) is None
    assert Aead(bytes(32)).open(NONCE, AD, sealed) is None


def test_open_never_raises_on_garbage():
    a = Aead(KEY)
    sealed = a.seal(NONCE, AD, MSG)
    bad_calls = (
        (None, AD, sealed),
        (NONCE, None, sealed),
        (NONCE, AD, None),
        (NONCE[:7], AD, sealed),
        (NONCE + b"\x00", AD, sealed),
        (12345, AD, sealed),
        (NONCE, AD, 12345),
        ("abcdefgh", AD, sealed),
        (NONCE, AD, "x" * 40),
    )
    for nonce, ad, data in bad_calls:
        assert a.open(nonce, ad, data) is None


def test_nonces_give_distinct_keystreams():
    a = Aead(KEY)
    one = a.seal(NONCE, b"", bytes(32))
    two = a.seal(_flip(NONCE, 0), b"", bytes(32))
    assert one[:32] != two[:32]
    assert a.seal(NONCE, b"", bytes(32)) == one  # deterministic: nonce reuse is the caller's bug


def test_bad_key_or_nonce_raise_on_seal():
    for key in (bytes(16), bytes(33), None):
        try:
            Aead(key)
        except ValueError:
            continue
        raise AssertionError("key accepted")
    try:
        Aead(KEY).seal(bytes(7), b"", b"x")
    except ValueError:
        return
    raise AssertionError("7-byte nonce accepted")
