# Trickle timer (RFC 6206, section 4.2), used to pace HELLO beacons.
#
# Rules kept here (numbered as in the RFC):
# 1. The interval I lies in [Imin, Imin * 2**doublings].
# 2. At the start of each interval the counter c is reset and t is drawn from [I/2, I).
# 3. A consistent transmission heard increments c.
# 4. At time t the node transmits unless k > 0 and c >= k (k = 0 means "never suppress",
#    which is what HELLOs need: every node must beacon for link estimation).
# 5. When I expires, I doubles (up to Imax) and a new interval starts.
# 6. An inconsistency resets I to Imin (if I is not already Imin).

from meshbulb.compat import ticks_add, ticks_diff


class Trickle:
    def __init__(self, imin_ms, doublings, redundancy_k, rand_below, now_ms):
        self.imin_ms = imin_ms
        self.imax_ms = imin_ms << doublings
        self.k = redundancy_k
        self._rand_below = rand_below
        self.interval_ms = imin_ms
        self._counter = 0
        self._fired = False
        self._start_interval(now_ms)

    def _start_interval(self, now_ms):
        half = self.interval_ms // 2
        self._counter = 0
        self._fired = False
        self.t_ms = ticks_add(now_ms, half + self._rand_below(max(1, self.interval_ms - half)))
        self.end_ms = ticks_add(now_ms, self.interval_ms)
        self.next_ms = self.t_ms  # the next deadline: t, then the end of the interval

    def heard_consistent(self):
        self._counter += 1

    def reset(self, now_ms):
        """Rule 6: an inconsistency was seen."""
        if self.interval_ms != self.imin_ms:
            self.interval_ms = self.imin_ms
            self._start_interval(now_ms)

    def poll(self, now_ms):
        """Advance the timer; True when the node should transmit now."""
        transmit = False
        if not self._fired and ticks_diff(now_ms, self.t_ms) >= 0:
            self._fired = True
            self.next_ms = self.end_ms
            transmit = self.k == 0 or self._counter < self.k
        if ticks_diff(now_ms, self.end_ms) >= 0:
            self.interval_ms = min(self.interval_ms * 2, self.imax_ms)
            self._start_interval(now_ms)
        return transmit

    def next_deadline_ms(self):
        return self.next_ms
