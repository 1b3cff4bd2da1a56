# Synthetic traffic for one node: the frames a bulb in a busy neighbourhood receives.
# Shared by the core benchmark (CPython and MicroPython) and the memory measurement.
#
# Rules kept here:
# 1. The node under test has `neighbours` bidirectional neighbours; every HELLO lists it.
# 2. The mix per 10 frames: 2 HELLO, 2 ROUTE (4 gateways each), 5 unicast DATA to the
#    internet relayed through the node, 1 broadcast DATA flood. Every frame is fresh (new
#    sequence numbers), so nothing short-circuits as a duplicate.

from meshbulb import wire
from meshbulb.config import Config
from meshbulb.node import Node
from meshbulb_testing.minimesh import addr_of
from meshbulb_testing.rng import Rng

_MIX = (wire.T_HELLO, wire.T_DATA, wire.T_ROUTE, wire.T_DATA, 0, wire.T_HELLO, wire.T_DATA,
        wire.T_ROUTE, wire.T_DATA, wire.T_DATA)


class Workload:
    def __init__(self, neighbours=20, gateways=4, seed=1, config=None):
        self.config = config or Config()
        self.rng = Rng(seed)
        self.me = addr_of(1)
        self.neighbours = [addr_of(100 + i) for i in range(neighbours)]
        self.gateways = [addr_of(900 + i) for i in range(gateways)]
        self.hello_seq = [0] * neighbours
        self.seq = 1
        self.gw_seqno = 1
        self.buf = bytearray(self.config.mtu)
        self._k = 0

    def node(self):
        return Node(self.me, self.config, self.rng.below, 0)

    def _header(self, ftype, flags, hops_left, src, dst):
        self.seq += 1
        return wire.pack_header(self.buf, ftype, flags, 0, hops_left, 1, src, dst, self.seq)

    def hello(self, i):
        self.hello_seq[i] = (self.hello_seq[i] + 1) & 0xFFFF
        self._header(wire.T_HELLO, 0, 0, self.neighbours[i], wire.BROADCAST)
        end = wire.pack_hello(self.buf, wire.HEADER_LEN, 0, self.hello_seq[i], 320,
                              ((self.me, 220), (self.neighbours[(i + 1) % len(self.neighbours)], 200)))
        return bytes(self.buf[:end])

    def route(self, i, gateways=None):
        gateways = gateways or self.gateways
        self._header(wire.T_ROUTE, 0, 0, self.neighbours[i], wire.BROADCAST)
        h = wire.HEADER_LEN
        self.buf[h] = 0
        self.buf[h + 1] = 200
        self.buf[h + 2] = len(gateways)
        p = h + wire.ROUTE_FIXED
        for k, gw in enumerate(gateways):
            p = wire.pack_route_entry(self.buf, p, gw, self.gw_seqno, 32 + 16 * k + i, 10, 255)
        return bytes(self.buf[:p])

    def data(self, src, dst, flags, body=b"0123456789" * 8):
        self._header(wire.T_DATA, flags, 100, src, dst)
        p = wire.pack_data_header(self.buf, wire.HEADER_LEN, 1, len(body))
        self.buf[p : p + len(body)] = body
        return bytes(self.buf[: p + len(body)])

    def next_frame(self):
        """(frame, link_src) of the next frame in the mix."""
        kind = _MIX[self._k % len(_MIX)]
        self._k += 1
        n = len(self.neighbours)
        i = self.rng.below(n)
        if kind == wire.T_HELLO:
            return self.hello(i), self.neighbours[i]
        if kind == wire.T_ROUTE:
            return self.route(i), self.neighbours[i]
        src = addr_of(5000 + self.rng.below(2000))
        if kind == wire.T_DATA:
            return self.data(src, self.gateways[0], wire.F_ANY_GW), self.neighbours[i]
        return self.data(src, wire.BROADCAST, 0), self.neighbours[i]

    def warm_up(self, node, now_ms):
        """Make every neighbour bidirectional and teach the node its gateway routes. The
        node sends its first HELLO first (it takes no routes before that): now_ms must be
        at least 1 s after the node started."""
        node.tick(now_ms)
        for _ in range(2):
            for i in range(len(self.neighbours)):
                node.receive(self.hello(i), 0, self.neighbours[i], -60, now_ms)
        for i in range(len(self.neighbours)):
            node.receive(self.route(i), 0, self.neighbours[i], -60, now_ms)


def fill_tables(node, load, now_ms, routes=64, floods=256, gateways=8):
    """Fill every table of node to the sizes the memory target names."""
    load.warm_up(node, now_ms)
    extra = [addr_of(900 + i) for i in range(gateways)]
    for i in range(len(load.neighbours)):
        node.receive(load.route(i, extra), 0, load.neighbours[i], -60, now_ms)
    route = node.gateways.find(extra[0])
    senders = [n for n in load.neighbours if route is None or n != route.next_hop]
    for k in range(routes):  # from neighbours that are not our next hop (that would bounce)
        frame = load.data(addr_of(3000 + k), extra[0], wire.F_ANY_GW)
        node.receive(frame, 0, senders[k % len(senders)], -60, now_ms)
    for k in range(floods):
        frame = load.data(addr_of(7000 + k), wire.BROADCAST, 0)
        node.receive(frame, 0, load.neighbours[k % len(load.neighbours)], -60, now_ms)
