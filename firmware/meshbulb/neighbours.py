# Neighbour table: who we hear, how well, and in both directions (bidirectional ETX).
#
# Rules kept here:
# 1. At most max_neighbours entries, keyed by node address; a link-address index finds the
#    entry of a frame's previous hop.
# 2. Reception quality rx_q (0..255) is an EWMA over the neighbour's HELLO sequence numbers:
#    each missed HELLO decays it by 1/4, each received one moves it 1/4 towards 255.
#    tx_q is what the neighbour reports hearing from us; 0 means "it does not list us".
# 3. Link cost = 16 * ETX, ETX = 1 / (rx * tx); a link weaker than weak_rssi_dbm costs more.
#    A link that is not bidirectional costs LINK_INF and carries no routes.
# 4. An entry expires when no HELLO came within hold_factor * the interval the neighbour
#    announced, or after link_fail_limit consecutive link-layer send failures.
# 5. When full, a newcomer may only displace the weakest entry that is not established
#    (bidirectional with rx_q >= 128), and only when it is heard _NEWCOMER_DB louder: in a
#    dense block of flats, where a bulb hears 200 others, anything less kept the table
#    churning and no link ever became established (control traffic 230 B/s per bulb). Displacing an established entry needs a newcomer 10 dB stronger and
#    happens at most once per evict_holdoff_ms, so a flood of fake neighbours cannot evict
#    good links in bulk.
# 6. A full table keeps a lower bound of its entries' RSSI (lowered as entries are admitted
#    or heard weaker, made exact by each full scan). A newcomer not _NEWCOMER_DB above it can
#    displace nobody, so it is turned away without a scan: in a dense block a bulb hears
#    seven HELLOs from outside its table for each one from inside, and scanning the table
#    for each took a sixth of the simulator's time.

from meshbulb.compat import const, ticks_add, ticks_diff, ticks_elapsed

LINK_UNIT = const(16)
LINK_INF = const(0xFFFF)
_LINK_MAX = const(1024)
_ESTABLISHED_Q = const(128)
_STRONGER_DB = const(10)
_NEWCOMER_DB = const(3)
HELLO_DUPLICATE = const(0)
HELLO_NEXT = const(1)
HELLO_RESTART = const(2)


class Neighbour:
    """One row of the neighbour table."""

    __slots__ = ("node_addr", "link", "link_addr", "rssi_dbm", "rx_q", "tx_q", "hello_seq",
                 "is_gateway", "heard_ms", "expires_ms", "send_failures")

    def __init__(self, node_addr, link, link_addr, rssi_dbm, now_ms):
        self.node_addr = node_addr
        self.link = link
        self.link_addr = link_addr
        self.rssi_dbm = rssi_dbm
        self.rx_q = 0
        self.tx_q = 0
        self.hello_seq = -1
        self.is_gateway = False
        self.heard_ms = now_ms
        self.expires_ms = now_ms
        self.send_failures = 0

    def established(self):
        return self.tx_q > 0 and self.rx_q >= _ESTABLISHED_Q

    def cost(self, weak_rssi_dbm):
        """Link cost in 1/16 ETX units, LINK_INF when the link is not bidirectional."""
        if self.rx_q == 0 or self.tx_q == 0:
            return LINK_INF
        cost = (LINK_UNIT * 65025) // (self.rx_q * self.tx_q)
        if self.rssi_dbm < weak_rssi_dbm:
            cost += cost * (weak_rssi_dbm - self.rssi_dbm) // 8
        return cost if cost < _LINK_MAX else _LINK_MAX

    def hello_received(self, hello_seq, initial_q):
        """Rule 2. Returns HELLO_DUPLICATE, HELLO_NEXT, or HELLO_RESTART when the sequence
        jumped (the neighbour rebooted, or we missed a long stretch of its HELLOs)."""
        result = HELLO_NEXT
        if self.hello_seq < 0:
            self.rx_q = initial_q
        else:
            gap = (hello_seq - self.hello_seq) & 0xFFFF
            if gap == 0:
                return HELLO_DUPLICATE
            if gap > 64:
                self.rx_q = initial_q
                result = HELLO_RESTART
            else:
                q = self.rx_q
                for _ in range(gap - 1):
                    q -= q >> 2
                self.rx_q = q + ((255 - q + 3) >> 2)
        self.hello_seq = hello_seq
        return result


def initial_quality(rssi_dbm, weak_rssi_dbm):
    """A first guess of reception quality from RSSI alone (never 'established')."""
    if rssi_dbm >= weak_rssi_dbm + 15:
        return 160
    if rssi_dbm >= weak_rssi_dbm:
        return 128
    return 64


