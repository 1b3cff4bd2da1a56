# Frame authentication with the mesh (community) key: a truncated HMAC-SHA256 MIC.
#
# Rules kept here:
# 1. The MIC is the first MIC_LEN (8) bytes of HMAC-SHA256(mic_key, frame[:-8]): every byte
#    of the frame, hop counts included. A relay changes the hop counts and the key id (to its
#    own sending key), so it re-signs what it forwards: every node holds the mesh key anyway,
#    and a MIC over the whole frame means a change to any bit is caught at the next hop.
# 2. Why HMAC-SHA256: SHA-256 is native (hardware-assisted on the ESP32) in MicroPython's
#    hashlib and in CPython, so the MIC costs two hash calls per frame on both; AES-CMAC would
#    need a Python loop over AES blocks on the bulb. 64 bits of tag give a forger one chance in
#    2**64 per frame, and ESP-NOW's ~100 frames/s airtime bounds the tries.
# 3. The MIC key is derived from the mesh key and its key id with HKDF, so a key id is bound to
#    exactly one key and the raw community secret never touches a frame.
# 4. Nothing allocates but the hash objects; the HMAC pads are computed once per key
#    (hkdf.HmacKey).

from meshbulb.hkdf import HmacKey, compare_digest, hkdf
from meshbulb.wire import MIC_LEN


class MicKey:
    """The MIC key of one key id, with its HMAC pads precomputed."""

    def __init__(self, key_id, mesh_key):
        if not 1 <= key_id <= 255:
            raise ValueError("key_id must be 1..255")
        if len(mesh_key) < 16:
            raise ValueError("a mesh key must be at least 16 bytes")
        self.key_id = key_id
        self._hmac = HmacKey(hkdf(b"meshbulb-mic-v1", mesh_key, b"mic" + bytes((key_id,)), 32))

    def _tag(self, data):
        return self._hmac.digest(data)[:MIC_LEN]

    def sign(self, buf, end):
        """Write this key's id into byte 2 of the frame in buf[:end], append the MIC and
        return the new end. buf must have MIC_LEN bytes of room after end."""
        buf[2] = self.key_id
        buf[end : end + MIC_LEN] = self._tag(memoryview(buf)[:end])
        return end + MIC_LEN

    def verify(self, frame):
        """True when the last MIC_LEN bytes of frame are its MIC (rule 1)."""
        n = len(frame) - MIC_LEN
        if n < 1:
            return False
        return compare_digest(self._tag(memoryview(frame)[:n]), frame[n:])


class Keyring:
    """Mesh keys by key id, with a key refresh in three phases (as Bluetooth Mesh does):
    NORMAL: one key, used and accepted. PHASE_ACCEPT: a new key is also accepted, frames still
    go out under the old one, so nodes that have not heard of it yet keep working.
    PHASE_SEND: frames go out under the new key, the old one is still accepted. finish()
    returns to NORMAL with only the new key."""

    NORMAL = 0
    PHASE_ACCEPT = 1
    PHASE_SEND = 2

    def __init__(self, key_id, mesh_key):
        self._keys = {key_id: MicKey(key_id, mesh_key)}
        self.send_id = key_id
        self.old_id = None
        self.new_id = None
        self.phase = Keyring.NORMAL

    def accepts(self, key_id):
        return self._keys.get(key_id)

    def sender(self):
        return self._keys[self.send_id]

    def begin_refresh(self, key_id, mesh_key):
        """Phase 1: distribute a new key; accept it, keep sending under the current one."""
        if self.phase != Keyring.NORMAL:
            raise ValueError("a key refresh is already in progress")
        if key_id in self._keys:
            raise ValueError("key_id %d is in use" % key_id)
        self._keys[key_id] = MicKey(key_id, mesh_key)
        self.old_id, self.new_id = self.send_id, key_id
        self.phase = Keyring.PHASE_ACCEPT

    def start_sending_new(self):
        """Phase 2: send under the new key; the old one is still accepted."""
        if self.phase != Keyring.PHASE_ACCEPT:
            raise ValueError("no key refresh in its first phase")
        self.send_id = self.new_id
        self.phase = Keyring.PHASE_SEND

    def finish(self):
        """Phase 3: revoke the old key."""
        if self.phase != Keyring.PHASE_SEND:
            raise ValueError("no key refresh in its second phase")
        del self._keys[self.old_id]
        self.old_id = self.new_id = None
        self.phase = Keyring.NORMAL
