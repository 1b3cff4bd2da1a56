# Control plane of one node: HELLO beacons (neighbour discovery) and route updates towards
# gateways (a Babel-style distance vector). The Node owns one RoutingControl and hands it the
# HELLO, ROUTE and SEQREQ frames it receives.
#
# Rules kept here:
# 1. HELLOs are paced by Trickle, which only the node's start resets: in a lossy city, weak
#    links come and go all the time, and resetting on each change kept whole neighbourhoods
#    beaconing every second (measured in the simulator: 105 B/s per bulb of HELLOs alone).
#    Instead, a new neighbour, a neighbour that restarted (its HELLO sequence jumped) or a
#    link whose bidirectionality changed gets one extra HELLO soon (at most one per
#    triggered_min_interval_ms). A neighbour whose HELLO says it has no route yet
#    (F_NO_ROUTE) gets a triggered route update, whether or not the link is new (over an old
#    link it is rate-limited as good news is): it may have missed the update that told our
#    first gateway, and waiting for the periodic one made a 200-bulb mesh take 26 s instead
#    of 7.5 s to converge. One that has routes hears ours at our next update; telling every
#    new neighbour at once made a fifth of the route updates while a city starts. A node
#    that loses its last route sends such a HELLO soon, so that neighbours that still have
#    routes tell it theirs: backup gateways spread only with periodic updates (rule 2), and
#    a bulb whose only gateway failed waited up to 12 s for another in a 20-node emulated
#    mesh. Links heard below announce_rssi_dbm are left to Trickle: near the edge of range
#    they come and go every few HELLOs, and in a 1,000-bulb city they caused 90 % of the
#    extra HELLOs.
# 2. Route updates go out periodically and as triggered updates (after triggered_delay_ms,
#    at most one per triggered_min_interval_ms) when a first gateway is added or the only
#    one gets significantly better, when a route gets significantly worse or is lost, and
#    when a route that we use or that beats ours is added or gets significantly better
#    (rate-limited, below). Other good news (a backup gateway, a better backup
#    route) waits for the periodic update: in a 5,000-bulb grid it made a third of the route
#    updates of the first minute. The periodic interval is route_update_interval_ms (jittered)
#    after bad news (anything but good news, below) and doubles with each quiet update,
#    route_update_doublings times, as RPL's Trickle does for DIOs; each update announces the
#    interval it starts, which sets how long receivers hold its routes. (At a fixed 30 s, a
#    quarter of the frames a quiet city sent were periodic updates that told nothing new;
#    when good news reset the interval too, a static 2,000-bulb grid sent 1.25 route
#    updates per bulb-minute in steady state, 0.8 without.) A new seqno alone
#    is not significant unless this node asked for it, nor is a small gain (routes.py rule 8).
#    Good news is rate-limited harder than bad news (improvement_min_interval_ms): while a
#    city converges, each bulb hears better routes one after another, and telling each at
#    once made route updates half of all start-up traffic.
# 3. A lost or unfeasible route is retracted (metric INF) in the next three updates. A node
#    asked to forward towards a gateway it has no route to retracts that gateway too, so a
#    neighbour still routing through it on stale information learns at once; but only if
#    it advertised that gateway within the longest time a neighbour holds its routes.
#    Otherwise no neighbour can route that way through it: the frame was salvaged or sent
#    on towards another gateway (any-gateway traffic). Retracting on every such frame made
#    a third of the triggered updates in a static 2,000-bulb grid.
# 4. Without a feasible route to a gateway, the node sends a seqno request towards it,
#    rate-limited; the gateway answers with a new seqno, which makes routes feasible again.
# 5. Advertising a route updates its feasibility distance (sources.py).
# 6. A gateway announces itself with metric 0 and the load and uplink health it was given;
#    health 0 is a retraction. It bumps its seqno on request (rate-limited) and whenever
#    its health crosses zero. Its own retraction, and every retraction it causes, carries
#    load LOAD_GATEWAY_DOWN and the new seqno (routes.py rule 9). Like other retractions, a
#    gateway's own goes out in its next three updates, a triggered interval apart: sent
#    once, a neighbour missed it one time in ten at 10 % loss and kept routing to the
#    gateway until its HELLOs timed out.
# 7. A gateway beacons HELLOs at a short fixed interval instead of Trickle's, so that its
#    neighbours notice within seconds when it dies silently and retract it. There are few
#    gateways, so the extra beacons cost little airtime.
# 8. A node that restarted has lost its routes and feasibility distances. Its neighbours
#    drop their routes through it when its HELLO shows the restart, and it takes no route
#    update before it has sent its first HELLO; otherwise it could learn a route back through
#    a neighbour that still routes through it (loops after power cuts in the simulator).
# 9. A HELLO announces the longest two of our HELLOs may lie apart from now on, 1.5 times the
#    next Trickle interval (Trickle sends in the second half of each interval); neighbours
#    hold us for neighbour_hold_factor times that. Announcing the interval itself let an
#    entry expire after two HELLOs missed with unlucky timing: on the 1,000-bulb bench grid,
#    neighbours lost per bulb-minute in steady state 0.60 -> 0.36, frames received 26.9 -> 23.4.

