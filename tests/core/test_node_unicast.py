# Bulb-to-bulb unicast: discovery, expanding ring, flood fallback, fragmentation.
# Runs under CPython and MicroPython; helpers in meshkit.py.
# micropython-heap: 150k  (holds a mesh of two or three nodes, keyed ones need more)

from meshkit import detour, line, small_config

from meshbulb import wire
from meshbulb.node import Node
from meshbulb_testing.minimesh import MiniMesh, NodePair, addr_of
from meshbulb_testing.rng import Rng


def test_fragmented_payload_arrives_whole():
    pair = NodePair(config=small_config(reassembly_max_bytes=1024))
    pair.run(5000)
    payload = bytes(range(256)) * 2 + b"tail"
    pair.send(0, 1, payload)
    pair.run(500)
    assert len(pair.delivered) == 1 and pair.delivered[0][4] == payload
    assert pair.nodes[0].stats.frames_out[wire.T_DATA] == 3


def test_every_frame_fits_the_mtu():
    mesh = MiniMesh(config=small_config(mtu=120, reassembly_max_bytes=1024))
    mesh.add_node()
    mesh.add_node(gateway=True)
    mesh.link(0, 1)
    sizes = []
    mesh.tap = lambda frame: sizes.append(len(frame))
    mesh.run(5000)
    mesh.send(0, 1, b"z" * 900)
    mesh.send_internet(0, b"q" * 60)
    mesh.run(1000)
    assert len(sizes) > 10 and max(sizes) <= 120
    assert mesh.delivered[0][4] == b"z" * 900


def test_send_rejects_callers_mistakes():
    node = Node(addr_of(1), small_config(), Rng(1).below, 0)
    for bad in ((b"short", 1, b"x"), (addr_of(2), 256, b"x"), (addr_of(2), 1, b"x" * 300)):
        try:
            node.send(bad[0], bad[1], bad[2], 0)
        except ValueError:
            pass
        else:
            raise AssertionError("accepted %r" % (bad,))
    try:
        Node(addr_of(1), small_config(), None, 0)
    except ValueError:
        pass
    else:
        raise AssertionError("randomness must be injected")


def test_unicast_discovers_a_route_then_reuses_it():
    mesh = line(5)
    mesh.run(8000)
    assert mesh.send(0, 4, b"first") is None  # queued for discovery: no DATA seq yet
    mesh.run(2000)
    assert [(d[1], d[4]) for d in mesh.delivered] == [(4, b"first")]
    rreqs = mesh.nodes[0].stats.frames_out[wire.T_RREQ]
    assert rreqs >= 1
    assert mesh.nodes[0].routes.find(mesh.nodes[4].address, mesh.clock()) is not None
    mesh.send(0, 4, b"second")
    mesh.send(4, 0, b"reply")
    mesh.run(1000)
    assert mesh.nodes[0].stats.frames_out[wire.T_RREQ] == rreqs
    assert [d[4] for d in mesh.delivered] == [b"first", b"second", b"reply"]


def test_expanding_ring_grows_until_it_reaches_the_target():
    mesh = line(5, config=small_config(discovery_first_ttl=1, discovery_ttls=4))
    mesh.run(8000)
    mesh.send(0, 4, b"far")
    mesh.run(3000)
    assert mesh.nodes[0].stats.frames_out[wire.T_RREQ] == 3  # ttl 1, 2, then 4 reaches it
    assert [d[4] for d in mesh.delivered] == [b"far"]


def test_discovery_failure_falls_back_to_flooding():
    mesh = line(4, config=small_config(discovery_first_ttl=1, discovery_ttls=1))
    mesh.run(8000)
    mesh.send(0, 3, b"flooded")
    mesh.run(3000)
    assert mesh.nodes[0].stats.drop_count("discovery_failed") == 1
    got = [d for d in mesh.delivered if d[4] == b"flooded"]
    assert len(got) == 1 and got[0][1] == 3
    assert got[0][5] & wire.F_FLOOD


def test_route_requests_travel_good_links_only():
    mesh = detour()
    mesh.run(8000)
    mesh.send(0, 3, b"far")
    mesh.run(2000)
    assert [(d[1], d[4]) for d in mesh.delivered] == [(3, b"far")]
    # Node 1 heard 0's request first over the faint link, and took the copy 2 relayed.
    assert mesh.nodes[1].stats.drop_count("weak_link") >= 1
    route = mesh.nodes[0].routes.find(mesh.nodes[3].address, mesh.clock())
    assert route is not None and route.next_hop == mesh.nodes[2].address and route.hops == 3


def test_a_faint_neighbour_is_reached_through_a_good_one():
    mesh = detour()
    mesh.run(8000)
    mesh.send(0, 2, b"well heard")  # a good link: straight there, no search
    mesh.run(500)
    assert mesh.nodes[0].stats.frames_out[wire.T_RREQ] == 0
    mesh.send(0, 1, b"faint")
    mesh.run(2000)
    assert [(d[1], d[4]) for d in mesh.delivered] == [(2, b"well heard"), (1, b"faint")]
    assert mesh.nodes[0].stats.frames_out[wire.T_RREQ] == 1
    route = mesh.nodes[0].routes.find(mesh.nodes[1].address, mesh.clock())
    assert route is not None and route.next_hop == mesh.nodes[2].address
    assert mesh.nodes[2].stats.relayed >= 1
