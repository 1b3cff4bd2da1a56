# HMAC-SHA256 (RFC 2104) and HKDF-SHA256 (RFC 5869) on hashlib.sha256 alone.
#
# Rules kept here:
# 1. Only hashlib.sha256 with update() and digest(): MicroPython has no hmac module and its
#    hash objects have no copy(), so each MAC hashes the 64-byte ipad/opad blocks afresh.
#    HmacKey keeps those two blocks so that a long-lived key pays the key schedule once.
# 2. A key longer than the 64-byte block is first hashed (RFC 2104, section 2); a shorter
#    key is padded with zeros. The pads are XORed as big integers: no per-byte loop.
# 3. An HKDF salt of b"" (or None) means HashLen zero bytes (RFC 5869, section 2.2).
# 4. compare_digest reads every byte of equal-length inputs before it answers, so a tag
#    check does not stop at the first differing byte. Its inputs' lengths are not secret.

import hashlib

HASH_LEN = 32
_BLOCK = 64
_IPAD = int.from_bytes(b"\x36" * _BLOCK, "big")
_OPAD = int.from_bytes(b"\x5c" * _BLOCK, "big")


class HmacKey:
    """An HMAC-SHA256 key with its inner and outer pad blocks precomputed."""

    def __init__(self, key):
        key = bytes(key)
        if len(key) > _BLOCK:
            key = hashlib.sha256(key).digest()
        k = int.from_bytes(key + bytes(_BLOCK - len(key)), "big")
        self._inner = (k ^ _IPAD).to_bytes(_BLOCK, "big")
        self._outer = (k ^ _OPAD).to_bytes(_BLOCK, "big")

    def digest(self, msg):
        """HMAC-SHA256 of one message: 32 bytes."""
        inner = hashlib.sha256(self._inner)
        inner.update(msg)
        outer = hashlib.sha256(self._outer)
        outer.update(inner.digest())
        return outer.digest()

    def digest_parts(self, parts):
        """HMAC-SHA256 of the concatenation of the byte strings in `parts`, without
        building the concatenation."""
        inner = hashlib.sha256(self._inner)
        for part in parts:
            inner.update(part)
        outer = hashlib.sha256(self._outer)
        outer.update(inner.digest())
        return outer.digest()


def hmac_sha256(key, msg):
    """HMAC-SHA256(key, msg) as 32 bytes (RFC 2104)."""
    return HmacKey(key).digest(msg)


def hkdf_extract(salt, ikm):
    """HKDF-Extract: the 32-byte pseudorandom key PRK = HMAC(salt, ikm)."""
    if not salt:
        salt = bytes(HASH_LEN)
    return HmacKey(salt).digest(ikm)


def hkdf_expand(prk, info, length):
    """HKDF-Expand: `length` bytes (at most 255 * 32) of output keying material."""
    if length < 0 or length > 255 * HASH_LEN:
        raise ValueError("hkdf length")
    mac = HmacKey(prk)
    out = b""
    block = b""
    i = 1
    while len(out) < length:
        block = mac.digest_parts((block, info, bytes((i,))))
        out += block
        i += 1
    return out[:length]


def hkdf(salt, ikm, info, length):
    """HKDF-SHA256(salt, ikm, info) -> `length` bytes (RFC 5869)."""
    return hkdf_expand(hkdf_extract(salt, ikm), info, length)


def compare_digest(a, b):
    """True when a == b, comparing every byte (for MAC tags). Lengths may leak."""
    if len(a) != len(b):
        return False
    acc = 0
    for i in range(len(a)):
        acc |= a[i] ^ b[i]
    return acc == 0
