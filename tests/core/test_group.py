# Group overlays (group.py): members read, everyone else relays ciphertext.
# Runs under CPython and MicroPython.
# micropython-heap: 150k  (holds a mesh of three nodes plus the AEAD code)

from meshkit import small_config

from meshbulb.group import GROUP_PORT, GroupOverlay, group_id_of
from meshbulb.seqstore import MemoryStore, SeqCounter
from meshbulb_testing.minimesh import MiniMesh

KEY = bytes(range(32))
ALICE = b"\x02\x00\x00\x00\x00\x01"
BOB = b"\x02\x00\x00\x00\x00\x02"


def test_members_read_what_members_wrote():
    writer, reader = GroupOverlay(b"kitchen", KEY), GroupOverlay(b"kitchen", KEY)
    message = writer.seal(ALICE, 7, b"lights: warm 30%")
    assert message[:4] == group_id_of(b"kitchen")
    assert reader.open(ALICE, message) == b"lights: warm 30%"


def test_outsiders_and_tampering_read_nothing():
    message = GroupOverlay(b"kitchen", KEY).seal(ALICE, 7, b"lights: warm 30%")
    assert b"warm" not in message
    assert GroupOverlay(b"kitchen", bytes(32)).open(ALICE, message) is None  # other key
    assert GroupOverlay(b"garden", KEY).open(ALICE, message) is None  # other group
    reader = GroupOverlay(b"kitchen", KEY)
    assert reader.open(BOB, message) is None  # claims another sender
    for i in range(len(message)):
        bad = bytearray(message)
        bad[i] ^= 0x10
        assert reader.open(ALICE, bytes(bad)) is None, "flip at %d accepted" % i
    assert reader.open(ALICE, message[:-1]) is None


def test_a_replayed_message_is_refused_even_in_a_new_frame():
    writer, reader = GroupOverlay(b"kitchen", KEY), GroupOverlay(b"kitchen", KEY)
    first = writer.seal(ALICE, 100, b"scene 1")
    assert reader.open(ALICE, first) == b"scene 1"
    assert reader.open(ALICE, first) is None
    assert reader.open(ALICE, writer.seal(ALICE, 101, b"scene 2")) == b"scene 2"


def test_nonces_from_a_persistent_counter_never_repeat_across_reboots():
    store = MemoryStore()
    seen = set()
    for _ in range(3):  # boots
        counter = SeqCounter(store, 8, 0)
        for _ in range(5):
            nonce = counter.take()
            assert nonce not in seen
            seen.add(nonce)


def test_relays_forward_group_messages_they_cannot_read():
    mesh = MiniMesh(config=small_config())
    for _ in range(3):
        mesh.add_node()
    mesh.link(0, 1)
    mesh.link(1, 2)  # node 1 is not a member and sits in the middle
    mesh.run(3000)
    writer = GroupOverlay(b"hall", KEY)
    sender = mesh.nodes[0]
    message = writer.seal(sender.address, sender.fresh_nonce(), b"all off")
    mesh.broadcast(0, message, port=GROUP_PORT)
    mesh.run(2000)
    got = dict((d[1], d[4]) for d in mesh.delivered if d[3] == GROUP_PORT)
    assert sorted(got) == [1, 2]
    assert GroupOverlay(b"hall", KEY).open(sender.address, got[2]) == b"all off"
    assert GroupOverlay(b"hall", bytes(32)).open(sender.address, got[1]) is None
