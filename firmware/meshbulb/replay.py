# Replay protection: a sliding window of sequence numbers per source, as in IPsec (RFC 4303
# section 3.4.3) and Bluetooth Mesh's replay protection list.
#
# Rules kept here:
# 1. For each source we keep the highest seq accepted and a bitmap of the WINDOW seqs below
#    it. A newer seq slides the window; an older one inside the window is accepted once;
#    anything older than the window, or seen before, is a replay.
# 2. WINDOW is 30 so the bitmap stays a small int on a 32-bit MicroPython port (no heap).
# 3. At most max_sources sources are remembered; the least recently heard one is forgotten.
#    A forgotten source's next frame is accepted as new: that bounds memory, and is the one
#    replay the table cannot stop (documented in docs/security.md).
# 4. check() only looks; commit() records. The node commits after the MIC verified, so a
#    forged frame can never move a window.

from meshbulb.compat import const

WINDOW = const(30)
_MASK = const((1 << 30) - 1)


class ReplayTable:
    def __init__(self, max_sources):
        self.max_sources = max_sources
        self._windows = {}  # src -> [highest seq, bitmap, last heard counter]
        self._clock = 0

    def __len__(self):
        return len(self._windows)

    def check(self, src, seq):
        """True when (src, seq) has not been accepted before (rule 1)."""
        window = self._windows.get(src)
        if window is None:
            return True
        diff = (seq - window[0]) & 0xFFFFFFFF
        if diff == 0:
            return False
        if diff < 0x80000000:  # newer
            return True
        back = 0x100000000 - diff  # how far below the highest
        if back > WINDOW:
            return False
        return not (window[1] >> (back - 1)) & 1

    def commit(self, src, seq):
        self._clock += 1
        window = self._windows.get(src)
        if window is None:
            if len(self._windows) >= self.max_sources:
                self._forget_oldest()
            self._windows[src] = [seq, 0, self._clock]
            return
        window[2] = self._clock
        diff = (seq - window[0]) & 0xFFFFFFFF
        if diff == 0:
            return
        if diff < 0x80000000:
            if diff > WINDOW:
                window[1] = 0
            else:
                window[1] = ((window[1] << diff) | (1 << (diff - 1))) & _MASK
            window[0] = seq
        else:
            back = 0x100000000 - diff
            if back <= WINDOW:
                window[1] |= 1 << (back - 1)

    def _forget_oldest(self):
        oldest = None
        for src, window in self._windows.items():
            if oldest is None or window[2] < self._windows[oldest][2]:
                oldest = src
        del self._windows[oldest]
