# Neighbour discovery and link-failure handling of a Node.
# Runs under CPython and MicroPython; helpers in meshkit.py.
# micropython-heap: 150k (multi-node meshes share the heap of one bulb; at 110k they fit only
# by a few hundred bytes, so the length of the temporary path decided the outcome)

from meshkit import small_config

from meshbulb import wire
from meshbulb.neighbours import LINK_INF
from meshbulb_testing.minimesh import MiniMesh, NodePair, addr_of


def test_pair_becomes_bidirectional_neighbours():
    pair = NodePair(config=small_config())
    pair.run(5000)
    a, b = pair.nodes
    nb = a.neighbours.find(b.address)
    assert nb is not None and b.neighbours.find(a.address) is not None
    assert nb.tx_q > 0 and nb.rx_q > 0
    assert nb.cost(a.config.weak_rssi_dbm) < LINK_INF


def test_hello_interval_grows_while_nothing_changes():
    pair = NodePair(config=small_config())
    pair.run(120000)
    trickle = pair.nodes[0].control.trickle
    assert trickle.interval_ms == trickle.imax_ms


def test_every_hello_announces_a_bound_on_the_gap_to_the_next():
    # routing.py rule 9: Trickle sends anywhere in the second half of each interval, so two
    # HELLOs lie up to 1.5 intervals apart; neighbours hold an entry for a multiple of what the
    # HELLO announces, which must cover the gap.
    pair = NodePair(config=small_config())
    heard = {}  # sender address -> [(time_ms, announced interval_ms)]

    def tap(frame):
        if frame[0] & 0x0F == wire.T_HELLO:
            parsed = wire.parse_hello(frame, wire.HEADER_LEN, len(frame) - wire.HEADER_LEN)
            heard.setdefault(bytes(frame[7:13]), []).append((pair.now_ms, parsed[2] * 100))

    pair.tap = tap
    pair.run(600000)
    assert len(heard) == 2
    longest_gap_ms = 0
    for hellos in heard.values():
        assert len(hellos) >= 12
        for k in range(1, len(hellos)):
            gap_ms = hellos[k][0] - hellos[k - 1][0]
            assert gap_ms <= hellos[k - 1][1]
            longest_gap_ms = max(longest_gap_ms, gap_ms)
    imax_ms = pair.nodes[0].control.trickle.imax_ms
    assert longest_gap_ms > imax_ms  # the jitter that made the interval alone too short


def test_link_failures_remove_the_neighbour_and_its_routes():
    pair = NodePair(gateway=True, config=small_config())
    pair.run(5000)
    bulb, gw = pair.nodes
    for _ in range(bulb.config.link_fail_limit - 1):
        bulb.link_failed(0, gw.address, pair.clock())
    assert bulb.neighbours.find(gw.address) is not None
    bulb.link_failed(0, gw.address, pair.clock())
    assert bulb.neighbours.find(gw.address) is None
    assert bulb.best_gateway() is None


def test_fake_hello_flood_cannot_evict_established_neighbours_in_bulk():
    size = 3
    config = small_config(max_neighbours=size)
    mesh = MiniMesh(config=config)
    for _ in range(size + 1):
        mesh.add_node()
    for j in range(1, size + 1):
        mesh.link(0, j, -70)
    mesh.run(10000)
    node = mesh.nodes[0]
    real = set(mesh.nodes[j].address for j in range(1, size + 1))
    assert set(e.node_addr for e in node.neighbours.entries()) == real
    buf = bytearray(wire.HEADER_LEN + wire.HELLO_FIXED)
    for k in range(100):
        fake = addr_of(500 + k)
        wire.pack_header(buf, wire.T_HELLO, 0, 0, 0, 0, fake, wire.BROADCAST, k)
        wire.pack_hello(buf, wire.HEADER_LEN, 0, 1, 10, ())
        node.receive(bytes(buf), 0, fake, -30, mesh.clock())
        assert len(node.neighbours) <= size
    kept = set(e.node_addr for e in node.neighbours.entries())
    # One established link may give way to a much louder newcomer per holdoff; after that
    # the newcomers only displace each other.
    assert len(kept & real) == size - 1
    assert node.stats.drop_count("internal_error") == 0


def _hellos_after_newcomer(rssi_dbm):
    """HELLOs a settled node sends in the 5 s after a newcomer heard at rssi_dbm appears."""
    cfg = small_config(hello_imin_ms=4000, hello_doublings=6)  # Imax 256 s
    mesh = MiniMesh(config=cfg)
    mesh.add_node()
    mesh.add_node()
    mesh.link(0, 1)
    mesh.run(300000)  # node 0's next Trickle HELLO is at least 80 s away now
    before = mesh.nodes[0].stats.frames_out[wire.T_HELLO]
    mesh.add_node()  # its first HELLO goes out within 4 s
    mesh.link(0, 2, rssi_dbm=rssi_dbm)
    mesh.run(5000)
    assert mesh.nodes[0].neighbours.find(mesh.nodes[2].address) is not None
    return mesh.nodes[0].stats.frames_out[wire.T_HELLO] - before


def test_newcomer_gets_an_extra_hello_only_when_heard_well_enough():
    announce_dbm = small_config().announce_rssi_dbm
    assert _hellos_after_newcomer(announce_dbm + 10) >= 1  # new, then bidirectional
    assert _hellos_after_newcomer(announce_dbm - 5) == 0  # left to Trickle
