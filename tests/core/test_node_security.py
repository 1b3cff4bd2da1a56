# Authenticated frames through the Node: outsiders, tampering, replays, key ids, reboots and
# a key refresh. Runs under CPython and MicroPython.
# micropython-heap: 150k  (holds a mesh of two or three nodes, keyed ones need more)

from meshkit import small_config

from meshbulb import wire
from meshbulb_testing.minimesh import MiniMesh

KEY = b"community key 16"


def fingerprint(node):
    """Everything a frame could change in the node's tables."""
    rows = [(e.node_addr, e.rx_q, e.tx_q, e.hello_seq, e.expires_ms)
            for e in node.neighbours.entries()]
    rows += [(r.gw, r.next_hop, r.seqno, r.metric, r.expires_ms) for r in node.gateways.entries()]
    return rows, node.table_sizes(), len(node.replay)


def keyed_pair(gateway=True):
    pair = MiniMesh(config=small_config(), mesh_key=KEY)
    pair.add_node()
    pair.add_node(gateway=gateway)
    pair.link(0, 1)
    return pair


def capture(mesh):
    frames = []
    mesh.tap = frames.append
    return frames


def test_a_keyed_mesh_converges_and_every_frame_carries_a_mic():
    pair = keyed_pair()
    frames = capture(pair)
    pair.run(5000)
    pair.send_internet(0, b"GET /", ack=True)
    pair.run(500)
    assert pair.nodes[0].best_gateway() == pair.nodes[1].address
    assert [d[4] for d in pair.delivered] == [b"GET /"] and len(pair.acked) == 1
    assert frames and all(f[2] == 1 for f in frames)
    assert all(pair.nodes[0].keyring.accepts(1).verify(f) for f in frames)


def test_outsiders_cannot_join_or_inject():
    mesh = MiniMesh(config=small_config())
    mesh.mesh_key = KEY
    mesh.add_node()
    mesh.mesh_key = b"another key 16 b"
    mesh.add_node()  # a different community: same radio, other key
    mesh.mesh_key = None
    mesh.add_node()  # no key at all
    mesh.link(0, 1)
    mesh.link(0, 2)
    mesh.run(10000)
    node = mesh.nodes[0]
    assert len(node.neighbours) == 0
    assert node.stats.drop_count("bad_mic") > 0  # the other community's frames
    assert node.stats.drop_count("unknown_key") > 0  # the keyless node's frames


def test_every_bit_flip_of_every_frame_type_is_rejected_and_changes_nothing():
    pair = keyed_pair()
    frames = capture(pair)
    pair.run(5000)
    pair.send_internet(0, b"to the internet", ack=True)
    pair.run(500)
    pair.tap = None
    victim = pair.nodes[0]
    sample = {}
    for frame in frames:
        if frame[7:13] != victim.address:
            sample.setdefault(frame[0], frame)
    rejected = 0
    for frame in sample.values():
        for i in range(len(frame)):
            for bit in range(8):
                bad = bytearray(frame)
                bad[i] ^= 1 << bit
                before = fingerprint(victim)
                drops = victim.stats.total_drops()
                actions = victim.receive(bytes(bad), 0, pair.nodes[1].address, -50, pair.clock())
                assert len(actions) == 0
                assert victim.stats.total_drops() == drops + 1
                assert fingerprint(victim) == before
                rejected += 1
    assert len(sample) >= 3 and rejected == 8 * sum(len(f) for f in sample.values())
    assert victim.stats.drop_count("internal_error") == 0


def test_replayed_frames_are_rejected_and_change_nothing():
    pair = keyed_pair()
    frames = capture(pair)
    pair.run(5000)
    pair.send_internet(0, b"once", ack=True)
    pair.run(500)
    pair.tap = None
    gw = pair.nodes[1]
    delivered = len(pair.delivered)
    before = fingerprint(gw)
    for frame in frames:
        if frame[7:13] == pair.nodes[0].address:
            actions = gw.receive(frame, 0, pair.nodes[0].address, -50, pair.clock())
            assert len(actions) == 0
    assert fingerprint(gw) == before and len(pair.delivered) == delivered
    assert gw.stats.drop_count("replay") >= 3


def test_wrong_key_ids_and_unauthenticated_frames_are_refused():
    pair = keyed_pair()
    frames = capture(pair)
    pair.run(3000)
    node = pair.nodes[0]
    frame = [f for f in frames if f[7:13] == pair.nodes[1].address][-1]
    wrong = bytearray(frame)
    wrong[2] = 9
    plain = bytearray(frame[:-wire.MIC_LEN])
    plain[2] = 0
    for bad in (bytes(wrong), bytes(plain)):
        assert len(node.receive(bad, 0, pair.nodes[1].address, -50, pair.clock())) == 0
    assert node.stats.drop_count("unknown_key") == 2
