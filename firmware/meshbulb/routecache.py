# Route cache for bulb-to-bulb unicast: destination -> next hop, learned from route
# discovery (RREQ/RREP) and from the reverse path of forwarded data.
#
# Rules kept here:
# 1. At most max_entries destinations. Using a route extends its life to route_lifetime_ms.
# 2. When full, a new entry may displace only the entry that expires first, and only when
#    that entry expires before the newcomer would. Routes in active use therefore survive a
#    flood of fake route requests; idle ones near expiry make room.
# 3. A route through a lost neighbour is removed at once.
# 4. Lookups check expiry themselves, so expire() only frees slots and sets no deadline: the
#    node sweeps the cache when it wakes for its other tables. Reverse routes are refreshed by
#    every forwarded frame, and waking for each one's expiry made over half of a relay's
#    housekeeping in a 2,000-bulb grid.

from meshbulb.compat import ticks_add, ticks_diff


class CachedRoute:
    __slots__ = ("next_hop", "hops", "expires_ms")

    def __init__(self, next_hop, hops, expires_ms):
        self.next_hop = next_hop
        self.hops = hops
        self.expires_ms = expires_ms


class RouteCache:
    def __init__(self, max_entries):
        self.max_entries = max_entries
        self._routes = {}

    def __len__(self):
        return len(self._routes)

    def find(self, dst, now_ms):
        route = self._routes.get(dst)
        if route is not None and ticks_diff(now_ms, route.expires_ms) >= 0:
            del self._routes[dst]
            return None
        return route

    def use(self, route, now_ms, lifetime_ms):
        if ticks_diff(ticks_add(now_ms, lifetime_ms), route.expires_ms) > 0:
            route.expires_ms = ticks_add(now_ms, lifetime_ms)

    def update(self, dst, next_hop, hops, lifetime_ms, now_ms):
        """Learn or refresh a route. Returns False when the table had no room (rule 2)."""
        expires_ms = ticks_add(now_ms, lifetime_ms)
        route = self._routes.get(dst)
        if route is not None:
            if route.next_hop == next_hop or hops < route.hops or (
                ticks_diff(now_ms, route.expires_ms) >= 0
            ):
                route.next_hop = next_hop
                route.hops = hops
                if ticks_diff(expires_ms, route.expires_ms) > 0:
                    route.expires_ms = expires_ms
            return True
        if len(self._routes) >= self.max_entries:
            victim = None
            for key, old in self._routes.items():
                if victim is None or ticks_diff(old.expires_ms, victim[1].expires_ms) < 0:
                    victim = (key, old)
            if ticks_diff(victim[1].expires_ms, expires_ms) >= 0:
                return False
            del self._routes[victim[0]]
        self._routes[dst] = CachedRoute(next_hop, hops, expires_ms)
        return True

    def remove(self, dst):
        return self._routes.pop(dst, None)

    def remove_via(self, next_hop):
        lost = [dst for dst, r in self._routes.items() if r.next_hop == next_hop]
        for dst in lost:
            del self._routes[dst]
        return len(lost)

    def expire(self, now_ms):
        """Rule 4: drop expired routes; returns how many."""
        dead = [dst for dst, r in self._routes.items() if ticks_diff(now_ms, r.expires_ms) >= 0]
        for dst in dead:
            del self._routes[dst]
        return len(dead)
