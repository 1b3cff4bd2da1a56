# Unit tests for meshbulb.aes: FIPS-197 block vectors, NIST SP 800-38A CTR vectors, counter
# carries and wraps, for the import-time backend and for the pure-Python fallback.
# Plain test_* functions with asserts: they run under pytest and under tests/mpy_runner.py.

from meshbulb.aes import BACKEND, AesEcb, ctr_xor

H = bytes.fromhex
BACKENDS = (BACKEND, "python") if BACKEND != "python" else ("python",)

# FIPS-197 appendix C.1 / C.3 and appendix B: (key, plaintext, ciphertext).
FIPS197 = (
    (
        "000102030405060708090a0b0c0d0e0f",
        "00112233445566778899aabbccddeeff",
        "69c4e0d86a7b0430d8cdb78070b4c55a",
    ),
    (
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
        "00112233445566778899aabbccddeeff",
        "8ea2b7ca516745bfeafc49904b496089",
    ),
    (
        "2b7e151628aed2a6abf7158809cf4f3c",
        "3243f6a8885a308d313198a2e0370734",
        "3925841d02dc09fbdc118597196a0b32",
    ),
)

# NIST SP 800-38A F.5 plaintext, shared by every CTR example.
SP800_PT = H(
    "6bc1bee22e409f96e93d7e117393172a"
    "ae2d8a571e03ac9c9eb76fac45af8e51"
    "30c81c46a35ce411e5fbc1191a0a52ef"
    "f69f2445df4f9b17ad2b417be66c3710"
)
SP800_IV = H("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff")
# F.5.1 CTR-AES128.Encrypt and F.5.5 CTR-AES256.Encrypt: (key, ciphertext).
SP800_CTR = (
    (
        "2b7e151628aed2a6abf7158809cf4f3c",
        "874d6191b620e3261bef6864990db6ce9806f66b7970fdff8617187bb9fffdff"
        "5ae4df3edbd5d35e5b4f09020db03eab1e031dda2fbe03d1792170a0f3009cee",
    ),
    (
        "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4",
        "601ec313775789a5b7a7f504bbf3d228f443e3ca4d62b59aca84e990cacaf5c5"
        "2b0930daa23de94ce87017ba2d84988ddfc9c58db67aada613c2dd08457941a6",
    ),
)


def _reference_ctr(ecb, iv, n):
    """Keystream block by block, with the counter as a plain 128-bit integer."""
    c = int.from_bytes(iv, "big")
    out = b""
    while len(out) < n:
        out += ecb.encrypt_block(c.to_bytes(16, "big"))
        c = (c + 1) % (1 << 128)
    return out[:n]


def test_backend_is_named():
    assert BACKEND in ("cryptolib", "cryptography", "python")
    assert AesEcb(bytes(16)).backend == BACKEND


def test_fips197_block_vectors_every_backend():
    for backend in BACKENDS:
        for key, pt, ct in FIPS197:
            got = AesEcb(H(key), backend).encrypt_block(H(pt))
            assert got == H(ct), "%s key %s: %s" % (backend, key[:8], got.hex())


def test_ecb_blocks_are_independent():
    for backend in BACKENDS:
        ecb = AesEcb(H(FIPS197[0][0]), backend)
        pt = H(FIPS197[0][1])
        assert ecb.encrypt_blocks(pt * 3) == H(FIPS197[0][2]) * 3
        assert ecb.encrypt_blocks(b"") == b""


def test_sp800_38a_ctr_vectors_every_backend():
    for backend in BACKENDS:
        for key, ct in SP800_CTR:
            ecb = AesEcb(H(key), backend)
            assert ctr_xor(ecb, SP800_IV, SP800_PT) == H(ct), "%s %s" % (backend, key[:8])
            # Decryption is the same operation.
            assert ctr_xor(ecb, SP800_IV, H(ct)) == SP800_PT


def test_ctr_partial_blocks_are_prefixes():
    key, ct = SP800_CTR[0]
    ecb = AesEcb(H(key))
    ct = H(ct)
    for n in (0, 1, 15, 16, 17, 33, 63):
        assert ctr_xor(ecb, SP800_IV, SP800_PT[:n]) == ct[:n], "length %d" % n
    assert ctr_xor(ecb, bytearray(SP800_IV), memoryview(SP800_PT)) == ct


def test_ctr_counter_carries_across_the_2_64_boundary():
    ecb = AesEcb(H(SP800_CTR[0][0]))
    iv = H("0123456789abcdeffffffffffffffffe")
    stream = ctr_xor(ecb, iv, bytes(64))
    assert stream == _reference_ctr(ecb, iv, 64)
    # The third block's counter is the nonce half plus one, low half zero.
    assert stream[32:48] == ecb.encrypt_block(H("0123456789abcdf00000000000000000"))


def test_ctr_counter_wraps_modulo_2_128():
    ecb = AesEcb(H(SP800_CTR[0][0]))
    iv = b"\xff" * 16
    stream = ctr_xor(ecb, iv, bytes(32))
    assert stream[:16] == ecb.encrypt_block(iv)
    assert stream[16:] == ecb.encrypt_block(bytes(16))


def test_ctr_long_message_crosses_chunks():
    ecb = AesEcb(H(SP800_CTR[1][0]))
    iv = H("00000000000000aaffffffffffffffc0")
    n = 1500
    data = bytes(i & 0xFF for i in range(n))
    out = ctr_xor(ecb, iv, data)
    ref = _reference_ctr(ecb, iv, n)
    assert len(out) == n
    want = (int.from_bytes(data, "big") ^ int.from_bytes(ref, "big")).to_bytes(n, "big")
    assert out == want
    assert ctr_xor(ecb, iv, out) == data


def test_bad_sizes_raise_value_error():
    for call in (
        lambda: AesEcb(bytes(15)),
        lambda: AesEcb(bytes(24)),
        lambda: AesEcb(bytes(16), "rot13"),
        lambda: AesEcb(bytes(16)).encrypt_block(bytes(15)),
        lambda: AesEcb(bytes(16)).encrypt_blocks(bytes(17)),
        lambda: ctr_xor(AesEcb(bytes(16)), bytes(8), b"x"),
    ):
        try:
            call()
        except ValueError:
            continue
        raise AssertionError("accepted a bad size")
