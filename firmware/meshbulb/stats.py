# Per-node counters: frames in and out by type, drops by reason, control bytes sent.
#
# Rules kept here:
# 1. Counters live in preallocated arrays indexed by frame type or drop-reason index, so
#    counting never allocates.
# 2. Every drop has exactly one reason from DROP_REASONS; an unknown reason is a bug and is
#    counted as "internal_error" rather than raising.
# 3. Counters are 32-bit and wrap; readers take differences modulo 2**32.

from array import array

from meshbulb.wire import T_DATA, TYPE_COUNT, TYPE_NAMES

DROP_REASONS = (
    "short", "oversize", "bad_version", "bad_type", "bad_flags", "bad_addr", "bad_payload",
    "unknown_key", "bad_mic", "replay", "own", "duplicate", "hop_limit", "no_route", "not_neighbour",
    "table_full", "relay_full", "reassembly_full", "queue_full",
    "discovery_failed", "weak_link", "internal_error",
)
_INTERNAL_ERROR = DROP_REASONS.index("internal_error")
# A constant shared by every node: in a dense city most received frames are dropped, and
# DROP_REASONS.index() compared up to 15 strings for each.
_DROP_INDEX = {reason: i for i, reason in enumerate(DROP_REASONS)}
_U32 = 0xFFFFFFFF  # counters wrap like the uint32 they are (CPython would raise instead)


class Stats:
    """Counters of one node. `snapshot()` returns a plain dict for reports."""

    def __init__(self):
        self.frames_in = array("I", bytes(4 * TYPE_COUNT))
        self.frames_out = array("I", bytes(4 * TYPE_COUNT))
        self.bytes_out = array("I", bytes(4 * TYPE_COUNT))
        self.drops = array("I", bytes(4 * len(DROP_REASONS)))
        self.delivered = 0
        self.relayed = 0
        self.link_failures = 0
        self.salvaged = 0  # frames sent again through another neighbour (node.py rule 7)

    def count_in(self, ftype):
        self.frames_in[ftype] = (self.frames_in[ftype] + 1) & _U32

    def count_out(self, ftype, nbytes):
        self.frames_out[ftype] = (self.frames_out[ftype] + 1) & _U32
        self.bytes_out[ftype] = (self.bytes_out[ftype] + nbytes) & _U32

    def drop(self, reason):
        i = _DROP_INDEX.get(reason, _INTERNAL_ERROR)
        self.drops[i] = (self.drops[i] + 1) & _U32

    def drop_count(self, reason):
        return self.drops[DROP_REASONS.index(reason)]

    def control_bytes(self):
        """Bytes sent in every frame type except DATA."""
        total = 0
        for ftype in range(1, TYPE_COUNT):
            if ftype != T_DATA:
                total += self.bytes_out[ftype]
        return total

    def total_drops(self):
        return sum(self.drops)

    def snapshot(self):
        return {
            "frames_in": {TYPE_NAMES[t]: self.frames_in[t] for t in range(1, TYPE_COUNT)},
            "frames_out": {TYPE_NAMES[t]: self.frames_out[t] for t in range(1, TYPE_COUNT)},
            "bytes_out": {TYPE_NAMES[t]: self.bytes_out[t] for t in range(1, TYPE_COUNT)},
            "drops": {DROP_REASONS[i]: self.drops[i] for i in range(len(DROP_REASONS))},
            "control_bytes": self.control_bytes(),
            "delivered": self.delivered,
            "relayed": self.relayed,
            "link_failures": self.link_failures,
            "salvaged": self.salvaged,
        }
