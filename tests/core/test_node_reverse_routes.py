# Reverse routes back to a frame's source (node.py rule 9): learned through a neighbour that
# is known to hear us, either because its HELLO lists us or because it sent the frame
# towards a gateway, which it does only after hearing our route updates.
# Runs under CPython and MicroPython; helpers in meshkit.py.
# micropython-heap: 150k  (three nodes share the heap of one bulb, as in the other mesh files)

from meshkit import small_config

from meshbulb_testing.minimesh import MiniMesh

BULB, RELAY, GATEWAY = 0, 1, 2


class _DeafRelayMesh(MiniMesh):
    """bulb - relay - gateway, where the relay hears only the bulb's first broadcast: it
    knows the bulb as a neighbour, but never learns that the bulb hears it (tx_q stays 0),
    as happens right after a mesh starts, before HELLOs have crossed both ways."""

    def __init__(self, config=None):
        MiniMesh.__init__(self, seed=3, config=config or small_config())
        for i in range(3):
            self.add_node(gateway=i == GATEWAY)
        self.link(BULB, RELAY)
        self.link(RELAY, GATEWAY)
        self.bulb_broadcasts = 0

    def _transmit(self, i, link_addr, frame):
        if i == BULB and link_addr is None:
            self.bulb_broadcasts += 1
            if self.bulb_broadcasts > 1:
                self.frames_sent += 1
                return
        MiniMesh._transmit(self, i, link_addr, frame)


def _until_bulb_has_route(mesh):
    for _ in range(200):
        mesh.run(100)
        if mesh.nodes[BULB].best_gateway() is not None:
            return
    raise AssertionError("the bulb found no gateway")


def test_gateway_reply_reaches_a_bulb_whose_hellos_the_relay_missed():
    mesh = _DeafRelayMesh()
    _until_bulb_has_route(mesh)
    bulb_addr = mesh.nodes[BULB].address
    relay_entry = mesh.nodes[RELAY].neighbours.find(bulb_addr)
    assert relay_entry is not None and relay_entry.tx_q == 0, "the setup needs a one-way view"
    seq = mesh.send_internet(BULB, b"hello", ack=True)
    mesh.run(500)
    assert [d[1] for d in mesh.delivered] == [GATEWAY]
    # The gateway's ACK comes back through the relay, which learned the way from the frame.
    assert [(a[1], a[3]) for a in mesh.acked] == [(BULB, seq)]
    assert mesh.drops("no_route") == 0


def test_frames_not_routed_towards_a_gateway_teach_no_route_over_an_unconfirmed_link():
    # The bulb has heard only a few of the relay's HELLOs: it would search for a better path
    # than this young link (node.py rule 10) unless told to take any link.
    mesh = _DeafRelayMesh(small_config(discovery_max_link_cost=1024))
    _until_bulb_has_route(mesh)
    bulb_addr = mesh.nodes[BULB].address
    relay = mesh.nodes[RELAY]
    # A frame the bulb sends to the relay itself says nothing about whether it hears the
    # relay: the relay may reply only once the bulb's HELLO lists it.
    mesh._handle(BULB, mesh.nodes[BULB].send(relay.address, 1, b"to you", mesh.clock()))
    mesh.run(500)
    assert [(d[1], d[4]) for d in mesh.delivered] == [(RELAY, b"to you")]
    assert relay.routes.find(bulb_addr, mesh.clock()) is None
    assert relay.neighbours.find(bulb_addr).tx_q == 0
