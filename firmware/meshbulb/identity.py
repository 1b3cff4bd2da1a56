# Node identity: a static X25519 key pair, and a mesh address bound to its public key.
#
# Rules kept here:
# 1. address = 0x02-prefixed first 6 bytes of SHA-256(b"meshbulb-address-v1" || public key):
#    the first byte has its two low bits set to "locally administered, unicast", the rest
#    is hash. Anyone can check that a public key belongs to an address.
# 2. The binding is 46 bits strong: finding a key pair for a given address costs about 2**46
#    hashes plus key generations. That stops casual impostors; it does not stop a determined
#    one, which is why sessions also authenticate the key itself (docs/security.md).
# 3. The private key comes from the caller (os.urandom on a bulb, provisioning on a host).

import hashlib

from meshbulb.x25519 import public_key

_DOMAIN = b"meshbulb-address-v1"


def address_of(public):
    """The mesh address bound to an X25519 public key (rule 1)."""
    h = hashlib.sha256(_DOMAIN + bytes(public)).digest()
    return bytes(((h[0] & 0xFC) | 0x02,)) + h[1:6]


class Identity:
    """A node's static key pair and the address it implies."""

    def __init__(self, private32):
        if len(private32) != 32:
            raise ValueError("an X25519 private key is 32 bytes")
        self.private = bytes(private32)
        self.public = public_key(self.private)
        self.address = address_of(self.public)