from meshbulb import routes as rt
from meshbulb import wire
from meshbulb.compat import (
    TICKS_HALF,
    TICKS_MASK,
    seqno_add,
    seqno_newer,
    ticks_add,
    ticks_diff,
    ticks_earliest,
    ticks_elapsed,
)
from meshbulb.neighbours import (
    HELLO_DUPLICATE,
    HELLO_RESTART,
    LINK_INF,
    NeighbourTable,
    initial_quality,
)
from meshbulb.routes import GatewayTable
from meshbulb.sources import SourceTable
from meshbulb.trickle import Trickle

_RETRACT_REPEATS = 3


class RoutingControl:
    def __init__(self, node, config, rand_below, now_ms, is_gateway):
        self.node = node
        self.config = config
        self._rand_below = rand_below
        self.neighbours = NeighbourTable(
            config.max_neighbours, config.neighbour_hold_factor, config.link_fail_limit,
            config.neighbour_evict_holdoff_ms,
        )
        self.gateways = GatewayTable(
            config.max_gateways, config.gateway_replace_holdoff_ms, config.gateway_settle_ms,
            config.load_weight, config.health_weight,
        )
        self.sources = SourceTable(config.max_sources)
        if is_gateway:  # rule 7
            self.trickle = Trickle(config.gateway_hello_interval_ms, 0, 0, rand_below, now_ms)
        else:
            self.trickle = Trickle(config.hello_imin_ms, config.hello_doublings, 0, rand_below,
                                   now_ms)
        self.hello_seq = rand_below(0x10000)
        self.is_gateway = is_gateway
        self.gw_seqno = rand_below(0x10000)
        self.gw_load = 0
        self.gw_health = 255 if is_gateway else 0
        self._gw_bumped_ms = None
        self._down_repeats = 0  # rule 6: updates still to carry our own retraction soon
        self._retractions = {}  # gateway -> [seqno, repeats left, load (down marker or 0)]
        self._wanted = {}  # gateway -> seqno we asked for
        self._seqreq_ms = None
        self._last_update_ms = None
        self._triggered_ms = None
        self._hello_due_ms = None
        self._last_hello_ms = None
        self._update_interval_ms = config.route_update_interval_ms  # rule 2
        self._hold_max_ms = ((config.route_update_interval_ms << config.route_update_doublings)
                             * config.route_hold_factor)  # the longest a route of ours lives
        self._periodic_ms = ticks_add(now_ms, self._jittered(config.route_update_interval_ms))
        if is_gateway:
            self.trigger_update(now_ms)

    def _jittered(self, interval_ms):
        return interval_ms - self._rand_below(interval_ms // 4 + 1)

    # --- HELLO ---------------------------------------------------------------------------

    def on_hello(self, frame, off, plen, src, link, link_src, rssi_dbm, now_ms):
        parsed = wire.parse_hello(frame, off, plen)
        if parsed is None:
            return "bad_payload"
        flags, hello_seq, interval_ds, count = parsed
        cfg = self.config
        entry, is_new, evicted = self.neighbours.update(
            src, link, link_src, rssi_dbm, interval_ds * 100, now_ms
        )
        if entry is None:
            return "table_full"
        if evicted is not None:
            self.neighbour_lost(evicted, now_ms)
        heard = entry.hello_received(hello_seq, initial_quality(rssi_dbm, cfg.weak_rssi_dbm))
        if heard == HELLO_DUPLICATE:
            return "duplicate"
        if heard == HELLO_RESTART and not is_new:
            # Rule 8: what it advertised went with its memory. Routed through it still, we
            # would be the route it learns first: a loop until its first update reached us.
            self.neighbour_lost(entry, now_ms)
        was_bidirectional = entry.tx_q > 0
        entry.tx_q = wire.hello_quality_for(frame, off, count, self.node.address)
        entry.is_gateway = bool(flags & wire.F_GATEWAY)
        self.node.note_expiry(entry.expires_ms)
        changed = is_new or heard == HELLO_RESTART or was_bidirectional != (entry.tx_q > 0)
        if changed and entry.rssi_dbm >= cfg.announce_rssi_dbm:
            # Rule 1: one extra HELLO tells this neighbour at once (it may be new, may have
            # restarted, or may just have started to hear us); the routes follow it.
            self._extra_hello(now_ms)
        if (flags & wire.F_NO_ROUTE and entry.tx_q > 0 and entry.rssi_dbm >= cfg.announce_rssi_dbm
                and (len(self.gateways) or self.is_gateway)):
            # Rule 1: a neighbour that still has no route gets ours: at once over a new link,
            # rate-limited like good news over an old one.
            self.trigger_update(now_ms, not changed)
        return None

    def _extra_hello(self, now_ms):
        """Rule 1: one HELLO soon, but never within triggered_min_interval_ms of the last."""
        cfg = self.config
        due = ticks_add(now_ms, self._rand_below(cfg.triggered_delay_ms // 4 + 1))
        if ticks_diff(self.trickle.next_deadline_ms(), due) <= cfg.triggered_min_interval_ms:
            return  # Trickle beacons soon anyway (a node that just started, or a gateway)
        if self._last_hello_ms is not None:
            earliest = ticks_add(self._last_hello_ms, cfg.triggered_min_interval_ms)
            if ticks_diff(earliest, due) > 0:
                due = earliest
        self._hello_due_ms = ticks_earliest(self._hello_due_ms, due)

    def send_hello(self, now_ms):
        node = self.node
        self._last_hello_ms = now_ms
        self.hello_seq = (self.hello_seq + 1) & 0xFFFF
        buf = node.begin_frame(wire.T_HELLO, 0, 0, wire.BROADCAST)
        entries = self.neighbours.hello_entries()
        room = (node.max_body - wire.HELLO_FIXED) // wire.HELLO_ENTRY
        if len(entries) > room:
            entries.sort(key=lambda e: -e[1])
            del entries[room:]
        # Announce the longest two of our HELLOs may lie apart from now on (rule 9):
        # Trickle sends in the second half of each interval, so 1.5 times the next one.
        next_interval_ms = min(2 * self.trickle.interval_ms, self.trickle.imax_ms)
        interval_ds = max(1, min(0xFFFF, 3 * next_interval_ms // 200))
        flags = wire.F_NO_ROUTE if len(self.gateways) == 0 else 0
        if self.is_gateway:
            flags = wire.F_GATEWAY
        end = wire.pack_hello(buf, wire.HEADER_LEN, flags, self.hello_seq, interval_ds, entries)
        node.broadcast_frame(wire.T_HELLO, end)

    # --- route updates ---------------------------------------------------------------------

    def on_route(self, frame, off, plen, src, link_src, now_ms):
        parsed = wire.parse_route(frame, off, plen)
        if parsed is None:
            return "bad_payload"
        if self._last_hello_ms is None:
            return "not_neighbour"  # rule 8: not before our neighbours know we restarted
        nb = self.neighbours.find(src)
        if nb is None or nb.link_addr != link_src:
            return "not_neighbour"
        cost = nb.cost(self.config.weak_rssi_dbm)
        if cost == LINK_INF:
            return "not_neighbour"
        cost += self.config.hop_cost
        interval_ds, count = parsed
        hold_ms = interval_ds * 100 * self.config.route_hold_factor
        me = self.node.address
        p = off + wire.ROUTE_FIXED
        changed = False
        for _ in range(count):
            gw, seqno, metric, load, health = wire.route_entry(frame, p)
            p += wire.ROUTE_ENTRY
            if gw == me or gw == wire.BROADCAST:
                continue
            if self._consider(gw, src, seqno, metric, cost, load, health, hold_ms, now_ms):
                changed = True
        if changed:
            self.reselect(now_ms)
        return None

    def _consider(self, gw, src, seqno, metric, cost, load, health, hold_ms, now_ms):
        """Apply one route entry; returns whether the gateway table changed."""
        before = self.gateways.find(gw)
        was_ours = before is not None and before.next_hop == src
        old_metric = before.metric if before is not None else wire.METRIC_INF
        outcome = self.gateways.consider(
            gw, src, seqno, metric, cost, load, health, hold_ms, now_ms, self.sources
        )
        if outcome == rt.NOTHING:  # most entries: no better than what we have
            return False
        if (outcome == rt.ADDED or outcome == rt.CHANGED or outcome == rt.REFRESHED
                or outcome == rt.SWITCHED):
            route = self.gateways.find(gw)
            self._retractions.pop(gw, None)
            self.node.note_expiry(route.expires_ms)
            wanted = self._wanted.get(gw)
            if wanted is not None and not seqno_newer(wanted, seqno):
                del self._wanted[gw]
                self.trigger_update(now_ms)
            elif outcome == rt.ADDED or outcome == rt.CHANGED:
                if route.metric >= old_metric or len(self.gateways) == 1:
                    # A first gateway, a worse route, or the only route getting better:
                    # urgent. (As rate-limited good news, the only route's gains spread
                    # slower and routes stayed long: 3,000-bulb grid, 4 minutes, stretch
                    # 1.22 -> 1.26 and 2 % more frames.)
                    self.trigger_update(now_ms)
                elif self._leads(route):
                    self.trigger_update(now_ms, True)  # good news, rate-limited
            return True
        if outcome == rt.LOST:
            down = health == 0 and load == wire.LOAD_GATEWAY_DOWN
            self._retract(gw, seqno, now_ms, wire.LOAD_GATEWAY_DOWN if down else 0)
            return True
        if outcome == rt.UNFEASIBLE:
            if was_ours:
                self._retract(gw, seqno, now_ms)
            if self.gateways.find(gw) is None and len(self.gateways) < self.gateways.max_entries:
                self._request_seqno(gw, seqno_add(seqno, 1), src, now_ms)
            return was_ours
        return False

    def _leads(self, route):
        """Rule 2: whether a route that just got better is, or may become, the one we use."""
        selected = self.gateways.best()
        return selected is None or selected is route or route.metric < selected.metric

    def _retract(self, gw, seqno, now_ms, load=0):
        if gw in self._retractions or len(self._retractions) < 2 * self.config.max_gateways:
            self._retractions[gw] = [seqno, _RETRACT_REPEATS, load]
        self.trigger_update(now_ms)
        if not len(self.gateways) and not self.is_gateway:
            self._extra_hello(now_ms)  # rule 1: without routes now; neighbours tell theirs

    def stale_forward(self, gw, now_ms):
        """Rule 3: someone sent us traffic for gw, which we have no route to."""
        if self.gateways.find(gw) is not None or gw in self._retractions:
            return
        advertised = self.sources.find(gw)
        if advertised is not None and ticks_elapsed(now_ms, advertised[2]) < self._hold_max_ms:
            self._retract(gw, 0, now_ms)

    def bounced(self, dst, via, now_ms):
        """node.py rule 8: traffic for dst came back from via, our next hop towards it."""
        route = self.gateways.find(dst)
        if route is not None and route.next_hop == via:
            self.gateways.remove(dst)
            self._retract(dst, route.seqno, now_ms)
            self.reselect(now_ms)
        cached = self.node.routes.find(dst, now_ms)
        if cached is not None and cached.next_hop == via:
            self.node.routes.remove(dst)

    def neighbour_lost(self, entry, now_ms):
        """A neighbour expired, failed or was evicted: drop everything through it."""
        for gw in self.gateways.remove_via(entry.node_addr, now_ms, self.sources):
            self._retract(gw, 0, now_ms)
        for route in self.gateways.entries():  # runner-ups that took over expire on time
            self.node.note_expiry(route.expires_ms)
        self.reselect(now_ms)
        self.node.routes.remove_via(entry.node_addr)

    def trigger_update(self, now_ms, good_news=False):
        """Rule 2: an update soon. Good news (another gateway learned, a much better route)
        waits improvement_min_interval_ms after the last update; anything else (bad news, a
        first gateway, a new neighbour to tell) only triggered_min_interval_ms."""
        cfg = self.config
        due = ticks_add(now_ms, cfg.triggered_delay_ms // 2
                        + self._rand_below(cfg.triggered_delay_ms // 2 + 1))
        if self._last_update_ms is not None:
            wait_ms = (cfg.improvement_min_interval_ms if good_news
                       else cfg.triggered_min_interval_ms) - ticks_elapsed(
                now_ms, self._last_update_ms
            )
            if wait_ms > 0 and ticks_diff(ticks_add(now_ms, wait_ms), due) > 0:
                due = ticks_add(now_ms, wait_ms)
        self._triggered_ms = ticks_earliest(self._triggered_ms, due)
        if not good_news:
            self._update_interval_ms = cfg.route_update_interval_ms

    def send_update(self, now_ms):
        node = self.node
        buf = node.begin_frame(wire.T_ROUTE, 0, 0, wire.BROADCAST)
        p = wire.HEADER_LEN + wire.ROUTE_FIXED
        room = (node.max_body - wire.ROUTE_FIXED) // wire.ROUTE_ENTRY
        count = 0
        if self.is_gateway:
            if self.gw_health:
                p = wire.pack_route_entry(buf, p, node.address, self.gw_seqno, 0,
                                          self.gw_load, self.gw_health)
            else:  # rule 6: down, marked so that stale routes anywhere are dropped
                p = wire.pack_route_entry(buf, p, node.address, self.gw_seqno,
                                          wire.METRIC_INF, wire.LOAD_GATEWAY_DOWN, 0)
                if self._down_repeats:
                    self._down_repeats -= 1
            count += 1
        for route in self.gateways.entries():
            if count >= room:
                break
            p = wire.pack_route_entry(buf, p, route.gw, route.seqno, route.metric, route.load,
                                      route.health)
            self.sources.update(route.gw, route.seqno, route.metric, now_ms)
            count += 1
        done = []
        for gw, retraction in self._retractions.items():
            if count >= room:
                break
            p = wire.pack_route_entry(buf, p, gw, retraction[0], wire.METRIC_INF,
                                      retraction[2], 0)
            count += 1
            retraction[1] -= 1
            if retraction[1] <= 0:
                done.append(gw)
        for gw in done:
            del self._retractions[gw]
        self._last_update_ms = now_ms
        self._triggered_ms = None
        interval_ms = self._update_interval_ms  # rule 2: the interval this update starts
        self._periodic_ms = ticks_add(now_ms, self._jittered(interval_ms))
        longest_ms = self.config.route_update_interval_ms << self.config.route_update_doublings
        self._update_interval_ms = min(2 * interval_ms, longest_ms)
        if self._retractions or self._down_repeats:  # repeated soon, not periodically
            self.trigger_update(now_ms)
        if count == 0:
            return
        interval_ds = interval_ms // 100
        buf[wire.HEADER_LEN] = interval_ds >> 8
        buf[wire.HEADER_LEN + 1] = interval_ds & 0xFF
        buf[wire.HEADER_LEN + 2] = count
        node.broadcast_frame(wire.T_ROUTE, p)

    # --- seqno requests ----------------------------------------------------------------------

    def _request_seqno(self, gw, wanted, via, now_ms):
        if self._seqreq_ms is not None and ticks_elapsed(
            now_ms, self._seqreq_ms
        ) < self.config.seqreq_min_interval_ms:
            return
        nb = self.neighbours.find(via)
        if nb is None:
            return
        self._seqreq_ms = now_ms
        if len(self._wanted) < self.config.max_gateways or gw in self._wanted:
            self._wanted[gw] = wanted
        self.node.send_seqreq(gw, wanted, nb, self.config.flood_hop_limit)

    def on_seqreq(self, wanted, dst, hops_left, now_ms):
        """Returns a drop reason, None when handled, or the Neighbour to forward to."""
        if dst == self.node.address:
            if not self.is_gateway:
                return "no_route"
            if seqno_newer(wanted, self.gw_seqno):
                self.bump_seqno(now_ms)
            self.trigger_update(now_ms)
            return None
        route = self.gateways.find(dst)
        if route is None:
            return "no_route"
        if not seqno_newer(wanted, route.seqno):
            self.trigger_update(now_ms)
            return None
        if hops_left == 0:
            return "hop_limit"
        if len(self._wanted) < self.config.max_gateways or dst in self._wanted:
            self._wanted[dst] = wanted
        return self.neighbours.find(route.next_hop) or "no_route"

    # --- gateway role ------------------------------------------------------------------------

    def bump_seqno(self, now_ms):
        if self._gw_bumped_ms is not None and ticks_elapsed(
            now_ms, self._gw_bumped_ms
        ) < self.config.gateway_seqno_min_interval_ms:
            return
        self._gw_bumped_ms = now_ms
        self.gw_seqno = seqno_add(self.gw_seqno, 1)

    def set_uplink(self, load, health, now_ms):
        crossed = (health == 0) != (self.gw_health == 0)
        changed = crossed or abs(load - self.gw_load) >= 32 or abs(health - self.gw_health) >= 32
        self.gw_load = load
        self.gw_health = health
        if crossed:
            self._gw_bumped_ms = None
            self.bump_seqno(now_ms)
            self._down_repeats = _RETRACT_REPEATS if health == 0 else 0
        if changed:
            self.trigger_update(now_ms)

    def down_announced(self):
        """Rule 6: a gateway that went down has sent its retraction every time it repeats it
        soon; a gateway shutting down lingers until then."""
        return self.is_gateway and self.gw_health == 0 and self._down_repeats == 0

    # --- timers ------------------------------------------------------------------------------

    def poll(self, now_ms):
        hello = self.trickle.poll(now_ms)
        if self._hello_due_ms is not None and ticks_diff(now_ms, self._hello_due_ms) >= 0:
            self._hello_due_ms = None
            hello = True
        if hello:
            self.send_hello(now_ms)
        if ticks_diff(now_ms, self._periodic_ms) >= 0 or (
            self._triggered_ms is not None and ticks_diff(now_ms, self._triggered_ms) >= 0
        ):
            self.send_update(now_ms)

    def expire(self, now_ms):
        lost, deadline = self.neighbours.expire(now_ms)
        if lost:
            for entry in lost:
                self.neighbour_lost(entry, now_ms)
        gone, route_deadline = self.gateways.expire(now_ms)
        if gone:  # the table has reselected (routes.py rule 6)
            for gw in gone:
                self._retract(gw, 0, now_ms)
        return ticks_earliest(deadline, route_deadline)

    def reselect(self, now_ms):
        """Re-evaluate the selected gateway (routes.py rule 6)."""
        self.gateways.reselect(now_ms)
        self.note_settle()

    def note_settle(self):
        """Wake the node's housekeeping when a settling challenger may take over."""
        due = self.gateways.settle_due_ms
        if due is not None:
            self.node.note_expiry(due)

    def next_deadline_ms(self):
        # Drivers ask after every frame, so ticks_earliest is inlined (compat.py).
        deadline = self.trickle.next_ms
        other = self._periodic_ms
        if ((other - deadline + TICKS_HALF) & TICKS_MASK) < TICKS_HALF:
            deadline = other
        other = self._hello_due_ms
        if other is not None and ((other - deadline + TICKS_HALF) & TICKS_MASK) < TICKS_HALF:
            deadline = other
        other = self._triggered_ms
        if other is not None and ((other - deadline + TICKS_HALF) & TICKS_MASK) < TICKS_HALF:
            deadline = other
        return deadline
