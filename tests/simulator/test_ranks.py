"""IndexSet (simulator/ranks.py): the k-th member in index order, as a sorted list gives it."""

import random

import pytest

from meshbulb_sim.ranks import IndexSet


@pytest.mark.parametrize("n", [1, 2, 7, 64, 1000])
def test_kth_matches_a_sorted_list_through_adds_and_removals(n: int) -> None:
    rng = random.Random(n)
    members = {i for i in range(n) if rng.random() < 0.7}
    index_set = IndexSet(n, members)
    for _ in range(3000):
        i = rng.randrange(n)
        if rng.random() < 0.5:
            index_set.add(i)
            members.add(i)
        else:
            index_set.discard(i)
            members.discard(i)
        ordered = sorted(members)
        assert len(index_set) == len(ordered)
        assert (i in index_set) == (i in members)
        if ordered:
            k = rng.randrange(len(ordered))
            assert index_set.kth(k) == ordered[k]
            assert index_set.kth(len(ordered) - 1) == ordered[-1]


def test_kth_outside_the_set_is_an_error() -> None:
    index_set = IndexSet(5, [1, 3])
    assert [index_set.kth(0), index_set.kth(1)] == [1, 3]
    with pytest.raises(IndexError):
        index_set.kth(2)
    with pytest.raises(IndexError):
        IndexSet(3).kth(0)
