# Gateway routes: a Babel-style distance vector towards gateways only, bounded to the best
# few gateways, so per-bulb state and traffic do not grow with the size of the city.
#
# Rules kept here:
# 1. One selected route per gateway, at most max_entries gateways.
# 2. An update from the current next hop refreshes the route; a retraction (metric INF or
#    health 0) or an unfeasible update (see sources.py) removes it.
# 3. An update from another neighbour replaces the route only when feasible and better by a
#    hysteresis margin, or when it carries a newer seqno at no worse metric.
# 4. A new gateway enters a full table only by displacing the worst entry, never the one that
#    currently carries our traffic, at most once per replace_holdoff_ms, and only when its
#    metric is better by a quarter. Without that margin, where more gateways are in reach
#    than the table holds, link jitter swapped the last places back and forth: every bulb
#    replaced a gateway every two minutes, and each swap cost triggered updates and
#    retractions downstream.
# 5. Routes expire when not refreshed within the hold time the neighbour's interval implies.
# 6. The gateway that carries traffic (the selected one) has the lowest score: path metric
#    weighed by the load and uplink health the gateway announces. Selection is sticky: a
#    challenger must beat the selected score by 1/8 and must have been known for settle_ms,
#    so a burst of new (possibly fake) gateways cannot take the traffic at once. When a
#    challenger that would win is still settling, settle_due_ms says when to look again
#    (expire() does, and returns it as a deadline). Without it the selection waited for the
#    next update that changed the table, up to the longest update interval: in ci.toml under
#    churn, seed 1, bulbs kept a gateway 3 to 9 hops further than one they had known for up
#    to a minute.
# 7. A gateway the application found failing (sessions that never complete, or fail to
#    authenticate: a blackhole or tampering gateway) is penalised: it is not selected for
#    penalty_ms while any other gateway is usable. At most max_entries penalties are kept.
# 8. Switching to a better next hop is CHANGED (worth a triggered update) only when the metric
#    drops by more than a quarter; smaller gains are SWITCHED and wait for the periodic
#    update. Link estimates jitter, so small switches are frequent: in a 1,000-bulb city they
#    were 97 % of all triggered updates.
# 9. A gateway-down retraction (load LOAD_GATEWAY_DOWN) with a seqno newer than our route's
#    removes the route whichever neighbour sent it: the gateway itself said it is down after
#    our route was made, so the route is stale even if our next hop has not told us yet.
# 10. Each route remembers a runner-up: the best feasible offer from another neighbour that
#     did not win. When the next hop retracts the route, sends an unfeasible update or is
#     lost, the runner-up takes over if it is still feasible (a feasible successor, as in
#     EIGRP), instead of a retraction rippling downstream and a seqno request; a frame the
#     next hop failed to take is salvaged through it (node.py rule 7).

from meshbulb.compat import seqno_newer, ticks_add, ticks_diff, ticks_elapsed
from meshbulb.wire import LOAD_GATEWAY_DOWN, METRIC_INF

# Outcomes of GatewayTable.consider().
NOTHING = 0
REFRESHED = 1
CHANGED = 2
ADDED = 3
LOST = 4
UNFEASIBLE = 5
FULL = 6
SWITCHED = 7


class GatewayRoute:
    """Our selected route to one gateway."""

    __slots__ = ("gw", "next_hop", "seqno", "adv_metric", "metric", "load", "health", "expires_ms",
                 "added_ms", "backup")

    def __init__(self, gw):
        self.gw = gw
        self.next_hop = None
        self.seqno = 0
        self.adv_metric = 0
        self.metric = METRIC_INF
        self.load = 0
        self.health = 0
        self.expires_ms = 0
        self.added_ms = 0
        # Rule 10: (next_hop, seqno, adv_metric, metric, load, health, expires_ms) or None.
        self.backup = None

    def set(self, next_hop, seqno, adv_metric, metric, load, health, expires_ms):
        if self.backup is not None and self.backup[0] == next_hop:
            self.backup = None
        self.next_hop = next_hop
        self.seqno = seqno
        self.adv_metric = adv_metric
        self.metric = metric
        self.load = load
        self.health = health
        self.expires_ms = expires_ms


