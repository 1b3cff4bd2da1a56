# Duplicate cache for flooded frames, keyed by (source address, sequence number).
#
# Rules kept here:
# 1. Exactly `size` entries in a preallocated ring; the oldest entry is forgotten first.
# 2. A key is a 30-bit integer folded from the source address and sequence number, so it is
#    a small int on every port and inserting never allocates a key object. Two different
#    frames share a key with probability about size / 2**30: such a frame is not relayed.

from array import array

_KEY_MASK = 0x3FFFFFFF


def flood_key(src, seq):
    return (hash(src) ^ (seq * 0x9E3779B1)) & _KEY_MASK


class DuplicateCache:
    def __init__(self, size):
        self.size = size
        self._ring = array("i", [-1] * size)
        self._present = set()
        self._next = 0

    def __len__(self):
        return len(self._present)

    def __contains__(self, key):
        return key in self._present

    def add(self, key):
        """Record key; returns False when it was already present."""
        if key in self._present:
            return False
        old = self._ring[self._next]
        if old >= 0:
            self._present.discard(old)
        self._ring[self._next] = key
        self._next = (self._next + 1) % self.size
        self._present.add(key)
        return True
