# Unit tests for meshbulb.hkdf: HMAC-SHA256 against RFC 4231 and HKDF-SHA256 against RFC 5869.
# Plain test_* functions with asserts: they run under pytest and under tests/mpy_runner.py.

from meshbulb.hkdf import (
    HmacKey,
    compare_digest,
    hkdf,
    hkdf_expand,
    hkdf_extract,
    hmac_sha256,
)

H = bytes.fromhex
LONG_KEY = b"\xaa" * 131

# RFC 4231 section 4: (key, data, HMAC-SHA-256 hex). Case 5 is truncated to 128 bits.
RFC4231 = (
    (
        b"\x0b" * 20,
        b"Hi There",
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
    ),
    (
        b"Jefe",
        b"what do ya want for nothing?",
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    ),
    (
        b"\xaa" * 20,
        b"\xdd" * 50,
        "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
    ),
    (
        bytes(range(1, 26)),
        b"\xcd" * 50,
        "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
    ),
    (
        b"\x0c" * 20,
        b"Test With Truncation",
        "a3b6167473100ee06e0c796c2955552b",
    ),
    (
        LONG_KEY,
        b"Test Using Larger Than Block-Size Key - Hash Key First",
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
    ),
    (
        LONG_KEY,
        b"This is a test using a larger than block-size key and a larger than block-size data."
        b" The key needs to be hashed before being used by the HMAC algorithm.",
        "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
    ),
)


def test_hmac_rfc4231_cases_1_to_7():
    for i, (key, data, want) in enumerate(RFC4231):
        want = H(want)
        got = hmac_sha256(key, data)[: len(want)]
        assert got == want, "RFC 4231 case %d: %s" % (i + 1, got.hex())


def test_hmac_truncation_case_5_is_a_prefix():
    key, data, want = RFC4231[4]
    full = hmac_sha256(key, data)
    assert len(full) == 32
    assert full[:16] == H(want)
    assert full[16:] != H(want)


def test_hmac_key_object_is_reusable_and_matches_parts():
    key, data, want = RFC4231[1]
    mac = HmacKey(key)
    assert mac.digest(data) == H(want)
    assert mac.digest(data) == H(want)
    assert mac.digest_parts((b"what do ya", b"", b" want for nothing?")) == H(want)
    assert mac.digest(memoryview(data)) == H(want)
    assert mac.digest(bytearray(data)) == H(want)


def test_hmac_block_sized_key_is_not_hashed():
    # A 64-byte key is used as is; a 65-byte key is hashed first: they must differ.
    assert hmac_sha256(b"k" * 64, b"m") != hmac_sha256(b"k" * 65, b"m")
    assert hmac_sha256(b"k" * 63, b"m") != hmac_sha256(b"k" * 64, b"m")


# RFC 5869 appendix A, cases 1-3: (ikm, salt, info, L, prk hex, okm hex).
RFC5869 = (
    (
        b"\x0b" * 22,
        bytes(range(0x00, 0x0D)),
        bytes(range(0xF0, 0xFA)),
        42,
        "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5",
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
    ),
    (
        bytes(range(0x00, 0x50)),
        bytes(range(0x60, 0xB0)),
        bytes(range(0xB0, 0x100)),
        82,
        "06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244",
        "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
        "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
        "cc30c58179ec3e87c14c01d5c1f3434f1d87",
    ),
    (
        b"\x0b" * 22,
        b"",
        b"",
        42,
        "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04",
        "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
    ),
)


def test_hkdf_rfc5869_cases_1_to_3():
    for i, (ikm, salt, info, length, prk, okm) in enumerate(RFC5869):
        got_prk = hkdf_extract(salt, ikm)
        assert got_prk == H(prk), "RFC 5869 case %d PRK: %s" % (i + 1, got_prk.hex())
        got = hkdf_expand(got_prk, info, length)
        assert got == H(okm), "RFC 5869 case %d OKM: %s" % (i + 1, got.hex())
        assert hkdf(salt, ikm, info, length) == H(okm)


def test_hkdf_empty_salt_means_zero_salt():
    ikm = b"\x0b" * 22
    assert hkdf(b"", ikm, b"x", 32) == hkdf(bytes(32), ikm, b"x", 32)
    assert hkdf(None, ikm, b"x", 32) == hkdf(bytes(32), ikm, b"x", 32)


def test_hkdf_lengths_are_prefixes():
    full = hkdf(b"salt", b"ikm", b"info", 100)
    for n in (0, 1, 31, 32, 33, 64, 99):
        assert hkdf(b"salt", b"ikm", b"info", n) == full[:n], "length %d" % n
    assert len(hkdf(b"salt", b"ikm", b"info", 255 * 32)) == 255 * 32


def test_hkdf_rejects_impossible_lengths():
    for n in (-1, 255 * 32 + 1):
        try:
            hkdf(b"s", b"k", b"i", n)
        except ValueError:
            continue
        raise AssertionError("length %d accepted" % n)


def test_compare_digest():
    assert compare_digest(b"", b"")
    assert compare_digest(b"abc", bytearray(b"abc"))
    assert compare_digest(b"abc", memoryview(b"xabc")[1:])
    assert not compare_digest(b"abc", b"abd")
    assert not compare_digest(b"abc", b"bbc")
    assert not compare_digest(b"abc", b"ab")
    assert not compare_digest(b"ab", b"abc")
    tag = bytes(range(16))
    for i in range(16):
        for bit in range(8):
            bad = bytearray(tag)
            bad[i] ^= 1 << bit
            assert not compare_digest(tag, bad)
