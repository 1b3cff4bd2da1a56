# X25519 Diffie-Hellman (RFC 7748, section 5) on Curve25519, p = 2**255 - 19.
#
# Rules kept here:
# 1. x25519(scalar32, u32) is the RFC 7748 function: decode the scalar little-endian and clamp
#    it (clear bits 0-2 and 255, set bit 254); decode u little-endian, mask bit 255 and accept
#    non-canonical values (u >= p) as u mod p; return the result u-coordinate as 32 bytes
#    little-endian. public_key(private32) = x25519(private32, BASEPOINT).
# 2. An all-zero result (the peer sent a low-order or zero point) is RETURNED as 32 zero
#    bytes by every backend, never raised: callers that agree keys must reject it with
#    is_zero() (session.py does). `cryptography` raises on it, so that backend maps its
#    ValueError to the zero result.
# 3. The backend is chosen once, at import: the `cryptography` package when it imports
#    (CPython hosts), else the pure-Python ladder below. BACKEND names the choice;
#    x25519_python is always available so tests can compare both.
# 4. Inputs must be bytes, bytearray or memoryview of exactly 32 bytes: other lengths raise
#    ValueError, other types TypeError (both are caller mistakes, never peer input).
# 5. The ladder swaps with an arithmetic mask, not a branch, and runs all 255 steps whatever
#    the scalar. Big-integer arithmetic is not constant-time, so this is constant-time
#    *style* only: it removes the scalar-dependent branches, not every timing signal.
# 6. Inversion is Fermat's: z**(p - 2) mod p with the three-argument pow (MicroPython's big
#    ints have it). No tables, no module-level state beyond a few constants, and randomness
#    never comes from here: private keys arrive as bytes from the caller.

try:
    from cryptography.hazmat.primitives.asymmetric.x25519 import (
        X25519PrivateKey as _Private,
    )
    from cryptography.hazmat.primitives.asymmetric.x25519 import (
        X25519PublicKey as _Public,
    )
    from cryptography.hazmat.primitives.serialization import Encoding as _Encoding
    from cryptography.hazmat.primitives.serialization import PublicFormat as _Format

    BACKEND = "cryptography"
except ImportError:
    BACKEND = "python"

KEY_LEN = 32
BASEPOINT = b"\x09" + bytes(31)
_ZERO = bytes(KEY_LEN)
_P = (1 << 255) - 19
_U_MASK = (1 << 255) - 1
_CLAMP_AND = (1 << 254) - 8
_CLAMP_OR = 1 << 254
_A24 = 121665  # (486662 - 2) / 4


def _bytes32(value, what):
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise TypeError("x25519: %s must be bytes, not %s" % (what, type(value).__name__))
    if len(value) != KEY_LEN:
        raise ValueError("x25519: %s must be 32 bytes, got %d" % (what, len(value)))
    return bytes(value)


def is_zero(value32):
    """True when the 32 bytes are all zero (a low-order shared secret, rule 2). Reads every
    byte whatever their values."""
    acc = 0
    for b in _bytes32(value32, "value"):
        acc |= b
    return acc == 0


def x25519_python(scalar32, u32):
    """The pure-Python RFC 7748 X25519 (rules 1, 5, 6); works on MicroPython and CPython."""
    k = int.from_bytes(_bytes32(scalar32, "scalar"), "little")
    k = (k & _CLAMP_AND) | _CLAMP_OR
    p = _P
    x1 = (int.from_bytes(_bytes32(u32, "u"), "little") & _U_MASK) % p
    x2 = 1
    z2 = 0
    x3 = x1
    z3 = 1
    swap = 0
    for t in range(254, -1, -1):
        bit = (k >> t) & 1
        swap ^= bit
        mask = -swap  # 0 or all ones: conditional swap without a branch
        d = mask & (x2 ^ x3)
        x2 ^= d
        x3 ^= d
        d = mask & (z2 ^ z3)
        z2 ^= d
        z3 ^= d
        swap = bit
        a = x2 + z2
        b = x2 - z2
        aa = a * a % p
        bb = b * b % p
        e = aa - bb
        da = (x3 - z3) * a % p
        cb = (x3 + z3) * b % p
        x3 = da + cb
        x3 = x3 * x3 % p
        z3 = da - cb
        z3 = x1 * (z3 * z3 % p) % p
        x2 = aa * bb % p
        z2 = e * (aa + _A24 * e) % p
    mask = -swap  # RFC 7748's final swap; always 0 here, as bit 0 of a clamped scalar is 0
    x2 ^= mask & (x2 ^ x3)
    z2 ^= mask & (z2 ^ z3)
    return (x2 * pow(z2, p - 2, p) % p).to_bytes(KEY_LEN, "little")


if BACKEND == "cryptography":

    def x25519(scalar32, u32):
        """X25519(scalar, u) as 32 bytes (rule 1); all zeros for a low-order u (rule 2)."""
        private = _Private.from_private_bytes(_bytes32(scalar32, "scalar"))
        peer = _Public.from_public_bytes(_bytes32(u32, "u"))
        try:
            return private.exchange(peer)
        except ValueError:  # cryptography refuses the all-zero shared secret
            return _ZERO

    def public_key(private32):
        """The X25519 public key of a 32-byte private key: x25519(private32, BASEPOINT)."""
        private = _Private.from_private_bytes(_bytes32(private32, "private key"))
        return private.public_key().public_bytes(_Encoding.Raw, _Format.Raw)

else:
    x25519 = x25519_python

    def public_key(private32):
        """The X25519 public key of a 32-byte private key: x25519(private32, BASEPOINT)."""
        return x25519_python(_bytes32(private32, "private key"), BASEPOINT)
