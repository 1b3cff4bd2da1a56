# Group overlays: a named key shared by the members of a group, like a channel. Members read
# the group's messages; every other bulb relays them (they are ordinary broadcast DATA on
# GROUP_PORT) without being able to read or forge them.
#
# Rules kept here:
# 1. group_id = first 4 bytes of SHA-256(b"meshbulb-group-v1" || name); it only routes a
#    message to the right key, it is not secret.
# 2. Each sender encrypts under its own subkey HKDF(group key, info = b"group" || sender
#    address), with the AEAD of aead.py. The nonce is a number from the sender node's
#    persistent counter (Node.fresh_nonce), so no (key, nonce) pair ever repeats, reboots
#    included.
# 3. Message = group_id(4) || nonce(4, big-endian) || AEAD(ciphertext || tag16), the AD being
#    group_id || sender address. A message from a non-member, a tampered one, or one under
#    another group's key opens to None.
# 4. A replay window per sender (replay.py) rejects a message seen before, even when an
#    insider re-wraps it in a fresh frame. Subkeys of the last SUBKEY_CACHE senders are kept.

import hashlib

from meshbulb.aead import Aead
from meshbulb.hkdf import hkdf
from meshbulb.replay import ReplayTable

GROUP_PORT = 253
SUBKEY_CACHE = 8
_HEAD = 8
_PAD4 = b"\x00\x00\x00\x00"


def group_id_of(name):
    return hashlib.sha256(b"meshbulb-group-v1" + name).digest()[:4]


class GroupOverlay:
    def __init__(self, name, key32, max_senders=32):
        if len(key32) != 32:
            raise ValueError("a group key is 32 bytes")
        self.name = name
        self.group_id = group_id_of(name)
        self._key = bytes(key32)
        self._subkeys = {}
        self._replay = ReplayTable(max_senders)

    def _aead(self, sender):
        aead = self._subkeys.get(sender)
        if aead is None:
            if len(self._subkeys) >= SUBKEY_CACHE:
                self._subkeys.pop(next(iter(self._subkeys)))
            aead = Aead(hkdf(self.group_id, self._key, b"group" + sender, 32))
            self._subkeys[sender] = aead
        return aead

    def seal(self, sender, nonce, plaintext):
        """The group message for plaintext from `sender` (its address), with a nonce from
        the sender's Node.fresh_nonce()."""
        nonce4 = (nonce & 0xFFFFFFFF).to_bytes(4, "big")
        sealed = self._aead(sender).seal(_PAD4 + nonce4, self.group_id + sender, plaintext)
        return self.group_id + nonce4 + sealed

    def open(self, sender, message):
        """The plaintext of a group message from `sender`, or None (rules 3 and 4)."""
        if len(message) < _HEAD + 16 or message[:4] != self.group_id:
            return None
        nonce4 = bytes(message[4:8])
        nonce = int.from_bytes(nonce4, "big")
        if not self._replay.check(sender, nonce):
            return None
        plaintext = self._aead(sender).open(_PAD4 + nonce4, self.group_id + sender,
                                            message[_HEAD:])
        if plaintext is not None:
            self._replay.commit(sender, nonce)
        return plaintext
