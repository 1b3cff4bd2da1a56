# Authenticated encryption: AES-128-CTR then HMAC-SHA256 over the result (encrypt-then-MAC).
#
# Rules kept here:
# 1. One 32-byte key gives two independent subkeys:
#    enc_key(16) || mac_key(32) = HKDF-SHA256(salt=b"", ikm=key, info=b"meshbulb aead v1", 48).
# 2. The CTR IV is nonce8 || 8 zero bytes, so the low 64 bits count blocks and a message may
#    be up to 2**64 blocks long without touching the nonce. A nonce must NEVER repeat under
#    one key: a repeat reveals the XOR of two plaintexts and lets tags be forged.
# 3. tag = first 16 bytes of HMAC(mac_key, len(ad) as 8 bytes big-endian || ad || nonce8 ||
#    ciphertext). The length prefix makes the ad/ciphertext split unambiguous.
# 4. sealed = ciphertext || tag. open() checks the tag, comparing every byte, before it
#    decrypts anything, and answers None for every bad input (wrong types, lengths, tags):
#    it never raises and never says why.

from meshbulb.aes import AesEcb, ctr_xor
from meshbulb.hkdf import HmacKey, compare_digest, hkdf

KEY_LEN = 32
NONCE_LEN = 8
TAG_LEN = 16
INFO = b"meshbulb aead v1"
_ZERO8 = bytes(8)


def _is_bytes(x):
    return isinstance(x, (bytes, bytearray, memoryview))


class Aead:
    """AES-128-CTR + HMAC-SHA256-128 under one 32-byte key (see the rules above)."""

    def __init__(self, key32):
        if not _is_bytes(key32) or len(key32) != KEY_LEN:
            raise ValueError("AEAD key must be 32 bytes")
        okm = hkdf(b"", bytes(key32), INFO, 48)
        self._aes = AesEcb(okm[:16])
        self._mac = HmacKey(okm[16:])

    def _tag(self, nonce8, ad, ciphertext):
        head = len(ad).to_bytes(8, "big")
        return self._mac.digest_parts((head, ad, nonce8, ciphertext))[:TAG_LEN]

    def seal(self, nonce8, ad, plaintext):
        """Encrypt and authenticate: returns ciphertext || tag16 (len(plaintext) + 16 bytes).
        nonce8 must be unique per key (rule 2); ad is authenticated but not encrypted."""
        if not _is_bytes(nonce8) or len(nonce8) != NONCE_LEN:
            raise ValueError("AEAD nonce must be 8 bytes")
        nonce8 = bytes(nonce8)
        ad = bytes(ad)
        ct = ctr_xor(self._aes, nonce8 + _ZERO8, plaintext)
        return ct + self._tag(nonce8, ad, ct)

    def open(self, nonce8, ad, sealed):
        """Verify and decrypt ciphertext || tag16. Returns the plaintext, or None when the
        input is malformed or was not sealed by this key with this nonce and ad."""
        if not (_is_bytes(nonce8) and _is_bytes(ad) and _is_bytes(sealed)):
            return None
        if len(nonce8) != NONCE_LEN or len(sealed) < TAG_LEN:
            return None
        nonce8 = bytes(nonce8)
        sealed = bytes(sealed)
        split = len(sealed) - TAG_LEN
        ct = sealed[:split]
        if not compare_digest(self._tag(nonce8, bytes(ad), ct), sealed[split:]):
            return None
        return ctr_xor(self._aes, nonce8 + _ZERO8, ct)
