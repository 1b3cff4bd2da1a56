# Persistence of a node's frame counter, so a reboot never reuses a sequence number (or the
# nonces derived from it).
#
# Rules kept here:
# 1. A store holds one number: the high-water mark. Every seq below it may have been used.
# 2. The node reserves a block of `block` numbers ahead: it writes the new high-water mark
#    *before* using any number in the block. A power cut between the write and the use wastes
#    at most one block and never reuses a number.
# 3. A store is any object with load() -> int or None and save(int). The bulb's driver backs it
#    with NVS, the host with a file (tools), tests with MemoryStore.


class MemoryStore:
    """A store that lives in RAM; it survives a simulated reboot (a new Node given the same
    store), not a real one."""

    def __init__(self, value=None):
        self.value = value
        self.writes = 0

    def load(self):
        return self.value

    def save(self, value):
        self.value = value
        self.writes += 1


class SeqCounter:
    """A 32-bit counter backed by a store, reserving `block` values at a time (rule 2)."""

    def __init__(self, store, block, start):
        self.store = store
        self.block = block
        loaded = store.load() if store is not None else None
        self.next = (loaded if loaded is not None else start) & 0xFFFFFFFF
        self._limit = self.next
        self._reserve()

    def _reserve(self):
        self._limit = (self.next + self.block) & 0xFFFFFFFF
        if self.store is not None:
            self.store.save(self._limit)

    def take(self):
        """Return a number never returned before, on this or any earlier boot."""
        if self.next == self._limit:
            self._reserve()
        value = self.next
        self.next = (value + 1) & 0xFFFFFFFF
        return value
