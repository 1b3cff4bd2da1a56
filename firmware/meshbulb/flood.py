# Managed flooding: which flooded frames this node relays, and when.
#
# Rules kept here:
# 1. A frame seen for the first time is scheduled for relay after a random delay; bulbs that
#    heard it loudly (close to the sender, so adding little coverage) wait longer on average.
# 2. Counter-based suppression: every further copy heard during the wait counts; at
#    `threshold` copies the relay is cancelled. In dense clusters most bulbs stay quiet.
# 3. At most max_pending relays wait at once; a frame that finds no slot is not relayed.

from meshbulb.compat import ticks_add, ticks_diff


class _PendingRelay:
    def __init__(self, frame, link, due_ms):
        self.frame = frame
        self.link = link
        self.due_ms = due_ms
        self.copies = 1


def closeness(rssi_dbm):
    """0 for a faint sender (-90 dBm or weaker) to 64 for a loud one (-40 dBm or louder)."""
    if rssi_dbm <= -90:
        return 0
    if rssi_dbm >= -40:
        return 64
    return ((rssi_dbm + 90) * 64) // 50


class FloodRelay:
    def __init__(self, max_pending, jitter_ms, threshold, rand_below):
        self.max_pending = max_pending
        self.jitter_ms = jitter_ms
        self.threshold = threshold
        self._rand_below = rand_below
        self.pending = {}
        self.suppressed = 0

    def __len__(self):
        return len(self.pending)

    def schedule(self, key, frame, link, rssi_dbm, now_ms):
        """Rule 1. Returns False when no slot is free (rule 3)."""
        if len(self.pending) >= self.max_pending:
            return False
        # Half the window is uniform, half is weighted by how loudly we heard the sender.
        half = self.jitter_ms // 2
        delay = self._rand_below(half + 1) + (half * closeness(rssi_dbm)) // 64
        self.pending[key] = _PendingRelay(frame, link, ticks_add(now_ms, delay))
        return True

    def heard_copy(self, key):
        """Rule 2: another neighbour relayed a frame we are waiting to relay."""
        relay = self.pending.get(key)
        if relay is None:
            return
        relay.copies += 1
        if relay.copies >= self.threshold:
            del self.pending[key]
            self.suppressed += 1

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
            out.append((relay.frame, relay.link))
        return out

    def next_deadline_ms(self):
        deadline = None
        for relay in self.pending.values():
            if deadline is None or ticks_diff(relay.due_ms, deadline) < 0:
                deadline = relay.due_ms
        return deadline
