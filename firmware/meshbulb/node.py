# The sans-IO mesh node: bytes and time in, actions out. One instance per bulb; no globals.
#
# Rules kept here:
# 1. The driver calls receive() for every frame, tick() when next_deadline_ms() is reached,
#    link_failed()/link_ok() with the link layer's verdict on unicast sends (these two never
#    produce actions), and send(), send_internet() or broadcast() for application data.
#    After receive(), timers_kept is True when the frame was dropped before it set any timer
#    (_KEEPS_TIMERS): next_deadline_ms() is no earlier than it was, and a driver need not ask. In
#    a dense city most frames are such drops (HELLOs from outside a full table, routes from
#    non-neighbours, duplicates), and asking after each was a seventh of the simulator's time.
# 2. Every call returns the node's action list, valid until the next call:
#      (ACT_TX, link, link_addr or None for broadcast, frame bytes)
#      (ACT_DELIVER, src, port, payload, flags)
#      (ACT_ACKED, dst, seq)
# 3. Time is a wrapping tick (see compat.py); randomness comes from the injected
#    rand_below(n) -> int in [0, n). Nothing here reads a clock or a random source.
# 4. receive() never raises. A frame is checked completely before any table changes; a bad
#    frame is counted under exactly one drop reason. send() raises ValueError only for the
#    caller's own mistakes (payload too large, bad port or address).
# 5. Without a keyring, frames carry key_id 0 and no MIC, and frames with a key id are
#    dropped as unknown_key. With a keyring (auth.py) every frame sent carries the sending key
#    id and a MIC; a frame received must carry an accepted key id, a valid MIC and a sequence
#    number its source has not used before (replay.py), all checked before anything else.
# 6. Sequence numbers come from a SeqCounter (seqstore.py); with a persistent store they are
#    never reused across reboots.
# 7. Salvage: a driver that knows which frame the link layer failed to deliver (ESP-NOW's
#    synchronous send does) passes it to link_failed(). A unicast DATA frame is then sent
#    again at the next tick through another neighbour, if the node knows a route that avoids
#    the failed one: in a city where bulbs are switched off at the wall, most lost packets
#    were sent to a next hop that had just gone dark. At most _SALVAGE_SLOTS frames wait, and
#    a frame is salvaged once per node.
# 8. A DATA frame whose next hop is the neighbour it came from reveals a loop (routes change
#    quietly, so a runner-up may since have come to route through us): the route through
#    that neighbour is dropped and retracted, and the frame takes another route if there is
#    one.
# 9. Reverse routes (back to a frame's source) are learned only through a neighbour we know
#    hears us: one whose HELLO lists us (tx_q > 0), or one that sent us a frame towards a
#    gateway, which it does only after hearing our route updates. Right after a mesh starts,
#    most HELLOs have not crossed yet; a relay that waited for them dropped the gateway's
#    reply to a bulb's first session handshake (the first fetch took 3 s, or failed after 10).
# 10. Bulb-to-bulb routes are found over good links only: a route request heard over a link
#    costing more than discovery_max_link_cost is dropped as weak_link (from a bulb not in
#    the table, as not_neighbour) before the replay window or the duplicate cache sees it,
#    so a copy arriving later over a good link is still relayed and learned from; and send()
#    reaches a neighbour directly only over such a link, else it searches. The first copy of
#    a flood tends to come over the longest, weakest links, and a unicast there fails when
#    the frame or its ACK is lost: in ci.toml's 500-bulb grid (seeds 1-3) bulb-to-bulb
#    delivery was 0.87-0.92, half the losses on direct sends to weak neighbours and route
#    replies lost on the way back; gated, 0.99-1.0, with a third less control traffic.
# 11. Flooded DATA is relayed by reach (flood.py rule 4): a copy with more hops left than the
#    one taken replaces it while the relay waits, and one that reaches less far does not
#    suppress it. Route requests count every copy, as before.
# 12. broadcast(hops=n) floods n + flood_edge_hops hops. A bulb n hops out hears the message
#    only from relays n - 1 hops out, which counter suppression thins and whose one broadcast
#    each over a weak link is often lost; the bulbs n hops out relaying to each other as well
#    gives the edge of the scope a second chance. In ci.toml's 500-bulb grid, bulbs 3 good
#    hops from the sender of a 3-hop group message received 0.74 of them, and a third of
#    those that missed one had no relaying neighbour at all; with one edge hop, 0.93, and all
#    members 0.85 -> 0.96 (relays past the edge yield to the first other copy, flood.py rule 5).
# 13. Internet traffic that finds no gateway route waits for one: what send_internet() is
#    given, and a relayed or salvaged frame with F_ANY_GW that has no next hop (other than
#    the one it came from or failed on). At most gateway_wait_packets items and
#    reassembly_max_bytes of them together are held, each for gateway_wait_ms; what finds
#    the hold full, or waits too long, is dropped as no_route. Every bulb that is switched on
#    starts without a route, and while a mesh starts, a link that fails can cost a whole
#    subtree its routes until the gateway's next seqno reaches it. In a 400-bulb mesh
#    started cold, sending 3 packets a minute each, 5-6 % of the first minute's packets were
#    dropped so; holding at the source alone left 0-2 %, holding at relays too 0-0.3 %.

