# Pairwise end-to-end sessions: a two-message X25519 handshake in the shape of Noise NK (the
# initiator knows the responder's static key S) or IK (the initiator also proves a static key),
# then one AEAD key per direction with explicit counters and a replay window.
#
# Rules kept here (DH(a, B) = x25519(a, B); mix(ck, ikm, info) = HKDF-SHA256(salt=ck, ikm,
# info, 64) split into a new chaining key ck (32) and an AEAD key k (32); N0 = 8 zero bytes):
# 1. msg1 = kind(1) || e_pub(32) || rest, kind 0x01 = NK, 0x02 = IK.
#    ck, k1 = mix(b"meshbulb-nk-v1", DH(e, S), kind || e_pub || S).
#    NK: rest = Aead(k1).seal(N0, kind || e_pub, payload).
#    IK: rest = c_s || Aead(k1').seal(N0, kind || e_pub || c_s, payload), where
#        c_s = Aead(k1).seal(N0, kind || e_pub, s_pub) (48 bytes) and
#        ck, k1' = mix(ck, DH(s, S), c_s): the payload is readable only by S and written only
#        by the holder of s.
# 2. msg2 = 0x03 || f_pub(32) || Aead(k2).seal(N0, 0x03 || f_pub, payload), with
#    ck, k2 = mix(ck, DH(f, e) [|| DH(f, s_pub) for IK], 0x03 || f_pub || SHA256(msg1)),
#    so msg2 answers exactly one msg1. Transport keys: prk = HKDF-Extract(ck, DH(e, f));
#    i2r = HKDF-Expand(prk, b"i2r", 32), r2i = HKDF-Expand(prk, b"r2i", 32).
#    Each handshake AEAD key encrypts exactly one message, so the fixed nonce N0 never repeats;
#    Initiator.message1 and IncomingHandshake.reply therefore run once per object.
# 3. A DH result of all zeros (a low-order or zero public key) aborts the handshake. Every
#    malformed, truncated, forged or unexpected handshake message gives None, never an
#    exception. Cost: 3 X25519 operations per side for NK (IK: 6 initiator, 5 responder), once
#    per session, never per packet; a message1 costs the responder one X25519 before it can
#    be rejected, so the owner rate-limits handshakes. Ephemeral private keys are fresh random
#    bytes from the caller (os.urandom on a bulb) and are never reused.
# 4. Transport packet = counter(8, big-endian) || Aead(dir_key).seal(counter, ad, plaintext).
#    The send counter starts at 0 and never repeats; seal raises SessionError once the session
#    is exhausted (2 * rekey_messages sent) or, when now_ms is given, 2 * rekey_ms old.
# 5. open() accepts each counter once: above the highest counter accepted so far, or among the
#    63 below it (a 64-counter window for reordering). The window moves only after the tag
#    verified, so forgeries cannot advance it. Bad input gives None.
# 6. needs_rekey(now_ms) turns True, and stays True, after rekey_messages messages in either
#    direction or rekey_ms since the handshake (ticks_elapsed: keep rekey_ms < 2**27 and call
#    it daily). The initiator then handshakes again, as a rebooted initiator does: the
#    Responder keeps no state between handshakes, so it always answers, and the owner swaps in
#    the new Session for that peer. Session.confirmed turns True once the peer has proven the
#    keys (initiator: on msg2; responder: on the first packet opened): an owner that keeps the
#    old session until then cannot lose a working session to a replayed msg1.

import hashlib

from meshbulb.aead import TAG_LEN, Aead
from meshbulb.compat import ticks_elapsed
from meshbulb.hkdf import compare_digest, hkdf, hkdf_expand, hkdf_extract
from meshbulb.x25519 import public_key, x25519

PROTOCOL = b"meshbulb-nk-v1"
MSG1_NK = 0x01
MSG1_IK = 0x02
MSG2 = 0x03
KEY_LEN = 32
COUNTER_LEN = 8
WINDOW = 64
REKEY_MESSAGES = 1 << 20
REKEY_MS = 3600 * 1000
OVERHEAD = COUNTER_LEN + TAG_LEN  # transport bytes added to each plaintext
_N0 = bytes(8)
_ZERO32 = bytes(32)
_MASK64 = (1 << 64) - 1
_COUNTER_END = 1 << 64
_HEAD = 1 + KEY_LEN  # kind || ephemeral public key
_STATIC_BOX = KEY_LEN + TAG_LEN


class SessionError(Exception):
    """A handshake object used twice, a bad key given, or a session past its limits."""


def _is_bytes(x):
    return isinstance(x, (bytes, bytearray, memoryview))


