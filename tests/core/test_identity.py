# Identities (identity.py): a static key pair and the address bound to it.
# Runs under CPython and MicroPython.

import hashlib

from meshbulb.identity import Identity, address_of
from meshbulb.x25519 import public_key


def test_the_address_is_the_hash_of_the_public_key():
    me = Identity(bytes(range(32)))
    assert me.public == public_key(bytes(range(32)))
    digest = hashlib.sha256(b"meshbulb-address-v1" + me.public).digest()
    assert me.address[1:] == digest[1:6]
    assert me.address[0] & 0x03 == 0x02  # locally administered, unicast
    assert address_of(me.public) == me.address


def test_different_keys_give_different_addresses_and_never_broadcast():
    seen = set()
    for i in range(20):
        address = Identity(bytes((i,)) * 32).address
        assert address != b"\xff" * 6 and address not in seen
        seen.add(address)


def test_a_private_key_must_be_32_bytes():
    try:
        Identity(bytes(31))
    except ValueError:
        pass
    else:
        raise AssertionError("accepted a 31-byte key")