from meshbulb import wire
from meshbulb.compat import TICKS_HALF, TICKS_MASK, const, ticks_add, ticks_diff, ticks_earliest
from meshbulb.config import Config
from meshbulb.dedup import DuplicateCache, flood_key
from meshbulb.discovery import DiscoveryTable
from meshbulb.flood import FloodRelay
from meshbulb.fragment import Reassembler, fragment_count
from meshbulb.routecache import RouteCache
from meshbulb.routing import RoutingControl
from meshbulb.seqstore import SeqCounter
from meshbulb.stats import Stats

# Drop reasons returned before anything that sets a timer (rule 1). "duplicate" may tell a
# pending flood relay that a copy went out, which can only cancel it or swap the frame it
# sends (rule 11), never move it earlier.
_KEEPS_TIMERS = {
    "short", "oversize", "bad_version", "bad_type", "bad_flags", "bad_addr", "bad_payload",
    "unknown_key", "bad_mic", "replay", "own", "duplicate", "not_neighbour", "table_full",
    "weak_link",
}

ACT_TX = const(1)
ACT_DELIVER = const(2)
ACT_ACKED = const(3)
_FRAG_DATA_OVERHEAD = const(7)  # port, length and fragment header
_SALVAGE_SLOTS = const(4)  # rule 7