def _key(x, what):
    if not _is_bytes(x) or len(x) != KEY_LEN:
        raise ValueError(what + " must be 32 bytes")
    return bytes(x)


def _dh(private, public):
    """X25519, or None when the result is all zeros (rule 3)."""
    shared = x25519(private, public)
    return None if compare_digest(shared, _ZERO32) else shared


def _mix(ck, ikm, info):
    okm = hkdf(ck, ikm, info, 64)
    return okm[:32], okm[32:]


def _split(ck, ee):
    prk = hkdf_extract(ck, ee)
    return hkdf_expand(prk, b"i2r", 32), hkdf_expand(prk, b"r2i", 32)


class Initiator:
    """The side that knows the responder's static public key. With static_private32 the
    handshake is IK (the responder learns and authenticates our static key), else NK."""

    def __init__(
        self,
        responder_static_pub,
        eph_private32,
        static_private32=None,
        rekey_messages=REKEY_MESSAGES,
        rekey_ms=REKEY_MS,
    ):
        self._S = _key(responder_static_pub, "responder static key")
        self._e = _key(eph_private32, "ephemeral key")
        self._s = None if static_private32 is None else _key(static_private32, "static key")
        self._limits = (rekey_messages, rekey_ms)
        self._ck = None
        self._h = None
        self._done = False

    def message1(self, payload):
        """The first handshake message, carrying `payload` (encrypted to the responder).
        Raises SessionError when called twice or when S is a low-order point."""
        if self._ck is not None:
            raise SessionError("message1 already sent")
        es = _dh(self._e, self._S)
        if es is None:
            raise SessionError("responder static key is low-order")
        kind = MSG1_NK if self._s is None else MSG1_IK
        head = bytes((kind,)) + public_key(self._e)
        ck, k = _mix(PROTOCOL, es, head + self._S)
        if self._s is not None:
            box = Aead(k).seal(_N0, head, public_key(self._s))
            ck, k = _mix(ck, x25519(self._s, self._S), box)
            head += box
        msg = head + Aead(k).seal(_N0, head, payload)
        self._ck = ck
        self._h = hashlib.sha256(msg).digest()
        return msg

    def read_message2(self, msg, now_ms):
        """The responder's answer to message1: a Session (its handshake_payload is the
        responder's payload), or None when msg is not a valid answer. One Session at most."""
        if self._h is None or self._done or not _is_bytes(msg):
            return None
        msg = bytes(msg)
        if len(msg) < _HEAD + TAG_LEN or msg[0] != MSG2:
            return None
        f_pub = msg[1:_HEAD]
        ee = _dh(self._e, f_pub)
        if ee is None:
            return None
        ikm = ee
        if self._s is not None:
            se = _dh(self._s, f_pub)
            if se is None:
                return None
            ikm += se
        head = msg[:_HEAD]
        ck, k = _mix(self._ck, ikm, head + self._h)
        payload = Aead(k).open(_N0, head, msg[_HEAD:])
        if payload is None:
            return None
        self._done = True
        self._e = self._ck = None  # forget the ephemeral secret once it has served
        i2r, r2i = _split(ck, ee)
        return Session(i2r, r2i, now_ms, True, self._S, payload, self._limits)


class IncomingHandshake:
    """A verified message1 awaiting the responder's reply. Attributes: payload (bytes) and
    initiator_static (the initiator's static public key for IK, else None)."""

    def __init__(self, responder, ck, e_pub, initiator_static, payload, h, f):
        self._responder = responder
        self._ck = ck
        self._e_pub = e_pub
        self.initiator_static = initiator_static
        self.payload = payload
        self._h = h
        self._f = f

    def reply(self, payload, now_ms):
        """Answer with `payload`: returns (message2 bytes, Session). Runs once."""
        if self._f is None:
            raise SessionError("already replied")
        f = self._f
        self._f = None
        ee = _dh(f, self._e_pub)
        ikm = ee
        if ee is not None and self.initiator_static is not None:
            se = _dh(f, self.initiator_static)
            ikm = None if se is None else ee + se
        if ikm is None:  # cannot happen once DH(s, e) was non-zero; kept as a guard
            raise SessionError("low-order key")
        head = bytes((MSG2,)) + public_key(f)
        ck, k = _mix(self._ck, ikm, head + self._h)
        msg = head + Aead(k).seal(_N0, head, payload)
        i2r, r2i = _split(ck, ee)
        r = self._responder
        session = Session(r2i, i2r, now_ms, False, self.initiator_static, self.payload, r._limits)
        return msg, session


