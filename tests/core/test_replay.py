# Replay windows per source (replay.py). Runs under CPython and MicroPython.

from meshbulb.replay import WINDOW, ReplayTable

A = b"\x02\x00\x00\x00\x00\x0a"
B = b"\x02\x00\x00\x00\x00\x0b"


def accept(table, src, seq):
    if not table.check(src, seq):
        return False
    table.commit(src, seq)
    return True


def test_new_sequence_numbers_pass_and_repeats_fail():
    t = ReplayTable(4)
    for seq in (100, 101, 105):
        assert accept(t, A, seq)
        assert not accept(t, A, seq)
    assert accept(t, B, 100)  # sources are independent


def test_reordering_inside_the_window_is_accepted_once():
    t = ReplayTable(4)
    assert accept(t, A, 1000)
    for seq in (1000 - WINDOW, 999, 990):
        assert accept(t, A, seq)
        assert not accept(t, A, seq)
    assert not accept(t, A, 1000 - WINDOW - 1)  # older than the window


def test_a_big_jump_clears_the_window():
    t = ReplayTable(4)
    assert accept(t, A, 10)
    assert accept(t, A, 10 + 5 * WINDOW)
    assert not accept(t, A, 10)
    assert not accept(t, A, 11)


def test_windows_survive_counter_wraparound():
    t = ReplayTable(4)
    assert accept(t, A, 0xFFFFFFFE)
    assert accept(t, A, 1)  # newer, across the wrap
    assert accept(t, A, 0xFFFFFFFF)  # inside the window below 1
    assert not accept(t, A, 0xFFFFFFFE)


def test_check_alone_records_nothing():
    t = ReplayTable(4)
    assert t.check(A, 5) and t.check(A, 5)
    assert len(t) == 0


def test_the_table_is_bounded_and_forgets_the_least_recently_heard():
    t = ReplayTable(3)
    for i in range(3):
        assert accept(t, bytes((2, 0, 0, 0, 0, i)), 50)
    assert accept(t, bytes((2, 0, 0, 0, 0, 0)), 51)  # source 0 heard again
    assert accept(t, B, 7)
    assert len(t) == 3
    assert not t.check(bytes((2, 0, 0, 0, 0, 0)), 51)  # still remembered
    assert t.check(bytes((2, 0, 0, 0, 0, 1)), 50)  # forgotten: accepted as new (documented)