class GatewayTable:
    def __init__(self, max_entries, replace_holdoff_ms, settle_ms, load_weight, health_weight):
        self.max_entries = max_entries
        self.replace_holdoff_ms = replace_holdoff_ms
        self.settle_ms = settle_ms
        self.settle_due_ms = None  # rule 6: when a settling challenger may take over
        self.selected = None
        self._penalties = {}  # gateway -> (penalised at ms, duration ms)
        self.load_weight = load_weight
        self.health_weight = health_weight
        self._routes = {}
        self._last_replace_ms = None

    def __len__(self):
        return len(self._routes)

    def entries(self):
        return self._routes.values()

    def find(self, gw):
        return self._routes.get(gw)

    def score(self, route):
        """Rule 6: lower is better."""
        metric = route.metric
        return (
            metric
            + (metric * route.load * self.load_weight) // 65536
            + (255 - route.health) * self.health_weight
        )

    def best(self):
        """The route our internet traffic uses (rule 6), or None."""
        return self.selected

    def penalise(self, gw, now_ms, duration_ms):
        """Rule 7."""
        if gw not in self._penalties and len(self._penalties) >= self.max_entries:
            self._penalties.pop(next(iter(self._penalties)))
        self._penalties[gw] = (now_ms, duration_ms)
        if self.selected is not None and self.selected.gw == gw:
            self.selected = None
        self.reselect(now_ms)

    def penalised(self, gw, now_ms):
        penalty = self._penalties.get(gw)
        if penalty is None:
            return False
        if ticks_elapsed(now_ms, penalty[0]) < penalty[1]:
            return True
        del self._penalties[gw]
        return False

    def reselect(self, now_ms):
        """Rules 6 and 7: re-evaluate the selected gateway after any change to the table."""
        current = self.selected
        if current is not None and (self._routes.get(current.gw) is not current
                                    or current.health == 0
                                    or self.penalised(current.gw, now_ms)):
            current = None
        best = None
        best_score = 0
        current_score = self.score(current) if current is not None else 0
        due = None
        usable = [r for r in self._routes.values()
                  if r.health and not self.penalised(r.gw, now_ms)]
        if not usable:
            usable = [r for r in self._routes.values() if r.health]
        for route in usable:
            s = self.score(route)
            if current is not None and ticks_elapsed(now_ms, route.added_ms) < self.settle_ms:
                if route is not current and s + s // 8 < current_score:
                    settled_ms = ticks_add(route.added_ms, self.settle_ms)
                    if due is None or ticks_diff(settled_ms, due) < 0:
                        due = settled_ms
                continue
            if best is None or s < best_score:
                best, best_score = route, s
        self.settle_due_ms = due
        challenger_wins = best is not None and (
            current is None or best_score + best_score // 8 < current_score
        )
        self.selected = best if challenger_wins or current is None else current

    def consider(self, gw, next_hop, seqno, adv_metric, link_cost, load, health, hold_ms,
                 now_ms, sources):
        """Apply one advertised entry from neighbour next_hop. Returns an outcome code."""
        retract = adv_metric == METRIC_INF or health == 0
        metric = METRIC_INF if retract else min(METRIC_INF - 1, adv_metric + link_cost)
        expires_ms = ticks_add(now_ms, hold_ms)
        route = self._routes.get(gw)
        if retract and health == 0 and load == LOAD_GATEWAY_DOWN:
            if route is None or not seqno_newer(seqno, route.seqno):
                return NOTHING if route is None or route.next_hop != next_hop else self._lose(gw)
            sources.outdate(gw, seqno, now_ms)  # rule 9
            return self._lose(gw)
        if route is not None and route.next_hop == next_hop:
            if retract:
                return self._promote(route, now_ms, sources) or self._lose(gw)
            if not sources.feasible(gw, seqno, adv_metric):
                promoted = self._promote(route, now_ms, sources)
                if promoted:
                    return promoted
                del self._routes[gw]
                return UNFEASIBLE
            old = route.metric
            significant = (
                abs(metric - old) * 4 > old
                or health != route.health
                or abs(load - route.load) >= 32
            )
            route.set(next_hop, seqno, adv_metric, metric, load, health, expires_ms)
            return CHANGED if significant else REFRESHED
        if retract:
            if route is not None and route.backup is not None and route.backup[0] == next_hop:
                route.backup = None
            return NOTHING
        if route is not None:
            # The cheap test first: most updates from other neighbours are no better.
            old = route.metric
            if not (metric + old // 16 + 8 < old
                    or (seqno_newer(seqno, route.seqno) and metric <= old)):
                self._offer_backup(route, gw, next_hop, seqno, adv_metric, metric, load, health,
                                   expires_ms, now_ms, sources)
                return NOTHING
            if not sources.feasible(gw, seqno, adv_metric):
                return UNFEASIBLE
            route.set(next_hop, seqno, adv_metric, metric, load, health, expires_ms)
            # Rule 8: a better next hop is news only when the metric drops by a quarter.
            return CHANGED if (old - metric) * 4 > old else SWITCHED
        if not sources.feasible(gw, seqno, adv_metric):
            return UNFEASIBLE
        if len(self._routes) >= self.max_entries and not self._make_room(metric, now_ms):
            return FULL
        route = GatewayRoute(gw)
        route.set(next_hop, seqno, adv_metric, metric, load, health, expires_ms)
        route.added_ms = now_ms
        self._routes[gw] = route
        return ADDED

    def _offer_backup(self, route, gw, next_hop, seqno, adv_metric, metric, load, health,
                      expires_ms, now_ms, sources):
        """Rule 10: keep the best feasible runner-up, checked only when it would change."""
        b = route.backup
        if not (b is None or b[0] == next_hop or metric < b[3]
                or ticks_diff(now_ms, b[6]) >= 0):
            return
        if sources.feasible(gw, seqno, adv_metric):
            route.backup = (next_hop, seqno, adv_metric, metric, load, health, expires_ms)
        elif b is not None and b[0] == next_hop:
            route.backup = None

    def backup(self, route, now_ms):
        """Rule 10: the runner-up next hop of a route, or None."""
        b = route.backup
        if b is None or ticks_diff(now_ms, b[6]) >= 0:
            return None
        return b[0]

    def _promote(self, route, now_ms, sources):
        """Rule 10: replace a failed next hop by the runner-up if it is still feasible.
        Returns CHANGED or SWITCHED, or NOTHING (0, false) when there is none."""
        b = route.backup
        route.backup = None
        if b is None or ticks_diff(now_ms, b[6]) >= 0 or not sources.feasible(route.gw, b[1],
                                                                              b[2]):
            return NOTHING
        old = route.metric
        route.set(b[0], b[1], b[2], b[3], b[4], b[5], b[6])
        return CHANGED if (route.metric - old) * 4 > old else SWITCHED

    def _lose(self, gw):
        del self._routes[gw]
        return LOST

    def _make_room(self, metric, now_ms):
        """Rule 4."""
        if self._last_replace_ms is not None and (
            ticks_elapsed(now_ms, self._last_replace_ms) < self.replace_holdoff_ms
        ):
            return False
        protected = self.selected
        worst = None
        for route in self._routes.values():
            if route is not protected and (worst is None or route.metric > worst.metric):
                worst = route
        if worst is None or metric + metric // 4 >= worst.metric:
            return False
        del self._routes[worst.gw]
        self._last_replace_ms = now_ms
        return True

    def remove(self, gw):
        return self._routes.pop(gw, None)

    def remove_via(self, next_hop, now_ms, sources):
        """A neighbour was lost: its routes go to their runner-ups (rule 10) or are dropped.
        Returns the gateways lost."""
        lost = []
        for r in self._routes.values():
            if r.next_hop == next_hop:
                if not self._promote(r, now_ms, sources):
                    lost.append(r.gw)
            elif r.backup is not None and r.backup[0] == next_hop:
                r.backup = None
        for gw in lost:
            del self._routes[gw]
        return lost

    def expire(self, now_ms):
        """Remove routes past their hold time, and reselect after a loss or once a settling
        challenger has settled (rule 6). Returns (lost gateways, next deadline)."""
        lost = None
        deadline = None
        for route in self._routes.values():
            if ticks_diff(now_ms, route.expires_ms) >= 0:
                if lost is None:
                    lost = []
                lost.append(route.gw)
            elif deadline is None or ticks_diff(route.expires_ms, deadline) < 0:
                deadline = route.expires_ms
        if lost:
            for gw in lost:
                del self._routes[gw]
        due = self.settle_due_ms
        if lost or (due is not None and ticks_diff(now_ms, due) >= 0):
            self.reselect(now_ms)  # sets the next settle_due_ms, if any
            due = self.settle_due_ms
        if due is not None and (deadline is None or ticks_diff(due, deadline) < 0):
            deadline = due
        return lost, deadline