class Responder:
    """The side holding the static key pair that initiators know. Keeps no per-peer state."""

    def __init__(self, static_private32, rekey_messages=REKEY_MESSAGES, rekey_ms=REKEY_MS):
        self._s = _key(static_private32, "static key")
        self.static_public = public_key(self._s)
        self._limits = (rekey_messages, rekey_ms)

    def read_message1(self, msg, eph_private32):
        """Verify an initiator's message1. Returns an IncomingHandshake (reply with
        .reply(payload, now_ms)), or None for anything malformed or forged.
        eph_private32 is a fresh random key used for the reply."""
        f = _key(eph_private32, "ephemeral key")
        if not _is_bytes(msg) or len(msg) < _HEAD + TAG_LEN:
            return None
        msg = bytes(msg)
        kind = msg[0]
        if kind != MSG1_NK and (kind != MSG1_IK or len(msg) < _HEAD + _STATIC_BOX + TAG_LEN):
            return None
        e_pub = msg[1:_HEAD]
        es = _dh(self._s, e_pub)
        if es is None:
            return None
        head = msg[:_HEAD]
        ck, k = _mix(PROTOCOL, es, head + self.static_public)
        peer = None
        if kind == MSG1_IK:
            box = msg[_HEAD : _HEAD + _STATIC_BOX]
            peer = Aead(k).open(_N0, head, box)
            if peer is None:
                return None
            ss = _dh(self._s, peer)
            if ss is None:
                return None
            ck, k = _mix(ck, ss, box)
            head = msg[: _HEAD + _STATIC_BOX]
        payload = Aead(k).open(_N0, head, msg[len(head) :])
        if payload is None:
            return None
        return IncomingHandshake(self, ck, e_pub, peer, payload, hashlib.sha256(msg).digest(), f)


class Session:
    """Transport state of one established session (rules 4-6). Attributes: initiator (bool),
    peer_static (the peer's static public key, or None for an NK initiator seen by the
    responder), handshake_payload (what the peer sent in its handshake message), confirmed,
    created_ms, sent, rekey_messages, rekey_ms."""

    def __init__(self, send_key, recv_key, now_ms, initiator, peer_static, payload, limits):
        self._tx = Aead(send_key)
        self._rx = Aead(recv_key)
        self.initiator = initiator
        self.peer_static = peer_static
        self.handshake_payload = payload
        self.confirmed = initiator
        self.created_ms = now_ms
        self.rekey_messages, self.rekey_ms = limits
        self.sent = 0
        self._top = -1  # highest counter accepted
        self._bits = 0  # bit i set: counter top - i accepted
        self._rekey = False
        self._dead = False

    def _expired(self, now_ms):
        if now_ms is not None and not self._dead:
            self._dead = ticks_elapsed(now_ms, self.created_ms) >= 2 * self.rekey_ms
        return self._dead

    def seal(self, plaintext, ad=b"", now_ms=None):
        """Encrypt one message: counter(8) || ciphertext || tag(16). `ad` is authenticated,
        not sent. Raises SessionError past the hard limits (rule 4)."""
        n = self.sent
        if n >= 2 * self.rekey_messages or n >= _COUNTER_END:
            raise SessionError("session exhausted: rekey")
        if self._expired(now_ms):
            raise SessionError("session expired: rekey")
        self.sent = n + 1
        nonce = n.to_bytes(COUNTER_LEN, "big")
        return nonce + self._tx.seal(nonce, ad, plaintext)

    def open(self, packet, ad=b"", now_ms=None):
        """Verify and decrypt a packet from the peer; None when it is malformed, forged,
        a replay, older than the window, or (given now_ms) the session has expired."""
        if not _is_bytes(packet) or not _is_bytes(ad) or len(packet) < OVERHEAD:
            return None
        if self._expired(now_ms):
            return None
        packet = bytes(packet)
        nonce = packet[:COUNTER_LEN]
        n = int.from_bytes(nonce, "big")
        top = self._top
        if n <= top and (top - n >= WINDOW or (self._bits >> (top - n)) & 1):
            return None
        plaintext = self._rx.open(nonce, ad, packet[COUNTER_LEN:])
        if plaintext is None:
            return None
        if n > top:
            shift = n - top
            self._bits = ((self._bits << shift) | 1) & _MASK64 if shift < WINDOW else 1
            self._top = n
        else:
            self._bits |= 1 << (top - n)
        self.confirmed = True
        return plaintext

    def needs_rekey(self, now_ms):
        """True once rekey_messages were sent or received, or rekey_ms passed (rule 6).
        Call it at least once a day: tick ages are exact only below 2**29 ms."""
        if not self._rekey:
            count = max(self.sent, self._top + 1)
            age = ticks_elapsed(now_ms, self.created_ms)
            self._rekey = count >= self.rekey_messages or age >= self.rekey_ms
        self._expired(now_ms)
        return self._rekey