class Node:
    """A mesh node. `Node(address, Config(), rand_below, now_ms, gateway=False)`."""

    def __init__(self, address, config=None, rand_below=None, now_ms=0, gateway=False,
                 links=(0,), keyring=None, seq_store=None):
        if not isinstance(address, bytes) or len(address) != wire.ADDR_LEN:
            raise ValueError("address must be %d bytes" % wire.ADDR_LEN)
        if address == wire.BROADCAST:
            raise ValueError("address must not be the broadcast address")
        if rand_below is None:
            raise ValueError("rand_below must be supplied (randomness is injected)")
        self.address = address
        self.config = config if config is not None else Config()
        cfg = self.config
        self.links = tuple(links)
        self.max_body = cfg.mtu - wire.HEADER_LEN - wire.MIC_LEN
        self.stats = Stats()
        self.routes = RouteCache(cfg.max_routes)
        self.dedup = DuplicateCache(cfg.dedup_entries)
        self.flood = FloodRelay(cfg.max_pending_relays, cfg.flood_jitter_ms,
                                cfg.flood_counter_threshold, rand_below, cfg.flood_edge_hops)
        self.discoveries = DiscoveryTable(
            cfg.max_discoveries, cfg.discovery_queue, cfg.discovery_ttls,
            cfg.discovery_first_ttl, cfg.discovery_per_hop_ms, cfg.flood_hop_limit,
        )
        self.reassembly = Reassembler(cfg.reassembly_slots, cfg.reassembly_max_bytes,
                                      cfg.reassembly_timeout_ms)
        self._rand_below = rand_below
        self._buf = bytearray(cfg.mtu)
        self._out = []
        self._seq = 0
        self._counter = SeqCounter(seq_store, cfg.seq_reserve_block, rand_below(1 << 30))
        self.keyring = keyring
        self.replay = None
        if keyring is not None:
            from meshbulb.replay import ReplayTable  # only authenticated nodes pay for it

            self.replay = ReplayTable(cfg.max_replay_sources)
        self._frag_tag = rand_below(0x10000)
        self._housekeep_ms = None
        self.timers_kept = False  # rule 1: set by every receive()
        self._salvage = []  # (frame, failed neighbour's link address), rule 7
        self._salvaged = []  # (src, seq) of the last frames salvaged here
        self._held = []  # (until_ms, is_relay, bytes, ...) waiting for a gateway route, rule 13
        self.last_seq = None
        self.control = RoutingControl(self, cfg, rand_below, now_ms, gateway)
        self.neighbours = self.control.neighbours
        self.gateways = self.control.gateways

    # --- public API --------------------------------------------------------------------------

    @property
    def is_gateway(self):
        return self.control.is_gateway

    def receive(self, frame, link, link_src, rssi_dbm, now_ms):
        """Process one received frame; never raises (rule 4)."""
        self._out.clear()
        try:
            reason = self._receive(frame, link, link_src, rssi_dbm, now_ms)
            if reason is None and self._held:
                self._release_held(now_ms)
        except Exception:  # noqa: BLE001 - last line of defence; fuzz tests keep it at zero
            reason = "internal_error"
        if reason is None:
            self.timers_kept = False
        else:
            self.stats.drop(reason)
            self.timers_kept = reason in _KEEPS_TIMERS
        return self._out

    def tick(self, now_ms):
        """Run every timer that is due."""
        self._out.clear()
        if self._salvage:
            for frame, failed in self._salvage:
                self._resend(frame, failed, now_ms)
            self._salvage = []
        if self._held:
            self._release_held(now_ms)
        self.control.poll(now_ms)
        for frame, _link in self.flood.due(now_ms):
            self.stats.relayed += 1
            self._broadcast_bytes(frame)
        for disc in self.discoveries.timed_out(now_ms):
            self._advance_discovery(disc, now_ms)
        if self._housekeep_ms is None or ticks_diff(now_ms, self._housekeep_ms) >= 0:
            self.routes.expire(now_ms)  # sets no deadline (routecache.py rule 4)
            deadline = self.control.expire(now_ms)
            deadline = ticks_earliest(deadline, self.reassembly.expire(now_ms))
            self._housekeep_ms = ticks_earliest(deadline, self._expire_held(now_ms))
        return self._out

    def next_deadline_ms(self):
        # Drivers call this after every frame, so ticks_earliest is inlined (compat.py) and
        # empty tables are skipped without a call.
        deadline = self.control.next_deadline_ms()
        other = self._housekeep_ms
        if other is not None and ((other - deadline + TICKS_HALF) & TICKS_MASK) < TICKS_HALF:
            deadline = other
        if self.flood.pending:
            deadline = ticks_earliest(deadline, self.flood.next_deadline_ms())
        if self.discoveries.active:
            deadline = ticks_earliest(deadline, self.discoveries.next_deadline_ms())
        return deadline

    def send(self, dst, port, payload, now_ms, ack=False):
        """Send payload to one bulb (or to everyone when dst is wire.BROADCAST)."""
        self._out.clear()
        self._check_send(dst, port, payload)
        if dst == wire.BROADCAST:
            self._send_flood(dst, port, payload, 0)
            return self._out
        flags = wire.F_ACK_REQ if ack else 0
        nb = self._next_hop(dst, flags, now_ms, False)  # rule 10
        if nb is not None:
            self._send_data(dst, port, payload, flags, nb)
            return self._out
        self.last_seq = None
        disc = self.discoveries.find(dst)
        if disc is None:
            disc = self.discoveries.start(dst)
            if disc is None:
                self.stats.drop("queue_full")
                return self._out
            self.discoveries.enqueue(disc, (port, payload, flags))
            self._advance_discovery(disc, now_ms)
            self.last_seq = None  # the RREQ's seq is not the payload's
        elif not self.discoveries.enqueue(disc, (port, payload, flags)):
            self.stats.drop("queue_full")
        return self._out

    def send_internet(self, port, payload, now_ms, ack=False):
        """Send payload towards the best gateway; any gateway on the way may take it."""
        self._out.clear()
        self._check_send(self.address, port, payload)
        best = self.gateways.best()
        self.last_seq = None
        flags = wire.F_ANY_GW | (wire.F_ACK_REQ if ack else 0)
        nb = None if best is None else self.neighbours.find(best.next_hop)
        if nb is None:
            reason = self._hold(now_ms, False, payload, port, flags)  # rule 13
            if reason is not None:
                self.stats.drop(reason)
        else:
            self._send_data(best.gw, port, payload, flags, nb)
        return self._out

    def broadcast(self, port, payload, now_ms, hops=None):
        """Flood payload to every bulb, or only to those within `hops` hops (a group that
        lives in one home or street need not wake the whole city). A scoped flood goes
        flood_edge_hops further (rule 12), so bulbs beyond the scope may get it too."""
        if hops is None:
            return self.send(wire.BROADCAST, port, payload, now_ms)
        limit = self.config.flood_hop_limit
        if not 1 <= hops <= limit:
            raise ValueError("hops must be 1..%d" % limit)
        self._out.clear()
        self._check_send(wire.BROADCAST, port, payload)
        self._send_flood(wire.BROADCAST, port, payload, 0,
                         min(hops + self.config.flood_edge_hops, limit) - 1)
        return self._out

    def link_failed(self, link, link_addr, now_ms, frame=None):
        """The link layer could not deliver a unicast frame to link_addr (after retries);
        frame, when the driver knows it, may be salvaged (rule 7). Produces no actions (what
        follows is scheduled, see next_deadline_ms()), so a driver may call it while it is
        still going through the actions of another call."""
        self.stats.link_failures += 1
        entry = self.neighbours.send_failed(link_addr)
        if entry is not None:
            self.neighbours.remove(entry.node_addr)
            self.control.neighbour_lost(entry, now_ms)
        if (frame is not None and len(self._salvage) < _SALVAGE_SLOTS
                and len(frame) > wire.HEADER_LEN and frame[0] & 0x0F == wire.T_DATA):
            self._salvage.append((frame, link_addr))
            self._housekeep_ms = now_ms

    def link_ok(self, link, link_addr, now_ms):
        """The link layer delivered a unicast frame to link_addr. Produces no actions."""
        self.neighbours.send_succeeded(link_addr)

    def set_uplink(self, load, health, now_ms):
        """Gateways only: announce load (0..255) and uplink health (0 = down .. 255)."""
        if not self.is_gateway:
            raise ValueError("set_uplink is for gateway nodes")
        if not (0 <= load <= 255 and 0 <= health <= 255):
            raise ValueError("load and health must be 0..255")
        self._out.clear()
        self.control.set_uplink(load, health, now_ms)
        return self._out

    def down_announced(self):
        """Gateways only: True once the retraction of set_uplink(load, 0) has gone out as
        often as routing repeats it (routing.py rule 6). A gateway shutting down lingers
        until then."""
        return self.control.down_announced()

    def penalise_gateway(self, gw, now_ms):
        """The application found gw failing (a session that never completed or did not
        authenticate): move internet traffic to another gateway for gateway_penalty_ms."""
        self.gateways.penalise(gw, now_ms, self.config.gateway_penalty_ms)
        self.control.note_settle()

    def best_gateway(self):
        """Address of the gateway our internet traffic goes to, or None."""
        best = self.gateways.best()
        return best.gw if best is not None else None

    def table_sizes(self):
        return {
            "neighbours": len(self.neighbours),
            "gateways": len(self.gateways),
            "sources": len(self.control.sources),
            "routes": len(self.routes),
            "dedup": len(self.dedup),
            "pending_relays": len(self.flood),
            "discoveries": len(self.discoveries),
            "reassembly": self.reassembly.busy(),
            "held": len(self._held),
        }

    # --- helpers for RoutingControl ------------------------------------------------------------

    def note_expiry(self, expires_ms):
        self._housekeep_ms = ticks_earliest(self._housekeep_ms, expires_ms)

    def fresh_nonce(self):
        """A number this node never used and never will, even across reboots: for overlays
        that need a unique nonce per message (group.py)."""
        return self._counter.take()

    def begin_frame(self, ftype, flags, hops_left, dst):
        """Write a fresh header into the shared buffer; the caller appends the payload and
        calls seal()."""
        self._seq = self._counter.take()
        self.last_seq = self._seq
        key_id = self.keyring.send_id if self.keyring is not None else 0
        wire.pack_header(self._buf, ftype, flags, key_id, hops_left, 0, self.address, dst,
                         self._seq)
        return self._buf

    def seal(self, end):
        """The finished frame in the shared buffer: with its MIC when the node has keys."""
        if self.keyring is not None:
            end = self.keyring.sender().sign(self._buf, end)
        return bytes(self._buf[:end])

    def broadcast_frame(self, ftype, end):
        self._broadcast_bytes(self.seal(end))

    def send_seqreq(self, gw, wanted, nb, hops_left):
        buf = self.begin_frame(wire.T_SEQREQ, 0, hops_left, gw)
        buf[wire.HEADER_LEN] = wanted >> 8
        buf[wire.HEADER_LEN + 1] = wanted & 0xFF
        self._unicast_bytes(self.seal(wire.HEADER_LEN + 2), nb)

    # --- transmit ------------------------------------------------------------------------------

    def _broadcast_bytes(self, frame):
        ftype = frame[0] & 0x0F
        for link in self.links:
            self.stats.count_out(ftype, len(frame))
            self._out.append((ACT_TX, link, None, frame))

    def _unicast_bytes(self, frame, nb):
        self.stats.count_out(frame[0] & 0x0F, len(frame))
        self._out.append((ACT_TX, nb.link, nb.link_addr, frame))

    def _check_send(self, dst, port, payload):
        if not isinstance(dst, bytes) or len(dst) != wire.ADDR_LEN:
            raise ValueError("dst must be %d bytes" % wire.ADDR_LEN)
        if not 0 <= port <= 255:
            raise ValueError("port must be 0..255")
        limit = min(self.config.reassembly_max_bytes,
                    wire.MAX_FRAGMENTS * (self.max_body - _FRAG_DATA_OVERHEAD))
        if len(payload) > limit:
            raise ValueError("payload of %d bytes exceeds %d" % (len(payload), limit))

    def _data_frames(self, dst, port, payload, flags, hops_left):
        """Yield the DATA frames (bytes) carrying payload, fragmented when needed."""
        total = len(payload)
        h = wire.HEADER_LEN
        if total + wire.DATA_FIXED <= self.max_body:
            buf = self.begin_frame(wire.T_DATA, flags, hops_left, dst)
            body = wire.pack_data_header(buf, h, port, total)
            buf[body : body + total] = payload
            yield self.seal(body + total)
            return
        count = fragment_count(total, self.max_body - _FRAG_DATA_OVERHEAD)
        chunk = wire.fragment_chunk(total, count)
        self._frag_tag = (self._frag_tag + 1) & 0xFFFF
        for index in range(count):
            part = payload[index * chunk : min(total, (index + 1) * chunk)]
            buf = self.begin_frame(wire.T_DATA, flags | wire.F_FRAG, hops_left, dst)
            body = wire.pack_data_header(buf, h, port, total)
            body = wire.pack_frag_header(buf, body, self._frag_tag, index, count)
            buf[body : body + len(part)] = part
            yield self.seal(body + len(part))

    def _send_data(self, dst, port, payload, flags, nb):
        for frame in self._data_frames(dst, port, payload, flags, self.config.flood_hop_limit):
            self._unicast_bytes(frame, nb)

    def _send_flood(self, dst, port, payload, flags, hops=None):
        if hops is None:
            hops = self.config.flood_hop_limit
        if dst != wire.BROADCAST:
            flags |= wire.F_FLOOD
        for frame in self._data_frames(dst, port, payload, flags, hops):
            self.dedup.add(flood_key(self.address, self.last_seq))
            self._broadcast_bytes(frame)

    def _hold(self, now_ms, is_relay, data, a, b):
        """Rule 13: keep data until a gateway route is known. Sent here: (payload, port,
        flags); relayed: (frame as we forward it, dst, link address it must not go back to).
        Returns None, or "no_route" when the hold is full."""
        cfg = self.config
        held_bytes = len(data)
        for item in self._held:
            held_bytes += len(item[2])
        if len(self._held) >= cfg.gateway_wait_packets or held_bytes > cfg.reassembly_max_bytes:
            return "no_route"
        until_ms = ticks_add(now_ms, cfg.gateway_wait_ms)
        self._held.append((until_ms, is_relay, bytes(data), a, b))
        self.note_expiry(until_ms)
        return None

    def _release_held(self, now_ms):
        best = self.gateways.best()
        if best is None:
            return
        best_nb = self.neighbours.find(best.next_hop)
        kept = []
        for item in self._held:
            if item[1]:
                nb = self._next_hop(item[3], wire.F_ANY_GW, now_ms)
                if nb is None or nb.link_addr == item[4]:
                    nb = self._gateway_hop_avoiding(item[4], now_ms)
                if nb is None:
                    kept.append(item)
                else:
                    self.stats.relayed += 1
                    self._unicast_bytes(item[2], nb)
            elif best_nb is None:
                kept.append(item)
            else:
                self._send_data(best.gw, item[3], item[2], item[4], best_nb)
        self._held = kept

    def _expire_held(self, now_ms):
        """Drop what waited gateway_wait_ms; the next expiry, or None."""
        deadline = None
        kept = []
        for item in self._held:
            if ticks_diff(now_ms, item[0]) >= 0:
                self.stats.drop("no_route")
            else:
                kept.append(item)
                deadline = ticks_earliest(deadline, item[0])
        if len(kept) != len(self._held):
            self._held = kept
        return deadline

    # --- routing lookups -----------------------------------------------------------------------

    def _next_hop(self, dst, flags, now_ms, weak_direct=True):
        """Neighbour to forward a frame for dst through, or None. Without weak_direct, dst
        itself is the next hop only over a good link (rule 10)."""
        route = self.gateways.find(dst)
        if route is not None:
            return self.neighbours.find(route.next_hop)
        cached = self.routes.find(dst, now_ms)
        if cached is not None:
            nb = self.neighbours.find(cached.next_hop)
            if nb is not None:
                self.routes.use(cached, now_ms, self.config.route_lifetime_ms)
                return nb
        if flags & wire.F_ANY_GW:
            best = self.gateways.best()
            if best is not None:
                return self.neighbours.find(best.next_hop)
        nb = self.neighbours.find(dst)
        if nb is not None and nb.tx_q > 0 and (weak_direct or self._good_link(nb)):
            return nb
        return None

    def _good_link(self, nb):
        """Rule 10: whether a link is good enough for bulb-to-bulb routes."""
        return nb.cost(self.config.weak_rssi_dbm) <= self.config.discovery_max_link_cost

    def _learn_reverse(self, src, link_src, hops, lifetime_ms, now_ms, dst=None, flags=0):
        """Rule 9. dst and flags, given for DATA, let a frame routed towards a gateway vouch
        for a link its sender's HELLOs have not confirmed yet (checked only then)."""
        prev = self.neighbours.find_by_link(link_src)
        if prev is None or src == self.address:
            return
        if prev.tx_q > 0 or (dst is not None and self._towards_gateway(dst, flags)):
            self.routes.update(src, prev.node_addr, hops, lifetime_ms, now_ms)

    # --- discovery -----------------------------------------------------------------------------

    def _advance_discovery(self, disc, now_ms):
        if self.discoveries.next_ring(disc, now_ms):
            buf = self.begin_frame(wire.T_RREQ, 0, disc.ttl - 1, wire.BROADCAST)
            disc.request_seq = self._seq
            buf[wire.HEADER_LEN : wire.HEADER_LEN + wire.ADDR_LEN] = disc.dst
            self.dedup.add(flood_key(self.address, self._seq))
            self.broadcast_frame(wire.T_RREQ, wire.HEADER_LEN + wire.ADDR_LEN)
            return
        self.discoveries.finish(disc.dst)
        self.stats.drop("discovery_failed")
        for port, payload, flags in disc.queue:
            self._send_flood(disc.dst, port, payload, flags)

    def _route_found(self, dst, now_ms):
        disc = self.discoveries.finish(dst)
        if disc is None:
            return
        nb = self._next_hop(dst, 0, now_ms)
        for port, payload, flags in disc.queue:
            if nb is None:
                self._send_flood(dst, port, payload, flags)
            else:
                self._send_data(dst, port, payload, flags, nb)

    # --- receive -------------------------------------------------------------------------------

    def _receive(self, frame, link, link_src, rssi_dbm, now_ms):
        header = wire.parse_header(frame, self.config.mtu)
        if isinstance(header, str):
            return header
        ftype, flags, key_id, hops_left, hops_taken, src, dst, seq, plen = header
        self.stats.count_in(ftype)
        if src == self.address:
            return "own"
        if ftype == wire.T_RREQ:
            # Rule 10, before the replay window or the duplicate cache records this copy.
            prev = self.neighbours.find_by_link(link_src)
            if prev is None:
                return "not_neighbour"
            if not self._good_link(prev):
                return "weak_link"
        if self.keyring is None:
            if key_id:
                return "unknown_key"
        else:
            reason = self._authenticate(frame, ftype, flags, key_id, src, dst, seq, hops_left,
                                        hops_taken)
            if reason is not None:
                return reason
        off = wire.HEADER_LEN
        if ftype == wire.T_HELLO:
            if dst != wire.BROADCAST:
                return "bad_addr"
            return self.control.on_hello(frame, off, plen, src, link, link_src, rssi_dbm,
                                         now_ms)
        if ftype == wire.T_ROUTE:
            if dst != wire.BROADCAST:
                return "bad_addr"
            return self.control.on_route(frame, off, plen, src, link_src, now_ms)
        if ftype == wire.T_DATA:
            return self._on_data(frame, off, plen, flags, hops_left, hops_taken, src, dst,
                                 seq, link, link_src, rssi_dbm, now_ms)
        if ftype == wire.T_RREQ:
            return self._on_rreq(frame, off, plen, hops_left, hops_taken, src, dst, seq,
                                 link, link_src, rssi_dbm, now_ms)
        if dst == wire.BROADCAST:
            return "bad_addr"
        if ftype == wire.T_RREP:
            request_seq = wire.parse_u32(frame, off, plen)
            if request_seq is None:
                return "bad_payload"
            self._learn_reverse(src, link_src, hops_taken + 1,
                                self.config.route_lifetime_ms, now_ms)
            if dst == self.address:
                # Any reply from the target ends the search, even one to an earlier ring.
                self._route_found(src, now_ms)
                return None
            return self._forward(frame, hops_left, hops_taken, dst, 0, now_ms)
        if ftype == wire.T_ACK:
            acked = wire.parse_u32(frame, off, plen)
            if acked is None:
                return "bad_payload"
            if dst == self.address:
                self._out.append((ACT_ACKED, src, acked))
                return None
            return self._forward(frame, hops_left, hops_taken, dst, 0, now_ms)
        # T_SEQREQ
        wanted = wire.parse_u16(frame, off, plen)
        if wanted is None:
            return "bad_payload"
        result = self.control.on_seqreq(wanted, dst, hops_left, now_ms)
        if result is None or isinstance(result, str):
            return result
        self._forward_to(frame, hops_left, hops_taken, result)
        return None

    def _authenticate(self, frame, ftype, flags, key_id, src, dst, seq, hops_left, hops_taken):
        """Rule 5: key id, MIC, then replay window; nothing is recorded unless all pass."""
        mic_key = self.keyring.accepts(key_id) if key_id else None
        if mic_key is None:
            return "unknown_key"
        if not mic_key.verify(frame):
            return "bad_mic"
        if not self.replay.check(src, seq):
            if ftype == wire.T_RREQ or (ftype == wire.T_DATA and (
                    dst == wire.BROADCAST or flags & wire.F_FLOOD)):
                # A copy still counts (rule 11).
                self._heard_copy(flood_key(src, seq), frame, hops_left, hops_taken)
                return "duplicate"
            return "replay"
        self.replay.commit(src, seq)
        return None

    def _forward(self, frame, hops_left, hops_taken, dst, flags, now_ms, link_src=None):
        if hops_left == 0:
            return "hop_limit"
        nb = self._next_hop(dst, flags, now_ms)
        if nb is not None and nb.link_addr == link_src:
            # Rule 8: the frame would go straight back to the neighbour it came from.
            self.control.bounced(dst, nb.node_addr, now_ms)
            nb = self._next_hop(dst, flags, now_ms)
            if nb is not None and nb.link_addr == link_src:
                nb = None
        if nb is None:
            return "no_route"
        self._forward_to(frame, hops_left, hops_taken, nb)
        return None

    def _resend(self, frame, failed, now_ms):
        """Rule 7: send a frame the link layer failed to deliver through another neighbour."""
        header = wire.parse_header(frame, self.config.mtu)
        if isinstance(header, str):
            return
        flags, dst, src, seq = header[1], header[6], header[5], header[7]
        key = (src, seq)
        if key in self._salvaged:
            self.stats.drop("no_route")
            return
        self._salvaged.append(key)
        if len(self._salvaged) > _SALVAGE_SLOTS:
            self._salvaged.pop(0)
        nb = None
        route = self.gateways.find(dst)
        if route is not None:
            nb = self.neighbours.find(route.next_hop)
            if nb is None or nb.link_addr == failed:
                backup = self.gateways.backup(route, now_ms)
                nb = self.neighbours.find(backup) if backup is not None else None
        if (nb is None or nb.link_addr == failed) and flags & wire.F_ANY_GW:
            nb = self._gateway_hop_avoiding(failed, now_ms)
        if nb is None or nb.link_addr == failed:
            cached = self.routes.find(dst, now_ms)
            if cached is not None:
                nb = self.neighbours.find(cached.next_hop)
                if nb is not None and nb.link_addr == failed:
                    self.routes.remove(dst)
                    nb = None
        if nb is None or nb.link_addr == failed:
            reason = "no_route"
            if flags & wire.F_ANY_GW:  # rule 13
                reason = self._hold(now_ms, True, frame, dst, failed)
            if reason is not None:
                self.stats.drop(reason)
            return
        self.stats.salvaged += 1
        self._unicast_bytes(frame, nb)

    def _gateway_hop_avoiding(self, failed, now_ms):
        """The neighbour towards the best-scoring gateway not reached through failed."""
        best = None
        best_score = 0
        for route in self.gateways.entries():
            if not route.health or self.gateways.penalised(route.gw, now_ms):
                continue
            nb = self.neighbours.find(route.next_hop)
            if nb is None or nb.link_addr == failed:
                continue
            score = self.gateways.score(route)
            if best is None or score < best_score:
                best, best_score = nb, score
        return best

    def _relayed_copy(self, frame, hops_left, hops_taken):
        """The frame as this node forwards it: one hop fewer, re-signed when keyed."""
        copy = bytearray(frame)
        wire.set_hops(copy, hops_left - 1, min(0xFFFF, hops_taken + 1))
        if self.keyring is not None:
            self.keyring.sender().sign(copy, len(copy) - wire.MIC_LEN)
        return bytes(copy)

    def _forward_to(self, frame, hops_left, hops_taken, nb):
        self.stats.relayed += 1
        self._unicast_bytes(self._relayed_copy(frame, hops_left, hops_taken), nb)

    def _heard_copy(self, key, frame, hops_left, hops_taken):
        if self.flood.heard_copy(key, hops_left):
            self.flood.replace(key, self._relayed_copy(frame, hops_left, hops_taken), hops_left)

    def _relay_flood(self, key, frame, hops_left, hops_taken, link, rssi_dbm, now_ms,
                     by_reach=False):
        """Schedule a flooded frame's relay; by_reach for DATA (rule 11)."""
        if hops_left == 0:
            if by_reach:  # rule 11: a copy that goes further may still come
                self.flood.schedule(key, None, link, rssi_dbm, now_ms, 0)
            return None
        copy = self._relayed_copy(frame, hops_left, hops_taken)
        if not self.flood.schedule(key, copy, link, rssi_dbm, now_ms,
                                   hops_left if by_reach else None):
            return "relay_full"
        return None

    def _on_data(self, frame, off, plen, flags, hops_left, hops_taken, src, dst, seq, link,
                 link_src, rssi_dbm, now_ms):
        parsed = wire.parse_data(frame, off, plen, flags)
        if parsed is None:
            return "bad_payload"
        port, body_off, body_len, frag = parsed
        if dst == wire.BROADCAST and flags & (wire.F_ACK_REQ | wire.F_ANY_GW | wire.F_FLOOD):
            return "bad_flags"  # a broadcast asking every bulb for an ACK would be a storm
        flooded = dst == wire.BROADCAST or flags & wire.F_FLOOD
        if flooded:
            key = flood_key(src, seq)
            if not self.dedup.add(key):
                self._heard_copy(key, frame, hops_left, hops_taken)
                return "duplicate"
            if dst == self.address or dst == wire.BROADCAST:
                self._deliver(src, port, frame, body_off, body_len, frag, flags, seq, now_ms)
            if dst == self.address:
                return None
            return self._relay_flood(key, frame, hops_left, hops_taken, link, rssi_dbm, now_ms,
                                     True)
        self._learn_reverse(src, link_src, hops_taken + 1,
                            self.config.reverse_route_lifetime_ms, now_ms, dst, flags)
        here = dst == self.address or (
            flags & wire.F_ANY_GW and self.is_gateway and self.control.gw_health > 0
        )
        if here:
            self._deliver(src, port, frame, body_off, body_len, frag, flags, seq, now_ms)
            return None
        if not flags & wire.F_ANY_GW:
            return self._forward(frame, hops_left, hops_taken, dst, flags, now_ms, link_src)
        self.control.stale_forward(dst, now_ms)
        reason = self._forward(frame, hops_left, hops_taken, dst, flags, now_ms, link_src)
        if reason == "no_route":  # rule 13
            return self._hold(now_ms, True, self._relayed_copy(frame, hops_left, hops_taken),
                              dst, link_src)
        return reason

    def _towards_gateway(self, dst, flags):
        """True for a frame that its sender routed towards a gateway (rule 9)."""
        if flags & wire.F_ANY_GW or self.gateways.find(dst) is not None:
            return True
        return self.is_gateway and dst == self.address

    def _deliver(self, src, port, frame, body_off, body_len, frag, flags, seq, now_ms):
        if frag is None:
            payload = bytes(frame[body_off : body_off + body_len])
        else:
            payload = self.reassembly.add(src, frag, frame, body_off, body_len, now_ms)
            if isinstance(payload, str):
                self.stats.drop(payload)
                return
        if flags & wire.F_ACK_REQ and not flags & wire.F_FLOOD:
            self._send_ack(src, seq, now_ms)
        if payload is None:
            return
        self.stats.delivered += 1
        self._out.append((ACT_DELIVER, src, port, payload, flags))

    def _send_ack(self, dst, seq, now_ms):
        nb = self._next_hop(dst, 0, now_ms)
        if nb is None:
            self.stats.drop("no_route")
            return
        buf = self.begin_frame(wire.T_ACK, 0, self.config.flood_hop_limit, dst)
        h = wire.HEADER_LEN
        buf[h] = (seq >> 24) & 0xFF
        buf[h + 1] = (seq >> 16) & 0xFF
        buf[h + 2] = (seq >> 8) & 0xFF
        buf[h + 3] = seq & 0xFF
        self._unicast_bytes(self.seal(h + 4), nb)

    def _on_rreq(self, frame, off, plen, hops_left, hops_taken, src, dst, seq, link, link_src,
                 rssi_dbm, now_ms):
        if dst != wire.BROADCAST:
            return "bad_addr"
        target = wire.parse_addr(frame, off, plen)
        if target is None:
            return "bad_payload"
        key = flood_key(src, seq)
        if not self.dedup.add(key):
            self._heard_copy(key, frame, hops_left, hops_taken)
            return "duplicate"
        self._learn_reverse(src, link_src, hops_taken + 1,
                            self.config.reverse_route_lifetime_ms, now_ms)
        if target != self.address:
            return self._relay_flood(key, frame, hops_left, hops_taken, link, rssi_dbm, now_ms)
        nb = self._next_hop(src, 0, now_ms)
        if nb is None:
            return "no_route"
        buf = self.begin_frame(wire.T_RREP, 0, self.config.flood_hop_limit, src)
        h = wire.HEADER_LEN
        buf[h] = (seq >> 24) & 0xFF
        buf[h + 1] = (seq >> 16) & 0xFF
        buf[h + 2] = (seq >> 8) & 0xFF
        buf[h + 3] = seq & 0xFF
        self._unicast_bytes(self.seal(h + 4), nb)
        return None
