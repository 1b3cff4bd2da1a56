# Unit tests for meshbulb.x25519: RFC 7748 vectors, the all-zero result of low-order points,
# input validation, and the pure-Python ladder against the selected backend.
# Plain test_* functions with asserts: they run under pytest and under tests/mpy_runner.py.

import hashlib

from meshbulb.x25519 import BACKEND, BASEPOINT, is_zero, public_key, x25519, x25519_python

_P = (1 << 255) - 19
_ZERO = bytes(32)

# RFC 7748, section 5.2: (scalar, u, result).
RFC_VECTORS = (
    (
        "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
        "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
        "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552",
    ),
    (
        "4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
        "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
        "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957",
    ),
)
ITERATED_1 = "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079"
ITERATED_1000 = "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51"

# RFC 7748, section 6.1.
ALICE_PRIVATE = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"
ALICE_PUBLIC = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
BOB_PRIVATE = "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"
BOB_PUBLIC = "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"
SHARED = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"

# u-coordinates of small order (on the curve or its twist) as integers: 0, 1, the two points
# of order 8, p - 1, p and p + 1. Each is also tried with bit 255 set, which X25519 masks.
LOW_ORDER = (
    0,
    1,
    325606250916557431795983626356110631294008115727848805560023387167927233504,
    39382357235489614581723060781553021112529911719440698176882885853963445705823,
    _P - 1,
    _P,
    _P + 1,
)

# The selected backend, plus the pure-Python ladder when the backend is another one.
IMPLEMENTATIONS = (x25519,) if x25519 is x25519_python else (x25519, x25519_python)


def _h(hexstr):
    return bytes.fromhex(hexstr)


def _le(n):
    return n.to_bytes(32, "little")


def _stream(label, count):
    """count deterministic 32-byte strings (the same on every interpreter)."""
    return [hashlib.sha256(label + b" %d" % i).digest() for i in range(count)]


def _raises(exc, fn, *args):
    try:
        fn(*args)
    except exc:
        return True
    return False


def test_backend_and_constants():
    assert BACKEND in ("cryptography", "python")
    assert BASEPOINT.hex() == "09" + "00" * 31
    assert len(BASEPOINT) == 32
    if BACKEND == "python":
        assert x25519 is x25519_python


def test_rfc7748_section_5_2_vectors():
    for scalar, u, expected in RFC_VECTORS:
        for fn in IMPLEMENTATIONS:
            out = fn(_h(scalar), _h(u))
            assert isinstance(out, bytes), type(out)
            assert out == _h(expected), "%s: %s" % (scalar, out.hex())


def test_rfc7748_iterated_once():
    for fn in IMPLEMENTATIONS:
        k = u = BASEPOINT
        k, u = fn(k, u), k
        assert k.hex() == ITERATED_1


def test_rfc7748_iterated_1000_times():
    # ~1 s per pure-Python run on CPython, ~4 s on the MicroPython unix port.
    for fn in IMPLEMENTATIONS:
        k = u = BASEPOINT
        for _ in range(1000):
            k, u = fn(k, u), k
        assert k.hex() == ITERATED_1000, k.hex()


def test_rfc7748_section_6_1_diffie_hellman():
    a, b = _h(ALICE_PRIVATE), _h(BOB_PRIVATE)
    assert public_key(a).hex() == ALICE_PUBLIC
    assert public_key(b).hex() == BOB_PUBLIC
    for fn in IMPLEMENTATIONS:
        assert fn(a, BASEPOINT).hex() == ALICE_PUBLIC
        assert fn(b, BASEPOINT).hex() == BOB_PUBLIC
        assert fn(a, _h(BOB_PUBLIC)).hex() == SHARED
        assert fn(b, _h(ALICE_PUBLIC)).hex() == SHARED


def test_low_order_points_give_all_zero_secret():
    for private in (_h(ALICE_PRIVATE), _h(BOB_PRIVATE), bytes(32), b"\xff" * 32):
        for n in LOW_ORDER:
            for u in (_le(n), _le(n | (1 << 255))):
                for fn in IMPLEMENTATIONS:
                    out = fn(private, u)
                    assert out == _ZERO, "%s -> %s" % (u.hex(), out.hex())
                    assert is_zero(out)


def test_is_zero():
    assert is_zero(bytes(32))
    assert is_zero(bytearray(32))
    assert not is_zero(BASEPOINT)
    assert not is_zero(bytes(31) + b"\x80")
    assert not is_zero(_h(SHARED))


def test_wrong_lengths_raise_value_error():
    good = _h(ALICE_PRIVATE)
    for n in (0, 1, 31, 33, 64):
        bad = bytes(n)
        for fn in IMPLEMENTATIONS:
            assert _raises(ValueError, fn, bad, BASEPOINT), (fn, n)
            assert _raises(ValueError, fn, good, bad), (fn, n)
        assert _raises(ValueError, public_key, bad), n
        assert _raises(ValueError, is_zero, bad), n


def test_non_bytes_raise_type_error():
    good = _h(ALICE_PRIVATE)
    for bad in (None, 9, "x" * 32, list(range(32))):
        for fn in IMPLEMENTATIONS:
            assert _raises(TypeError, fn, bad, BASEPOINT), (fn, bad)
            assert _raises(TypeError, fn, good, bad), (fn, bad)
        assert _raises(TypeError, public_key, bad), bad


def test_bytes_like_inputs_accepted():
    a = _h(ALICE_PRIVATE)
    b_pub = _h(BOB_PUBLIC)
    for fn in IMPLEMENTATIONS:
        assert fn(bytearray(a), memoryview(b_pub)).hex() == SHARED
    assert public_key(bytearray(a)).hex() == ALICE_PUBLIC


def test_clamping_and_top_bit_masking():
    a = _h(ALICE_PRIVATE)
    # Bits 0-2 and 255 of the scalar are cleared and bit 254 is set before use.
    unclamped = bytes((a[0] ^ 0x07,)) + a[1:31] + bytes((a[31] ^ 0xC0,))
    b_pub = _h(BOB_PUBLIC)
    top = b_pub[:31] + bytes((b_pub[31] | 0x80,))
    for fn in IMPLEMENTATIONS:
        assert fn(unclamped, b_pub).hex() == SHARED
        assert fn(a, top).hex() == SHARED


def test_non_canonical_u_is_reduced_mod_p():
    scalars = _stream(b"nc-scalar", 3)
    for small in (0, 2, 9, 18):  # p + small < 2**255: a non-canonical encoding of small
        for s in scalars:
            for fn in IMPLEMENTATIONS:
                assert fn(s, _le(_P + small)) == fn(s, _le(small))


def test_python_ladder_agrees_with_backend():
    scalars = _stream(b"scalar", 6)
    points = _stream(b"point", 6)
    for i in range(6):
        s, u = scalars[i], points[i]
        assert x25519_python(s, u) == x25519(s, u), i
        assert x25519_python(s, BASEPOINT) == public_key(s), i


def test_diffie_hellman_commutes_on_derived_keys():
    a, b = _stream(b"dh", 2)
    pa, pb = public_key(a), public_key(b)
    shared = x25519(a, pb)
    assert shared == x25519(b, pa)
    assert not is_zero(shared)
    assert x25519_python(a, pb) == shared
