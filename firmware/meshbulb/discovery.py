# On-demand route discovery for bulb-to-bulb unicast: an expanding-ring search.
#
# Rules kept here:
# 1. At most max_discoveries destinations are searched at once, each holding at most
#    queue_len payloads waiting for the route; more are dropped and counted by the node.
# 2. Ring i floods a route request with hop limit first_ttl * 2**i, and waits
#    2 * ttl * per_hop_ms for the reply before the next ring.
# 3. After `rings` rings without a reply the search fails: the node floods the queued
#    payloads to the destination instead.

from meshbulb.compat import ticks_add, ticks_diff


class Discovery:
    def __init__(self, dst):
        self.dst = dst
        self.ring = 0
        self.ttl = 0
        self.request_seq = 0
        self.deadline_ms = 0
        self.queue = []


class DiscoveryTable:
    def __init__(self, max_discoveries, queue_len, rings, first_ttl, per_hop_ms, max_ttl):
        self.max_discoveries = max_discoveries
        self.queue_len = queue_len
        self.rings = rings
        self.first_ttl = first_ttl
        self.per_hop_ms = per_hop_ms
        self.max_ttl = max_ttl
        self.active = {}

    def __len__(self):
        return len(self.active)

    def find(self, dst):
        return self.active.get(dst)

    def start(self, dst):
        """Begin a search; returns None when max_discoveries are already running."""
        if len(self.active) >= self.max_discoveries:
            return None
        disc = Discovery(dst)
        self.active[dst] = disc
        return disc

    def enqueue(self, disc, item):
        if len(disc.queue) >= self.queue_len:
            return False
        disc.queue.append(item)
        return True

    def next_ring(self, disc, now_ms):
        """Rule 2: set the hop limit and deadline of the next ring; False when exhausted."""
        if disc.ring >= self.rings:
            return False
        disc.ttl = min(self.max_ttl, self.first_ttl << disc.ring)
        disc.ring += 1
        disc.deadline_ms = ticks_add(now_ms, 2 * disc.ttl * self.per_hop_ms)
        return True

    def finish(self, dst):
        return self.active.pop(dst, None)

    def timed_out(self, now_ms):
        return [d for d in self.active.values() if ticks_diff(now_ms, d.deadline_ms) >= 0]

    def next_deadline_ms(self):
        deadline = None
        for disc in self.active.values():
            if deadline is None or ticks_diff(disc.deadline_ms, deadline) < 0:
                deadline = disc.deadline_ms
        return deadline
