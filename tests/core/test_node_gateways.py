# Routes to gateways: learning, delivery, failover and fake-gateway floods.
# Runs under CPython and MicroPython; helpers in meshkit.py.
# micropython-heap: 150k (five-node meshes: five Nodes share the heap of one bulb)

from meshkit import line, small_config

from meshbulb import wire
from meshbulb_testing.minimesh import MiniMesh, NodePair, addr_of


def test_bulb_learns_gateway_and_delivers_with_ack():
    pair = NodePair(gateway=True, config=small_config())
    pair.run(5000)
    bulb, gw = pair.nodes
    assert bulb.best_gateway() == gw.address
    seq = pair.send_internet(0, b"GET /", ack=True)
    pair.run(500)
    assert [(d[1], d[2], d[4]) for d in pair.delivered] == [(1, bulb.address, b"GET /")]
    assert pair.acked and pair.acked[0][2] == gw.address and pair.acked[0][3] == seq


def test_send_internet_without_route_is_counted_not_raised():
    pair = NodePair(config=small_config(gateway_wait_packets=0))
    actions = pair.nodes[0].send_internet(1, b"x", 0)
    assert len(actions) == 0
    assert pair.nodes[0].stats.drop_count("no_route") == 1
    assert pair.nodes[0].last_seq is None


def test_a_packet_sent_before_the_first_route_waits_for_it():
    # Rule 13: a bulb just switched on has no gateway route for its first seconds.
    pair = NodePair(gateway=True, config=small_config())
    bulb = pair.nodes[0]
    assert bulb.best_gateway() is None
    payload = bytearray(b"first")
    assert len(bulb.send_internet(1, payload, pair.clock())) == 0
    payload[0] = 0  # the caller may reuse its buffer: the node holds a copy
    pair.run(5000)
    assert [(d[1], d[4]) for d in pair.delivered] == [(1, b"first")]
    assert bulb.stats.drop_count("no_route") == 0


def test_packets_held_for_a_route_are_bounded_and_expire():
    pair = NodePair(config=small_config(gateway_wait_packets=2, gateway_wait_ms=1000))
    bulb = pair.nodes[0]
    for _ in range(3):
        bulb.send_internet(1, b"no gateway yet", pair.clock())
    assert bulb.table_sizes()["held"] == 2
    assert bulb.stats.drop_count("no_route") == 1  # the hold was full
    pair.run(900)
    assert bulb.stats.drop_count("no_route") == 1
    pair.run(300)
    assert bulb.stats.drop_count("no_route") == 3
    assert pair.delivered == []


def test_packets_held_for_a_route_take_no_more_than_one_reassembly_buffer():
    pair = NodePair(config=small_config())  # reassembly_max_bytes = 256
    bulb = pair.nodes[0]
    bulb.send_internet(1, bytes(200), pair.clock())
    bulb.send_internet(1, bytes(100), pair.clock())  # 300 bytes would not fit
    bulb.send_internet(1, bytes(56), pair.clock())
    assert bulb.table_sizes()["held"] == 2
    assert bulb.stats.drop_count("no_route") == 1


def test_gateway_retraction_moves_traffic_to_the_other_gateway():
    mesh = line(5, gateways=(0, 4))
    mesh.run(10000)
    bulb = mesh.nodes[1]
    assert bulb.best_gateway() == mesh.nodes[0].address
    mesh._handle(0, mesh.nodes[0].set_uplink(0, 0, mesh.clock()))
    mesh.run(5000)
    assert bulb.best_gateway() == mesh.nodes[4].address
    mesh.send_internet(1, b"after failover")
    mesh.run(500)
    assert [d[1] for d in mesh.delivered if d[4] == b"after failover"] == [4]


def test_dead_gateway_is_routed_around_after_link_failures():
    mesh = line(5, gateways=(0, 4))
    mesh.run(10000)
    mesh.kill(0)
    for k in range(4):
        mesh.send_internet(1, b"try %d" % k)
        mesh.run(300)
    mesh.run(3000)
    assert mesh.nodes[1].best_gateway() == mesh.nodes[4].address
    mesh.send_internet(1, b"recovered")
    mesh.run(500)
    assert [d[1] for d in mesh.delivered if d[4] == b"recovered"] == [4]
    assert mesh.routing_loops() == 0


def test_clock_wraparound_is_harmless():
    pair = NodePair(gateway=True, config=small_config(), start_ms=(1 << 30) - 3000)
    pair.run(60000)
    assert pair.nodes[0].best_gateway() == pair.nodes[1].address
    pair.send_internet(0, b"after wrap")
    pair.run(500)
    assert pair.delivered and pair.delivered[-1][4] == b"after wrap"


def test_fake_gateway_flood_keeps_the_table_bounded_and_the_chosen_gateway():
    config = small_config(max_gateways=3)
    mesh = line(3, gateways=(2,), config=config)
    mesh.run(10000)
    node = mesh.nodes[0]
    chosen = node.best_gateway()
    assert chosen == mesh.nodes[2].address
    neighbour = mesh.nodes[1].address
    buf = bytearray(wire.HEADER_LEN + wire.ROUTE_FIXED + 10 * wire.ROUTE_ENTRY)
    for burst in range(5):
        wire.pack_header(buf, wire.T_ROUTE, 0, 0, 0, 0, neighbour, wire.BROADCAST, 90000 + burst)
        buf[wire.HEADER_LEN] = 0
        buf[wire.HEADER_LEN + 1] = 200
        buf[wire.HEADER_LEN + 2] = 10
        p = wire.HEADER_LEN + wire.ROUTE_FIXED
        for k in range(10):
            p = wire.pack_route_entry(buf, p, addr_of(700 + burst * 10 + k), 1, 0, 0, 255)
        node.receive(bytes(buf), 0, neighbour, -60, mesh.clock())
        assert len(node.gateways) <= 3
    assert node.gateways.find(chosen) is not None


