"""Cross-checks of the firmware crypto (meshbulb.hkdf/aes/aead/session) against an independent
implementation built directly on the `cryptography` package (CPython only).

(a) AEAD round trips and mutations on random inputs (hypothesis), byte-equal to the reference;
(b) the AES backends (cryptography, pure Python) agree, and the pure fallback is what CPython
    gets without `cryptography`;
(c) the real MicroPython unix port, importing the core as mpy-cross bytecode, runs the handshake
    and seals 1000 messages each way that the reference opens, and opens 1000 each way that
    the reference sealed."""

from __future__ import annotations

import hashlib
import hmac
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from meshbulb.aead import Aead
from meshbulb.aes import AesEcb, ctr_xor
from meshbulb_tools.mpy import build_tree, micropython_exe

REPO = Path(__file__).resolve().parent.parent.parent
MESSAGES = 1000
P1 = b"bulb hello: model E27, fw 0.1"
P2 = b"gateway hello: welcome"

# --- the reference: the documented construction on `cryptography` alone ---------------------


def ref_hkdf(salt: bytes | None, ikm: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def ref_public(private: bytes) -> bytes:
    pub = X25519PrivateKey.from_private_bytes(private).public_key()
    return pub.public_bytes(Encoding.Raw, PublicFormat.Raw)


def ref_dh(private: bytes, public: bytes) -> bytes:
    peer = X25519PublicKey.from_public_bytes(public)
    return X25519PrivateKey.from_private_bytes(private).exchange(peer)


class RefAead:
    """AES-128-CTR(iv = nonce8 || 0**8) then HMAC-SHA256 truncated to 16 bytes."""

    def __init__(self, key: bytes) -> None:
        okm = ref_hkdf(None, key, b"meshbulb aead v1", 48)
        self.enc_key, self.mac_key = okm[:16], okm[16:]

    def _ctr(self, nonce: bytes, data: bytes) -> bytes:
        ctx = Cipher(algorithms.AES(self.enc_key), modes.CTR(nonce + bytes(8))).encryptor()
        return ctx.update(data) + ctx.finalize()

    def _tag(self, nonce: bytes, ad: bytes, ct: bytes) -> bytes:
        mac = crypto_hmac.HMAC(self.mac_key, hashes.SHA256())
        mac.update(len(ad).to_bytes(8, "big") + ad + nonce + ct)
        return mac.finalize()[:16]

    def seal(self, nonce: bytes, ad: bytes, pt: bytes) -> bytes:
        ct = self._ctr(nonce, pt)
        return ct + self._tag(nonce, ad, ct)

    def open(self, nonce: bytes, ad: bytes, sealed: bytes) -> bytes | None:
        if len(sealed) < 16:
            return None
        ct, tag = sealed[:-16], sealed[-16:]
        if not hmac.compare_digest(self._tag(nonce, ad, ct), tag):
            return None
        return self._ctr(nonce, ct)


def ref_mix(ck: bytes, ikm: bytes, info: bytes) -> tuple[bytes, bytes]:
    okm = ref_hkdf(ck, ikm, info, 64)
    return okm[:32], okm[32:]


class RefHandshake:
    """Both roles of one handshake from known private keys, as documented in session.py."""

    def __init__(self, s_priv: bytes, e: bytes, f: bytes, s_i: bytes | None) -> None:
        S = ref_public(s_priv)
        kind = b"\x01" if s_i is None else b"\x02"
        head = kind + ref_public(e)
        es = ref_dh(e, S)
        assert es == ref_dh(s_priv, ref_public(e))
        ck, k = ref_mix(b"meshbulb-nk-v1", es, head + S)
        if s_i is not None:
            box = RefAead(k).seal(bytes(8), head, ref_public(s_i))
            ck, k = ref_mix(ck, ref_dh(s_i, S), box)
            head += box
        self.msg1 = head + RefAead(k).seal(bytes(8), head, P1)
        ee = ref_dh(e, ref_public(f))
        assert ee == ref_dh(f, ref_public(e))
        ikm = ee if s_i is None else ee + ref_dh(f, ref_public(s_i))
        head2 = b"\x03" + ref_public(f)
        ck, k = ref_mix(ck, ikm, head2 + hashlib.sha256(self.msg1).digest())
        self.msg2 = head2 + RefAead(k).seal(bytes(8), head2, P2)
        self.i2r = RefAead(ref_hkdf(ck, ee, b"i2r", 32))
        self.r2i = RefAead(ref_hkdf(ck, ee, b"r2i", 32))


def plaintext(i: int) -> tuple[bytes, bytes]:
    """The i-th test message and its associated data (same rule in the MicroPython script)."""
    pt = (hashlib.sha256(b"pt%d" % i).digest() * 8)[: (i * 37) % 241]
    ad = b"" if i % 3 == 0 else b"ad%d" % i
    return pt, ad


# --- (a) AEAD on random inputs ----------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    key=st.binary(min_size=32, max_size=32),
    nonce=st.binary(min_size=8, max_size=8),
    ad=st.binary(max_size=40),
    msg=st.binary(max_size=300),
    where=st.integers(0, 10**6),
    bit=st.integers(0, 7),
)
def test_aead_round_trip_matches_reference_and_mutations_fail(
    key: bytes, nonce: bytes, ad: bytes, msg: bytes, where: int, bit: int
) -> None:
    aead = Aead(key)
    sealed = aead.seal(nonce, ad, msg)
    assert sealed == RefAead(key).seal(nonce, ad, msg)
    assert aead.open(nonce, ad, sealed) == msg
    parts = [nonce, ad, sealed]
    target = where % 3 if ad else (0, 2)[where % 2]
    mutated = bytearray(parts[target])
    mutated[where % len(mutated)] ^= 1 << bit
    parts[target] = bytes(mutated)
    assert aead.open(parts[0], parts[1], parts[2]) is None
    assert aead.open(nonce, ad, sealed[: where % len(sealed)]) is None


