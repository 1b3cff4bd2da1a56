# Unit tests for meshbulb.dedup: the fixed-size duplicate cache for flooded frames.
# Plain test_* functions with asserts: they run under pytest and under tests/mpy_runner.py.

from meshbulb.dedup import DuplicateCache, flood_key
from meshbulb_testing.rng import Rng

KEY_LIMIT = 1 << 30


def src(i):
    return bytes((0x02, 0, 0, 0, (i >> 8) & 0xFF, i & 0xFF))


def test_flood_key_is_a_30_bit_non_negative_int():
    rng = Rng(2)
    for i in range(200):
        k = flood_key(src(i), rng.next32())
        assert isinstance(k, int)
        assert 0 <= k < KEY_LIMIT, "key %d out of range" % k
    for seq in (0, 1, 0xFFFF, 0x10000, (1 << 30) - 1, 0xFFFFFFFF):
        assert 0 <= flood_key(src(1), seq) < KEY_LIMIT


def test_flood_key_is_deterministic():
    assert flood_key(src(5), 1234) == flood_key(src(5), 1234)
    assert flood_key(bytes(src(5)), 1234) == flood_key(src(5), 1234)


def test_flood_key_separates_sources_and_seqnos():
    keys = set()
    for i in range(1, 9):
        for seq in range(16):
            keys.add(flood_key(src(i), seq))
    assert len(keys) == 8 * 16, "collisions among 128 keys: %d distinct" % len(keys)


def test_add_reports_first_sighting_only():
    c = DuplicateCache(16)
    k = flood_key(src(1), 7)
    assert k not in c
    assert c.add(k)
    assert k in c
    assert not c.add(k)
    assert not c.add(k)
    assert len(c) == 1


def test_extreme_keys_are_ordinary_entries():
    c = DuplicateCache(16)
    for k in (0, KEY_LIMIT - 1):
        assert c.add(k)
        assert k in c
        assert not c.add(k)
    assert len(c) == 2


def test_holds_exactly_size_entries_and_forgets_oldest_first():
    c = DuplicateCache(16)
    keys = [flood_key(src(1), s) for s in range(40)]
    for k in keys[:16]:
        assert c.add(k)
    assert len(c) == 16
    for k in keys[:16]:
        assert k in c
    assert c.add(keys[16])
    assert len(c) == 16
    assert keys[0] not in c, "the oldest key must go first"
    for k in keys[1:17]:
        assert k in c
    for i in range(17, 40):
        c.add(keys[i])
        assert len(c) == 16
        assert keys[i - 16] not in c
        assert keys[i - 15] in c
        assert keys[i] in c


def test_forgotten_key_counts_as_new_again():
    c = DuplicateCache(16)
    for s in range(17):
        c.add(flood_key(src(2), s))
    assert c.add(flood_key(src(2), 0))


def test_duplicate_add_neither_uses_a_slot_nor_refreshes_age():
    c = DuplicateCache(16)
    keys = [flood_key(src(3), s) for s in range(17)]
    for k in keys[:16]:
        c.add(k)
    for _ in range(10):
        assert not c.add(keys[0])  # seen again: no slot used, still the oldest
    assert len(c) == 16
    assert keys[15] in c
    c.add(keys[16])
    assert keys[0] not in c
    assert keys[1] in c


def test_never_exceeds_size_under_random_load():
    rng = Rng(17)
    c = DuplicateCache(32)
    recent = []
    for _ in range(1000):
        k = rng.below(KEY_LIMIT)
        if c.add(k):
            recent.append(k)
            if len(recent) > 32:
                recent.pop(0)
        assert len(c) <= 32
    assert len(c) == 32
    for k in recent:
        assert k in c
