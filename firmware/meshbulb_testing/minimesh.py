# MiniMesh: many real Nodes joined by in-memory links, driven by a fake clock.
#
# Rules kept here:
# 1. Time only moves inside run(); every node is ticked exactly at its own next deadline and
#    every frame arrives latency_ms after it was sent. Nothing sleeps.
# 2. Links are undirected and lossy: each transmission attempt is lost with probability
#    `loss`. Broadcasts get one attempt. Unicasts behave like ESP-NOW: up to `retries`
#    retransmissions, then the sender's node is told link_failed() with the frame (as
#    ESP-NOW's synchronous send tells a bulb); otherwise link_ok().
# 3. The link address of a node is its node address.
# 4. Node clocks can start anywhere on the 2**30 tick circle (start_ms), so wraparound is
#    exercised by the same scenarios.
# 5. Seeded: the same seed gives the same run on CPython and on MicroPython.
# 6. A node may have an application (mesh.apps[i]): an object with on_deliver(src, port,
#    payload, now_ms), tick(now_ms) and next_deadline_ms(), each returning node actions or a
#    deadline. It sees every payload its node delivers and is ticked with its node.

import heapq

from meshbulb.compat import ticks_add, ticks_diff, ticks_earliest
from meshbulb.config import Config
from meshbulb.node import ACT_ACKED, ACT_DELIVER, ACT_TX, Node
from meshbulb_testing.rng import Rng

_EV_TICK = 0
_EV_FRAME = 1
_EV_FAIL = 2


def addr_of(i):
    """The 6-byte node address used for node number i in test meshes."""
    return bytes((0x02, 0x00, (i >> 24) & 0xFF, (i >> 16) & 0xFF, (i >> 8) & 0xFF, i & 0xFF))