def test_packet_to_a_relay_switched_off_is_salvaged_through_the_other():
    # gateway 0, relays 1 and 2, bulb 3: two disjoint two-hop paths.
    mesh = MiniMesh(config=small_config())
    for i in range(4):
        mesh.add_node(gateway=i == 0)
    for a, b in ((0, 1), (0, 2), (3, 1), (3, 2)):
        mesh.link(a, b)
    mesh.run(10000)
    bulb = mesh.nodes[3]
    via = mesh.index_of(bulb.gateways.find(mesh.nodes[0].address).next_hop)
    mesh.kill(via)  # switched off at the wall; the bulb has not noticed yet
    mesh.send_internet(3, b"salvaged")
    mesh.run(500)
    assert [d[1] for d in mesh.delivered if d[4] == b"salvaged"] == [0]
    assert bulb.stats.salvaged == 1


def test_salvage_without_another_route_waits_then_drops_and_counts():
    mesh = line(3, gateways=(0,))
    mesh.run(10000)
    mesh.kill(1)
    bulb = mesh.nodes[2]
    before = bulb.stats.drop_count("no_route")
    mesh.send_internet(2, b"lost")
    mesh.run(500)
    assert bulb.table_sizes()["held"] == 1  # rule 13: it may yet find a route
    mesh.run(bulb.config.gateway_wait_ms)
    assert not [d for d in mesh.delivered if d[4] == b"lost"]
    assert bulb.stats.salvaged == 0
    assert bulb.stats.drop_count("no_route") == before + 1
    assert bulb.table_sizes()["held"] == 0


def test_a_relay_that_lost_its_route_holds_the_frame_until_another_forms():
    # 0 (gateway) - 1 - 2, as in test_node_timers: relay 1 lost the gateway, but bulb 2
    # has not heard yet. The relay holds the frame (rule 13); once its link to the gateway
    # is back and the gateway's route reaches it, the frame goes on.
    mesh = line(3, gateways=(0,))
    mesh.run(20000)
    gateway, relay = mesh.nodes[0].address, mesh.nodes[1]
    mesh.unlink(0, 1)
    relay.gateways.remove(gateway)
    relay.neighbours.remove(gateway)
    mesh.run(1500)
    mesh.send_internet(2, b"held on the way")
    mesh.run(500)
    assert relay.table_sizes()["held"] == 1
    assert not mesh.delivered
    mesh.link(0, 1)
    mesh.run(8000)
    assert [d[1] for d in mesh.delivered if d[4] == b"held on the way"] == [0]
    assert relay.table_sizes()["held"] == 0
    assert relay.stats.drop_count("no_route") == 0


def test_a_frame_that_would_bounce_back_drops_the_looping_route():
    mesh = line(3, gateways=(0,))
    mesh.run(10000)
    relay, bulb = mesh.nodes[1], mesh.nodes[2]
    gw = mesh.nodes[0].address
    # Pretend the relay's route now points back at the bulb (a stale runner-up took over).
    relay.gateways.find(gw).next_hop = bulb.address
    buf = bytearray(wire.HEADER_LEN + wire.DATA_FIXED + 4)
    wire.pack_header(buf, wire.T_DATA, wire.F_ANY_GW, 0, 16, 1, bulb.address, gw, 12345)
    end = wire.pack_data_header(buf, wire.HEADER_LEN, 1, 4)
    buf[end:end + 4] = b"loop"
    actions = relay.receive(bytes(buf), 0, bulb.address, -60, mesh.clock())
    assert [a[2] for a in actions if a[0] == 1] == [gw]  # not back: to the gateway it hears
    assert relay.gateways.find(gw) is None  # the looping route is gone (and retracted)


def _route_over_a_faint_link_or_two_good_ones(hop_cost):
    """Bulb 1 hears gateway 0 faintly (-98 dBm) and bulb 2 well; 2 hears 0 well. Returns
    bulb 1's next hop to the gateway."""
    mesh = MiniMesh(config=small_config(hop_cost=hop_cost))
    for i in range(3):
        mesh.add_node(gateway=i == 0)
    mesh.link(0, 1, rssi_dbm=-98)
    mesh.link(0, 2)
    mesh.link(2, 1)
    mesh.run(120000)
    route = mesh.nodes[1].gateways.best()
    return mesh.index_of(route.next_hop)


def test_every_hop_costs_hop_cost_so_one_faint_link_can_beat_two_good_ones():
    # The faint link costs about 47 (weaker than weak_rssi_dbm by 13 dB), a good one 16.
    assert _route_over_a_faint_link_or_two_good_ones(0) == 2  # 32 beats 47 by far
    # 2 * (16 + 8) against 47 + 8: not better by enough to leave the route heard first.
    assert _route_over_a_faint_link_or_two_good_ones(8) == 0
    pair = NodePair(gateway=True, config=small_config(hop_cost=8))
    plain = NodePair(gateway=True, config=small_config(hop_cost=0))
    pair.run(5000)
    plain.run(5000)
    assert pair.nodes[0].gateways.best().metric == plain.nodes[0].gateways.best().metric + 8