class NeighbourTable:
    def __init__(self, max_entries, hold_factor, fail_limit, evict_holdoff_ms):
        self.max_entries = max_entries
        self.hold_factor = hold_factor
        self.fail_limit = fail_limit
        self.evict_holdoff_ms = evict_holdoff_ms
        self._by_node = {}
        self._by_link = {}
        self._last_evict_ms = None
        self._floor_dbm = -128  # rule 6: no entry is weaker than this

    def __len__(self):
        return len(self._by_node)

    def entries(self):
        return self._by_node.values()

    def find(self, node_addr):
        return self._by_node.get(node_addr)

    def find_by_link(self, link_addr):
        return self._by_link.get(link_addr)

    def update(self, node_addr, link, link_addr, rssi_dbm, interval_ms, now_ms):
        """Find or admit the sender of a HELLO. Returns (entry, is_new, evicted) where entry is
        None when the table is full of better links."""
        entry = self._by_node.get(node_addr)
        evicted = None
        is_new = entry is None
        if is_new:
            if len(self._by_node) >= self.max_entries:
                if rssi_dbm < self._floor_dbm + _NEWCOMER_DB:
                    return None, False, None  # rule 6
                evicted = self._choose_victim(rssi_dbm, now_ms)
                if evicted is None:
                    return None, False, None
                self.remove(evicted.node_addr)
            entry = Neighbour(node_addr, link, link_addr, rssi_dbm, now_ms)
            self._by_node[node_addr] = entry
            self._by_link[link_addr] = entry
        elif entry.link_addr != link_addr or entry.link != link:
            self._unindex(entry)
            entry.link = link
            entry.link_addr = link_addr
            self._by_link[link_addr] = entry
        entry.rssi_dbm = (entry.rssi_dbm * 3 + rssi_dbm) // 4 if not is_new else rssi_dbm
        if entry.rssi_dbm < self._floor_dbm:
            self._floor_dbm = entry.rssi_dbm
        entry.heard_ms = now_ms
        entry.send_failures = 0
        entry.expires_ms = ticks_add(now_ms, interval_ms * self.hold_factor)
        return entry, is_new, evicted

    def _choose_victim(self, rssi_dbm, now_ms):
        """Rule 5."""
        weakest = None
        floor_dbm = 127
        for entry in self._by_node.values():
            if entry.rssi_dbm < floor_dbm:
                floor_dbm = entry.rssi_dbm
            if not entry.established() and (weakest is None or entry.rssi_dbm < weakest.rssi_dbm):
                weakest = entry
        self._floor_dbm = floor_dbm  # rule 6: exact again
        if weakest is not None:
            return weakest if rssi_dbm >= weakest.rssi_dbm + _NEWCOMER_DB else None
        if self._last_evict_ms is not None and (
            ticks_elapsed(now_ms, self._last_evict_ms) < self.evict_holdoff_ms
        ):
            return None
        for entry in self._by_node.values():
            if weakest is None or entry.rssi_dbm < weakest.rssi_dbm:
                weakest = entry
        if weakest is None or rssi_dbm < weakest.rssi_dbm + _STRONGER_DB:
            return None
        self._last_evict_ms = now_ms
        return weakest

    def remove(self, node_addr):
        entry = self._by_node.pop(node_addr, None)
        if entry is not None:
            self._unindex(entry)
        return entry

    def _unindex(self, entry):
        # Another row may have taken this link address since (a rebooted or spoofed node).
        if self._by_link.get(entry.link_addr) is entry:
            del self._by_link[entry.link_addr]

    def send_failed(self, link_addr):
        """Rule 4: returns the entry when this failure makes the neighbour lost."""
        entry = self._by_link.get(link_addr)
        if entry is None:
            return None
        entry.send_failures += 1
        if entry.send_failures >= self.fail_limit:
            return entry
        return None

    def send_succeeded(self, link_addr):
        entry = self._by_link.get(link_addr)
        if entry is not None:
            entry.send_failures = 0

    def expire(self, now_ms):
        """Remove entries whose hold time passed. Returns (lost entries, next deadline)."""
        lost = None
        deadline = None
        for entry in self._by_node.values():
            if ticks_diff(now_ms, entry.expires_ms) >= 0:
                if lost is None:
                    lost = []
                lost.append(entry)
            elif deadline is None or ticks_diff(entry.expires_ms, deadline) < 0:
                deadline = entry.expires_ms
        if lost:
            for entry in lost:
                self.remove(entry.node_addr)
        return lost, deadline

    def hello_entries(self):
        """(node_addr, rx_q) of every neighbour, for our HELLO."""
        return [(e.node_addr, e.rx_q) for e in self._by_node.values()]