# --- (b) AES backends --------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    key=st.one_of(st.binary(min_size=16, max_size=16), st.binary(min_size=32, max_size=32)),
    blocks=st.binary(min_size=16, max_size=160).map(lambda b: b[: len(b) // 16 * 16]),
    iv=st.one_of(
        st.binary(min_size=16, max_size=16),
        st.integers(0, 40).map(lambda d: ((1 << 64) - d).to_bytes(16, "big")),
        st.integers(1, 40).map(lambda d: ((1 << 128) - d).to_bytes(16, "big")),
    ),
    data=st.binary(max_size=700),
)
def test_aes_backends_agree_with_each_other_and_cryptography_ctr(
    key: bytes, blocks: bytes, iv: bytes, data: bytes
) -> None:
    fast = AesEcb(key, "cryptography")
    pure = AesEcb(key, "python")
    assert fast.encrypt_blocks(blocks) == pure.encrypt_blocks(blocks)
    ctx = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
    want = ctx.update(data) + ctx.finalize()
    assert ctr_xor(fast, iv, data) == want
    assert ctr_xor(pure, iv, data) == want


def test_cpython_without_cryptography_falls_back_to_pure_python() -> None:
    script = (
        "import sys\n"
        "sys.modules['cryptography'] = None\n"
        "import test_aes, test_aead, meshbulb.aes as aes\n"
        "assert aes.BACKEND == 'python', aes.BACKEND\n"
        "for m in (test_aes, test_aead):\n"
        "    for name in sorted(dir(m)):\n"
        "        if name.startswith('test_'):\n"
        "            getattr(m, name)()\n"
        "print('fallback ok')\n"
    )
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(REPO / "firmware"), str(REPO / "tests" / "core")]),
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "fallback ok" in proc.stdout


# --- (c) MicroPython against the reference ---------------------------------------------------

MP_SCRIPT = r"""
import sys
sys.path.insert(0, sys.argv[1])
import hashlib
from meshbulb.session import Initiator, Responder
from meshbulb.x25519 import public_key

P1 = b"bulb hello: model E27, fw 0.1"
P2 = b"gateway hello: welcome"

def plaintext(i):
    pt = (hashlib.sha256(b"pt%d" % i).digest() * 8)[: (i * 37) % 241]
    ad = b"" if i % 3 == 0 else b"ad%d" % i
    return pt, ad

def line():
    return sys.stdin.readline().strip()

mode = line()
s_priv = bytes.fromhex(line())
e = bytes.fromhex(line())
f = bytes.fromhex(line())
s_i = line()
s_i = None if s_i == "-" else bytes.fromhex(s_i)
count = int(line())
ini = Initiator(public_key(s_priv), e, s_i)
msg1 = ini.message1(P1)
print("msg1 " + msg1.hex())
resp = Responder(s_priv)
if mode == "seal":
    incoming = resp.read_message1(msg1, f)
    msg2, r_sess = incoming.reply(P2, 0)
    print("msg2 " + msg2.hex())
    i_sess = ini.read_message2(msg2, 0)
    for i in range(count):
        pt, ad = plaintext(i)
        print("i " + i_sess.seal(pt, ad).hex())
        print("r " + r_sess.seal(pt, ad).hex())
else:
    incoming = resp.read_message1(bytes.fromhex(line()), f)
    print("payload1 " + incoming.payload.hex())
    peer = incoming.initiator_static
    print("static " + ("-" if peer is None else peer.hex()))
    msg2, r_sess = incoming.reply(P2, 0)
    print("msg2 " + msg2.hex())
    i_sess = ini.read_message2(bytes.fromhex(line()), 0)
    print("payload2 " + i_sess.handshake_payload.hex())
    while True:
        parts = line().split()
        if not parts:
            break
        i = int(parts[1])
        session = r_sess if parts[0] == "i" else i_sess
        pt = session.open(bytes.fromhex(parts[2]), plaintext(i)[1])
        print("NONE" if pt is None else hashlib.sha256(pt).digest().hex())
print("done")
"""