class MiniMesh:
    def __init__(self, seed=1, loss=0.0, retries=3, latency_ms=2, config=None, start_ms=0,
                 mesh_key=None):
        self.rng = Rng(seed)
        self.loss = loss
        self.retries = retries
        self.latency_ms = latency_ms
        self.config = config if config is not None else Config()
        self.start_ms = start_ms
        self.mesh_key = mesh_key
        self.now_ms = 0
        self.nodes = []
        self._index = {}
        self.links = []  # node index -> {neighbour index: rssi_dbm}
        self._events = []
        self._event_seq = 0
        self._scheduled = []
        self.delivered = []  # (time_ms, receiver index, src address, port, payload, flags)
        self.acked = []  # (time_ms, sender index, dst address, seq)
        self.frames_sent = 0
        self.frames_lost = 0
        self.alive = []
        self.tap = None  # optional callable, given every transmitted frame
        self.after_event = None  # optional callable, run after every processed event
        self.apps = {}  # node index -> application (rule 6)

    # --- building --------------------------------------------------------------------------

    def clock(self):
        return ticks_add(self.start_ms, self.now_ms)

    def add_node(self, gateway=False, address=None, keyring=None, seq_store=None):
        """Add a node; with mesh_key set on the mesh, each node gets a Keyring for it."""
        i = len(self.nodes)
        address = address if address is not None else addr_of(i + 1)
        if keyring is None and self.mesh_key is not None:
            from meshbulb.auth import Keyring

            keyring = Keyring(1, self.mesh_key)
        node = Node(address, self.config, self.rng.below, self.clock(), gateway=gateway,
                    keyring=keyring, seq_store=seq_store)
        self.nodes.append(node)
        self._index[address] = i
        self.links.append({})
        self._scheduled.append(None)
        self.alive.append(True)
        self._schedule_tick(i)
        return i

    def index_of(self, address):
        return self._index.get(address)

    def link(self, a, b, rssi_dbm=-60):
        self.links[a][b] = rssi_dbm
        self.links[b][a] = rssi_dbm

    def unlink(self, a, b):
        self.links[a].pop(b, None)
        self.links[b].pop(a, None)

    def kill(self, i):
        """Switch a node off at the wall: it stops sending and receiving."""
        self.alive[i] = False

    # --- event loop --------------------------------------------------------------------------

    def _push(self, at_ms, kind, data):
        self._event_seq += 1
        heapq.heappush(self._events, (at_ms, self._event_seq, kind, data))

    def _schedule_tick(self, i):
        deadline = self.nodes[i].next_deadline_ms()
        app = self.apps.get(i)
        if app is not None:
            deadline = ticks_earliest(deadline, app.next_deadline_ms())
        if deadline is None:
            self._scheduled[i] = None
            return
        at_ms = self.now_ms + max(0, ticks_diff(deadline, self.clock()))
        scheduled = self._scheduled[i]
        if scheduled is not None and self.now_ms <= scheduled <= at_ms:
            return  # an earlier tick is already queued and will reschedule
        self._scheduled[i] = at_ms
        self._push(at_ms, _EV_TICK, i)

    def run(self, duration_ms):
        """Advance time by duration_ms, processing every event on the way."""
        end_ms = self.now_ms + duration_ms
        events = self._events
        while events and events[0][0] <= end_ms:
            at_ms, _, kind, data = heapq.heappop(events)
            self.now_ms = at_ms
            if kind == _EV_TICK:
                i = data
                if self._scheduled[i] != at_ms:
                    continue
                self._scheduled[i] = None
                if self.alive[i]:
                    self._handle(i, self.nodes[i].tick(self.clock()))
                    app = self.apps.get(i)
                    if app is not None:
                        self._handle(i, app.tick(self.clock()))
            elif kind == _EV_FRAME:
                i, frame, sender, rssi_dbm = data
                if self.alive[i]:
                    node = self.nodes[i]
                    self._handle(i, node.receive(frame, 0, sender, rssi_dbm, self.clock()))
            else:
                i, link_addr, frame = data
                if self.alive[i]:
                    self.nodes[i].link_failed(0, link_addr, self.clock(), frame)
                    self._schedule_tick(i)
            if self.after_event is not None:
                self.after_event()
        self.now_ms = end_ms

    def _handle(self, i, actions):
        app = self.apps.get(i)
        for action in list(actions):  # the node reuses its list; an app may call the node
            kind = action[0]
            if kind == ACT_TX:
                self._transmit(i, action[2], action[3])
            elif kind == ACT_DELIVER:
                self.delivered.append((self.now_ms, i, action[1], action[2], action[3],
                                       action[4]))
                if app is not None:
                    self._handle(i, app.on_deliver(action[1], action[2], action[3],
                                                   self.clock()))
            elif kind == ACT_ACKED:
                self.acked.append((self.now_ms, i, action[1], action[2]))
        self._schedule_tick(i)

    def _transmit(self, i, link_addr, frame):
        self.frames_sent += 1
        if self.tap is not None:
            self.tap(frame)
        sender = self.nodes[i].address
        arrive_ms = self.now_ms + self.latency_ms
        if link_addr is None:
            for j, rssi_dbm in self.links[i].items():
                if self.rng.chance(self.loss):
                    self.frames_lost += 1
                    continue
                self._push(arrive_ms, _EV_FRAME, (j, frame, sender, rssi_dbm))
            return
        j = self._index.get(link_addr)
        if j is None or j not in self.links[i] or not self.alive[j]:
            self._push(arrive_ms, _EV_FAIL, (i, link_addr, frame))
            return
        for _ in range(1 + self.retries):
            if not self.rng.chance(self.loss):
                self._push(arrive_ms, _EV_FRAME, (j, frame, sender, self.links[i][j]))
                self.nodes[i].link_ok(0, link_addr, self.clock())
                return
            self.frames_lost += 1
        self._push(arrive_ms, _EV_FAIL, (i, link_addr, frame))

    # --- application traffic -------------------------------------------------------------------

    def send_internet(self, i, payload, port=1, ack=False):
        node = self.nodes[i]
        self._handle(i, node.send_internet(port, payload, self.clock(), ack=ack))
        return node.last_seq

    def send(self, i, j, payload, port=1, ack=False):
        node = self.nodes[i]
        self._handle(i, node.send(self.nodes[j].address, port, payload, self.clock(), ack=ack))
        return node.last_seq

    def broadcast(self, i, payload, port=1):
        node = self.nodes[i]
        self._handle(i, node.broadcast(port, payload, self.clock()))

    # --- observations --------------------------------------------------------------------------

    def gateway_indices(self):
        return [i for i, n in enumerate(self.nodes) if n.is_gateway]

    def connected_to_gateway(self):
        """Indices of alive nodes with a path to an alive gateway in the true link graph."""
        seen = set()
        frontier = [g for g in self.gateway_indices() if self.alive[g]]
        for g in frontier:
            seen.add(g)
        while frontier:
            nxt = []
            for i in frontier:
                for j in self.links[i]:
                    if j not in seen and self.alive[j]:
                        seen.add(j)
                        nxt.append(j)
            frontier = nxt
        return seen

    def converged(self):
        """True when every alive bulb with a path to a gateway has a gateway route."""
        for i in self.connected_to_gateway():
            node = self.nodes[i]
            if not node.is_gateway and node.best_gateway() is None:
                return False
        return True

    def routing_loops(self):
        """Number of (node, gateway) route chains that revisit a node."""
        loops = 0
        for start, node in enumerate(self.nodes):
            if not self.alive[start]:
                continue
            for route in node.gateways.entries():
                gw = route.gw
                seen = set()
                i = start
                while True:
                    if i in seen:
                        loops += 1
                        break
                    seen.add(i)
                    current = self.nodes[i]
                    if current.address == gw:
                        break
                    r = current.gateways.find(gw)
                    if r is None:
                        break
                    nxt = self._index.get(r.next_hop)
                    if nxt is None or not self.alive[nxt]:
                        break
                    i = nxt
        return loops

    def control_bytes(self):
        return sum(n.stats.control_bytes() for n in self.nodes)

    def drops(self, reason):
        return sum(n.stats.drop_count(reason) for n in self.nodes)


class NodePair(MiniMesh):
    """Two nodes (0 and 1) on one link; node 1 may be a gateway."""

    def __init__(self, seed=1, loss=0.0, gateway=False, config=None, start_ms=0):
        MiniMesh.__init__(self, seed=seed, loss=loss, config=config, start_ms=start_ms)
        self.add_node()
        self.add_node(gateway=gateway)
        self.link(0, 1)


def random_geometric(mesh, count, radius, gateways, seed=7):
    """Place count nodes uniformly in the unit square, link those within radius (RSSI from
    distance), make `gateways` of them gateways spread across the area. Returns positions."""
    rng = Rng(seed)
    positions = [(rng.uniform(), rng.uniform()) for _ in range(count)]
    gateway_set = set()
    step = count // max(1, gateways)
    for g in range(gateways):
        gateway_set.add(g * step)
    for i in range(count):
        mesh.add_node(gateway=i in gateway_set)
    r2 = radius * radius
    for i in range(count):
        xi, yi = positions[i]
        for j in range(i + 1, count):
            dx = positions[j][0] - xi
            dy = positions[j][1] - yi
            d2 = dx * dx + dy * dy
            if d2 <= r2:
                # -40 dBm at distance 0 down to -85 dBm at the edge of range.
                mesh.link(i, j, -40 - int(45 * d2 / r2))
    return positions
