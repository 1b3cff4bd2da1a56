# Source table: the feasibility distance (FD) we keep for each gateway, as in Babel
# (RFC 8966, section 3.5). It is what makes routing loop-free.
#
# Rules kept here:
# 1. The FD of a gateway is the best (seqno, metric) we have ever advertised for it.
# 2. An update (seqno, metric) from a neighbour is feasible when there is no FD, when it is a
#    retraction, when seqno is newer than the FD's, or when seqno equals it and metric is
#    strictly smaller. metric is the neighbour's advertised metric, before our link cost.
# 3. Advertising (seqno, metric) lowers the FD when it is feasible; it never raises it.
# 4. At most max_entries rows; when full, the row refreshed longest ago is forgotten. Rows
#    outlive route entries, so evicting a route from the small gateway table keeps its FD.
# 5. When a gateway announces itself down at seqno s, the FD becomes (s, 0): nothing at s or
#    older is feasible any more, so stale routes still circulating are not taken up again;
#    the gateway's next seqno (it bumps it when it comes back) is.

from meshbulb.compat import seqno_newer, ticks_elapsed
from meshbulb.wire import METRIC_INF


class SourceTable:
    def __init__(self, max_entries):
        self.max_entries = max_entries
        self._fd = {}  # gateway address -> (seqno, metric, refreshed_ms)

    def __len__(self):
        return len(self._fd)

    def find(self, gw):
        return self._fd.get(gw)

    def feasible(self, gw, seqno, metric):
        """Rule 2."""
        if metric == METRIC_INF:
            return True
        fd = self._fd.get(gw)
        if fd is None:
            return True
        fd_seqno, fd_metric, _ = fd
        return seqno_newer(seqno, fd_seqno) or (seqno == fd_seqno and metric < fd_metric)

    def update(self, gw, seqno, metric, now_ms):
        """Rule 3: record that we advertise (seqno, metric) for gw."""
        if metric == METRIC_INF:
            return
        fd = self._fd.get(gw)
        if fd is not None:
            fd_seqno, fd_metric, _ = fd
            if seqno == fd_seqno and metric >= fd_metric:
                self._fd[gw] = (fd_seqno, fd_metric, now_ms)
                return
            if seqno_newer(fd_seqno, seqno):
                return
        elif len(self._fd) >= self.max_entries:
            self._evict_oldest(now_ms)
        self._fd[gw] = (seqno, metric, now_ms)

    def outdate(self, gw, seqno, now_ms):
        """Rule 5."""
        fd = self._fd.get(gw)
        if fd is not None and seqno_newer(fd[0], seqno):
            return
        if fd is None and len(self._fd) >= self.max_entries:
            self._evict_oldest(now_ms)
        self._fd[gw] = (seqno, 0, now_ms)

    def _evict_oldest(self, now_ms):
        oldest = None
        oldest_age = -1
        for gw, fd in self._fd.items():
            age = ticks_elapsed(now_ms, fd[2])
            if oldest is None or age > oldest_age:
                oldest, oldest_age = gw, age
        if oldest is not None:
            del self._fd[oldest]
