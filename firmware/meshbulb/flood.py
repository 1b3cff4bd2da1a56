# Managed flooding: which flooded frames this node relays, and when.
#
# Rules kept here:
# 1. A frame seen for the first time is scheduled for relay after a random delay; bulbs that
#    heard it loudly (close to the sender, so adding little coverage) wait longer on average.
# 2. Counter-based suppression: every further copy heard during the wait counts; at
#    `threshold` copies the relay is cancelled. In dense clusters most bulbs stay quiet.
# 3. At most max_pending relays wait at once; a frame that finds no slot is not relayed.
# 4. Hop-scoped floods (relays scheduled with hops_left, as the node does for DATA) go by
#    reach. A copy heard during the wait with more hops left than the one taken replaces it
#    (heard_copy() returns True; the caller passes the relayed copy to replace()); one with
#    fewer than our relay would carry does not count towards suppression, since it stops
#    sooner than ours would; and a copy with no hops left, which is not relayed, still holds
#    a placeholder (frame None, sent as nothing) for the wait, so a copy that came the
#    shorter way can still turn it into a relay. Otherwise, in a hop-scoped group message,
#    a bulb that first heard a copy that had come the long way kept it, and the bulbs
#    beyond missed the message: in ci.toml's static 500-bulb grid (seeds 1 and 2), bulbs 3
#    good hops from the sender received 0.69 of group messages; by reach, 0.74. All members,
#    seeds 1-3 with and without churn: 0.81-0.82 -> 0.84-0.86, for 7 % more control traffic
#    (the extra relays' airtime); a 924-bulb block of flats 0.85 -> 0.89, control +4 %.
#    Placeholders take at most half the slots. (Route requests do not go by reach: a search
#    that falls short tries the next ring.)
# 5. A relay past a scoped flood's edge (node.py rule 12: its copy would carry fewer than
#    edge_hops hops left) is cancelled by the first other copy it hears. It is there for
#    the bulbs at the edge that no relay inside reached. With the usual threshold, in a
#    924-bulb block of flats, the extra relays raised airtime p95 by half and cost bulb-to-bulb
#    delivery 0.02; cancelled by one copy, group delivery 0.885 -> 0.967 for 4 % more control.

from meshbulb.compat import ticks_add, ticks_diff


class _PendingRelay:
    __slots__ = ("frame", "link", "due_ms", "copies", "hops_left")

    def __init__(self, frame, link, due_ms, hops_left):
        self.frame = frame
        self.link = link
        self.due_ms = due_ms
        self.copies = 1
        self.hops_left = hops_left  # of the copy we took


def closeness(rssi_dbm):
    """0 for a faint sender (-90 dBm or weaker) to 64 for a loud one (-40 dBm or louder)."""
    if rssi_dbm <= -90:
        return 0
    if rssi_dbm >= -40:
        return 64
    return ((rssi_dbm + 90) * 64) // 50


class FloodRelay:
    def __init__(self, max_pending, jitter_ms, threshold, rand_below, edge_hops=0):
        self.max_pending = max_pending
        self.jitter_ms = jitter_ms
        self.threshold = threshold
        self.edge_hops = edge_hops
        self._rand_below = rand_below
        self.pending = {}
        self.suppressed = 0

    def __len__(self):
        return len(self.pending)

    def schedule(self, key, frame, link, rssi_dbm, now_ms, hops_left=None):
        """Rule 1. Returns False when no slot is free (rule 3). With hops_left, the relay goes
        by reach, and frame None is a placeholder (rule 4)."""
        limit = self.max_pending if frame is not None else self.max_pending // 2
        if len(self.pending) >= limit:
            return False
        # Half the window is uniform, half is weighted by how loudly we heard the sender.
        half = self.jitter_ms // 2
        delay = self._rand_below(half + 1) + (half * closeness(rssi_dbm)) // 64
        self.pending[key] = _PendingRelay(frame, link, ticks_add(now_ms, delay), hops_left)
        return True

    def heard_copy(self, key, hops_left=0):
        """Rule 2: another neighbour relayed a frame we are waiting to relay. True when that
        copy goes further than the one we took: the caller swaps it in (rule 4)."""
        relay = self.pending.get(key)
        if relay is None:
            return False
        if relay.hops_left is not None:  # by reach (rule 4); else every copy counts
            if hops_left > relay.hops_left:
                return True
            if hops_left + 1 < relay.hops_left:
                return False  # it stops sooner than our relay would: no reason to stay quiet
        relay.copies += 1
        limit = self.threshold
        if relay.hops_left is not None and relay.hops_left <= self.edge_hops and limit > 2:
            limit = 2  # rule 5: past the edge, the first other copy is enough
        if relay.copies >= limit:
            del self.pending[key]
            self.suppressed += 1
        return False

    def replace(self, key, frame, hops_left):
        """Rule 4: relay frame, a copy with hops_left hops left, instead."""
        relay = self.pending[key]
        relay.frame = frame
        relay.hops_left = hops_left

    def due(self, now_ms):
        """Pop and return the relays whose time has come, as (frame, link)."""
        ready = None
        for key, relay in self.pending.items():
            if ticks_diff(now_ms, relay.due_ms) >= 0:
                if ready is None:
                    ready = []
                ready.append(key)
        if ready is None:
            return ()
        out = []
        for key in ready:
            relay = self.pending.pop(key)
            if relay.frame is not None:
                out.append((relay.frame, relay.link))
        return out

    def next_deadline_ms(self):
        deadline = None
        for relay in self.pending.values():
            if deadline is None or ticks_diff(relay.due_ms, deadline) < 0:
                deadline = relay.due_ms
        return deadline
