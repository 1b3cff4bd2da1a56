# AES block encryption (FIPS-197) and CTR mode built from ECB (NIST SP 800-38A, 6.5).
#
# Rules kept here:
# 1. The backend is chosen once, at import: MicroPython's `cryptolib` (ECB, mode 1), else the
#    `cryptography` package, else the pure-Python AES below. BACKEND names the choice. Every
#    backend gives the same bytes; AesEcb(key, backend) can force one (tests compare them).
# 2. Only the forward cipher is needed: CTR encrypts and decrypts with the same keystream.
#    Keys are 16 bytes (AES-128) or 32 bytes (AES-256).
# 3. CTR's counter block is the whole 16-byte IV read as a 128-bit big-endian integer and
#    incremented modulo 2**128 per block, as SP 800-38A's standard incrementing function.
#    The caller owns IV uniqueness: a repeated (key, counter block) leaks the XOR of plaintexts.
# 4. Keystream is made at most _CHUNK bytes at a time with one ECB call per chunk, and XORed
#    as big integers, so there is no per-byte Python loop and peak RAM stays small.
# 5. The pure-Python tables (S-box and four 256-word T-tables) are built on first use only,
#    so a port that has cryptolib never pays their RAM.

try:
    from cryptolib import aes as _cryptolib_aes

    BACKEND = "cryptolib"
except ImportError:
    _cryptolib_aes = None
    try:
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

        BACKEND = "cryptography"
    except ImportError:
        BACKEND = "python"

_MODE_ECB = 1
_CHUNK = 512
_MASK32 = 0xFFFFFFFF
_MASK128 = (1 << 128) - 1
_tables = None


class AesEcb:
    """AES forward cipher under one key (16 or 32 bytes); `backend` defaults to BACKEND."""

    def __init__(self, key, backend=None):
        key = bytes(key)
        if len(key) != 16 and len(key) != 32:
            raise ValueError("AES key must be 16 or 32 bytes")
        self.backend = backend or BACKEND
        if self.backend == "cryptolib":
            self._ecb = _cryptolib_aes(key, _MODE_ECB).encrypt
        elif self.backend == "cryptography":
            self._ecb = Cipher(algorithms.AES(key), modes.ECB()).encryptor().update
        elif self.backend == "python":
            self._rk = _expand_key(key)
            self._ecb = self._py_ecb
        else:
            raise ValueError("unknown AES backend")

    def encrypt_block(self, block):
        """Encrypt one 16-byte block; returns 16 bytes."""
        if len(block) != 16:
            raise ValueError("AES block must be 16 bytes")
        return bytes(self._ecb(bytes(block)))

    def encrypt_blocks(self, data):
        """ECB-encrypt a whole number of 16-byte blocks (each block independently)."""
        if len(data) % 16:
            raise ValueError("ECB data must be a multiple of 16 bytes")
        return bytes(self._ecb(bytes(data)))

    def _py_ecb(self, data):
        rk = self._rk
        return b"".join([_py_encrypt(rk, data[i : i + 16]) for i in range(0, len(data), 16)])


def ctr_xor(aes_ecb, iv16, data):
    """XOR `data` with the AES-CTR keystream whose first counter block is iv16 (rule 3).
    Encryption and decryption are the same operation."""
    if len(iv16) != 16:
        raise ValueError("CTR IV must be 16 bytes")
    n = len(data)
    ctr = int.from_bytes(bytes(iv16), "big")
    out = []
    pos = 0
    while pos < n:
        m = min(_CHUNK, n - pos)
        blocks = (m + 15) >> 4
        counters = b"".join([((ctr + i) & _MASK128).to_bytes(16, "big") for i in range(blocks)])
        stream = aes_ecb.encrypt_blocks(counters)
        x = int.from_bytes(bytes(data[pos : pos + m]), "big") ^ int.from_bytes(stream[:m], "big")
        out.append(x.to_bytes(m, "big"))
        ctr += blocks
        pos += m
    return b"".join(out)


# --- pure-Python AES (FIPS-197), encryption only -------------------------------------------


def _xtime(b):
    b <<= 1
    return (b ^ 0x11B) if b & 0x100 else b