@pytest.fixture(scope="module")
def mp_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = build_tree(tmp_path_factory.mktemp("mpy"))
    (out / "crosscheck.py").write_text(MP_SCRIPT)
    return out


def run_micropython(tree: Path, stdin: str) -> list[str]:
    cmd = [micropython_exe(), "-X", "heapsize=512k", str(tree / "crosscheck.py"), str(tree)]
    proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[-1] == "done", proc.stdout[-2000:]
    return lines[:-1]


def keys(seed: int, ik: bool) -> tuple[bytes, bytes, bytes, bytes | None]:
    rng = random.Random(seed)
    s_priv, e, f, s_i = (rng.randbytes(32) for _ in range(4))
    return s_priv, e, f, (s_i if ik else None)


def header(mode: str, k: tuple[bytes, bytes, bytes, bytes | None], count: int) -> str:
    s_priv, e, f, s_i = k
    fields = [mode, s_priv.hex(), e.hex(), f.hex(), "-" if s_i is None else s_i.hex(), str(count)]
    return "\n".join(fields) + "\n"


@pytest.mark.parametrize("ik", [False, True], ids=["NK", "IK"])
def test_micropython_seals_and_the_reference_opens(mp_tree: Path, ik: bool) -> None:
    k = keys(7 + ik, ik)
    ref = RefHandshake(*k)
    lines = run_micropython(mp_tree, header("seal", k, MESSAGES))
    assert lines[0] == "msg1 " + ref.msg1.hex()
    assert lines[1] == "msg2 " + ref.msg2.hex()
    assert len(lines) == 2 + 2 * MESSAGES
    for i in range(MESSAGES):
        pt, ad = plaintext(i)
        for line, aead in ((lines[2 + 2 * i], ref.i2r), (lines[3 + 2 * i], ref.r2i)):
            packet = bytes.fromhex(line[2:])
            assert packet[:8] == i.to_bytes(8, "big")
            assert aead.open(packet[:8], ad, packet[8:]) == pt, f"message {i}"
            assert aead.open(packet[:8], ad + b"!", packet[8:]) is None


@pytest.mark.parametrize("ik", [False, True], ids=["NK", "IK"])
def test_reference_seals_and_micropython_opens(mp_tree: Path, ik: bool) -> None:
    k = keys(11 + ik, ik)
    ref = RefHandshake(*k)
    stdin = [header("open", k, 0), ref.msg1.hex(), "\n", ref.msg2.hex(), "\n"]
    expected = []
    for i in range(MESSAGES):
        pt, ad = plaintext(i)
        nonce = i.to_bytes(8, "big")
        for side, aead in (("i", ref.i2r), ("r", ref.r2i)):
            packet = nonce + aead.seal(nonce, ad, pt)
            if i % 97 == 5:  # a forged copy first: rejected, and it must not block the real one
                forged = bytearray(packet)
                forged[-1 - i % 16] ^= 0x40
                stdin.append(f"{side} {i} {forged.hex()}\n")
                expected.append("NONE")
            stdin.append(f"{side} {i} {packet.hex()}\n")
            expected.append(hashlib.sha256(pt).hexdigest())
            if i % 101 == 3:  # a replay: rejected
                stdin.append(f"{side} {i} {packet.hex()}\n")
                expected.append("NONE")
    stdin.append("\n")
    lines = run_micropython(mp_tree, "".join(stdin))
    assert lines[0] == "msg1 " + ref.msg1.hex()
    assert lines[1] == "payload1 " + P1.hex()
    assert lines[2] == "static " + ("-" if k[3] is None else ref_public(k[3]).hex())
    assert lines[3] == "msg2 " + ref.msg2.hex()
    assert lines[4] == "payload2 " + P2.hex()
    assert lines[5:] == expected
