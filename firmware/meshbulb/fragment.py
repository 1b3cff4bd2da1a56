# Fragmentation of payloads larger than one frame, and bounded reassembly.
#
# Rules kept here:
# 1. A payload of total_len bytes is cut into `count` (2..16) fragments; every fragment but
#    the last carries ceil(total_len / count) bytes. Each fragment header repeats the tag,
#    its index, the count and total_len, so any fragment alone fixes the layout.
# 2. Reassembly uses `slots` preallocated buffers of max_bytes each. A fragment set that does
#    not fit max_bytes is refused. When every slot is busy, a new set takes the slot of the
#    oldest set only once that set has timed out; otherwise the fragment is dropped.
# 3. A fragment that disagrees with its set (count, length) is dropped and the set is kept.

from meshbulb.compat import ticks_add, ticks_diff
from meshbulb.wire import fragment_chunk


def fragment_count(total_len, max_chunk):
    return (total_len + max_chunk - 1) // max_chunk


class _Slot:
    __slots__ = ("buf", "src", "tag", "count", "total", "mask", "expires_ms")

    def __init__(self, max_bytes):
        self.buf = bytearray(max_bytes)
        self.src = None
        self.tag = 0
        self.count = 0
        self.total = 0
        self.mask = 0
        self.expires_ms = 0


class Reassembler:
    def __init__(self, slots, max_bytes, timeout_ms):
        self.max_bytes = max_bytes
        self.timeout_ms = timeout_ms
        self._slots = [_Slot(max_bytes) for _ in range(slots)]

    def busy(self):
        return sum(1 for s in self._slots if s.src is not None)

    def add(self, src, frag, frame, body_off, body_len, now_ms):
        """Store one fragment. Returns the whole payload (bytes) when complete, None while
        incomplete, or a drop-reason string."""
        tag, index, count, total = frag
        if total > self.max_bytes:
            return "reassembly_full"
        slot = self._find(src, tag)
        if slot is None:
            slot = self._claim(now_ms)
            if slot is None:
                return "reassembly_full"
            slot.src, slot.tag, slot.count, slot.total, slot.mask = src, tag, count, total, 0
            slot.expires_ms = ticks_add(now_ms, self.timeout_ms)
        elif slot.count != count or slot.total != total:
            return "bad_payload"
        bit = 1 << index
        if slot.mask & bit:
            return None
        off = index * fragment_chunk(total, count)
        slot.buf[off : off + body_len] = frame[body_off : body_off + body_len]
        slot.mask |= bit
        if slot.mask != (1 << count) - 1:
            return None
        payload = bytes(slot.buf[:total])
        slot.src = None
        return payload

    def _find(self, src, tag):
        for slot in self._slots:
            if slot.src == src and slot.tag == tag:
                return slot
        return None

    def _claim(self, now_ms):
        oldest = None
        for slot in self._slots:
            if slot.src is None:
                return slot
            if ticks_diff(now_ms, slot.expires_ms) >= 0 and (
                oldest is None or ticks_diff(slot.expires_ms, oldest.expires_ms) < 0
            ):
                oldest = slot
        return oldest

    def expire(self, now_ms):
        """Free timed-out slots; return the next timeout deadline."""
        deadline = None
        for slot in self._slots:
            if slot.src is None:
                continue
            if ticks_diff(now_ms, slot.expires_ms) >= 0:
                slot.src = None
            elif deadline is None or ticks_diff(slot.expires_ms, deadline) < 0:
                deadline = slot.expires_ms
        return deadline