def _build_tables():
    """S-box from the multiplicative inverse and affine map, then the T-tables:
    T0[x] = (2s, s, s, 3s) with s = S[x]; T1..T3 are T0 rotated right by 8, 16, 24 bits."""
    sbox = bytearray(256)
    p = q = 1
    while True:
        p ^= _xtime(p)  # p *= 3 in GF(2**8)
        q ^= q << 1
        q ^= q << 2
        q ^= q << 4
        q &= 0xFF
        if q & 0x80:
            q ^= 0x09  # q /= 3
        x = q ^ (q << 1) ^ (q << 2) ^ (q << 3) ^ (q << 4)
        sbox[p] = (x ^ (x >> 8) ^ 0x63) & 0xFF
        if p == 1:
            break
    sbox[0] = 0x63
    t0 = []
    t1 = []
    t2 = []
    t3 = []
    for x in range(256):
        s = sbox[x]
        s2 = _xtime(s)
        w = (s2 << 24) | (s << 16) | (s << 8) | (s2 ^ s)
        t0.append(w)
        w = (w >> 8) | ((w & 0xFF) << 24)
        t1.append(w)
        w = (w >> 8) | ((w & 0xFF) << 24)
        t2.append(w)
        w = (w >> 8) | ((w & 0xFF) << 24)
        t3.append(w)
    return (bytes(sbox), t0, t1, t2, t3)


def _get_tables():
    global _tables
    if _tables is None:
        _tables = _build_tables()
    return _tables


def _sub_word(sbox, w):
    return (
        (sbox[w >> 24] << 24)
        | (sbox[(w >> 16) & 0xFF] << 16)
        | (sbox[(w >> 8) & 0xFF] << 8)
        | sbox[w & 0xFF]
    )


def _expand_key(key):
    """FIPS-197 5.2: the round keys as 4 * (Nr + 1) 32-bit words."""
    sbox = _get_tables()[0]
    nk = len(key) // 4
    total = 4 * (nk + 7)
    w = [int.from_bytes(key[4 * i : 4 * i + 4], "big") for i in range(nk)]
    rcon = 1
    for i in range(nk, total):
        t = w[i - 1]
        if i % nk == 0:
            t = _sub_word(sbox, ((t << 8) & _MASK32) | (t >> 24)) ^ (rcon << 24)
            rcon = _xtime(rcon)
        elif nk > 6 and i % nk == 4:
            t = _sub_word(sbox, t)
        w.append(w[i - nk] ^ t)
    return w


def _py_encrypt(rk, block):
    """FIPS-197 5.1 Cipher on one 16-byte block, with table lookups per round."""
    sbox, t0, t1, t2, t3 = _get_tables()
    s0 = int.from_bytes(block[0:4], "big") ^ rk[0]
    s1 = int.from_bytes(block[4:8], "big") ^ rk[1]
    s2 = int.from_bytes(block[8:12], "big") ^ rk[2]
    s3 = int.from_bytes(block[12:16], "big") ^ rk[3]
    k = 4
    last = len(rk) - 4
    while k < last:
        a = t0[s0 >> 24] ^ t1[(s1 >> 16) & 255] ^ t2[(s2 >> 8) & 255] ^ t3[s3 & 255] ^ rk[k]
        b = t0[s1 >> 24] ^ t1[(s2 >> 16) & 255] ^ t2[(s3 >> 8) & 255] ^ t3[s0 & 255] ^ rk[k + 1]
        c = t0[s2 >> 24] ^ t1[(s3 >> 16) & 255] ^ t2[(s0 >> 8) & 255] ^ t3[s1 & 255] ^ rk[k + 2]
        d = t0[s3 >> 24] ^ t1[(s0 >> 16) & 255] ^ t2[(s1 >> 8) & 255] ^ t3[s2 & 255] ^ rk[k + 3]
        s0, s1, s2, s3 = a, b, c, d
        k += 4
    out = b""
    for a, b, c, d in ((s0, s1, s2, s3), (s1, s2, s3, s0), (s2, s3, s0, s1), (s3, s0, s1, s2)):
        w = (sbox[a >> 24] << 24) | (sbox[(b >> 16) & 255] << 16)
        w |= (sbox[(c >> 8) & 255] << 8) | sbox[d & 255]
        out += (w ^ rk[k]).to_bytes(4, "big")
        k += 1
    return out
