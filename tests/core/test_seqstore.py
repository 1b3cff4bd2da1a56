# Persistent frame counters (seqstore.py) and what a reboot does with them.

from meshbulb.seqstore import MemoryStore, SeqCounter


def test_numbers_never_repeat_across_reboots():
    store = MemoryStore()
    used = set()
    for boot in range(5):
        counter = SeqCounter(store, 16, 1000)
        for _ in range(7 + boot * 11):
            n = counter.take()
            assert n not in used, "reused %d on boot %d" % (n, boot)
            used.add(n)


def test_the_reservation_is_written_before_any_number_is_used():
    store = MemoryStore()
    counter = SeqCounter(store, 16, 1000)
    assert store.value == 1016 and store.writes == 1
    for _ in range(16):
        assert counter.take() < store.value
    assert store.writes == 1
    assert counter.take() == 1016 and store.value == 1032 and store.writes == 2


def test_a_power_cut_between_reserve_and_use_wastes_a_block_and_reuses_nothing():
    store = MemoryStore()
    first = SeqCounter(store, 16, 1000)
    last_used = None
    for _ in range(16):
        last_used = first.take()
    first.take()  # crosses into a new block: the store says 1032 first
    # The power fails here: 1017..1031 were reserved and never used.
    second = SeqCounter(store, 16, 5)
    assert second.take() == 1032 > last_used


def test_without_a_store_the_counter_starts_where_it_is_told():
    counter = SeqCounter(None, 16, 0xFFFFFFFF)
    assert counter.take() == 0xFFFFFFFF and counter.take() == 0
