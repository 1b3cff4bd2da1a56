"""A set of the integers 0..n-1 that finds its k-th smallest member in O(log n).

Diurnal churn picks a random bulb that is on at every flip, and flips come at a rate that
grows with the city: building the list of bulbs that are on for each pick made a run cost
O(n^2). A Fenwick (binary indexed) tree of membership counts gives the same pick, the k-th
member in index order, in O(log n), and adding or removing a member costs as much.
"""

from __future__ import annotations

from collections.abc import Iterable


class IndexSet:
    def __init__(self, n: int, members: Iterable[int] = ()) -> None:
        self._n = n
        self._tree = [0] * (n + 1)
        self._member = bytearray(n)
        for i in members:
            self._member[i] = 1
        tree = self._tree
        for i in range(1, n + 1):  # linear-time build
            tree[i] += self._member[i - 1]
            parent = i + (i & -i)
            if parent <= n:
                tree[parent] += tree[i]
        self._count = sum(self._member)

    def __len__(self) -> int:
        return self._count

    def __contains__(self, i: int) -> bool:
        return bool(self._member[i])

    def add(self, i: int) -> None:
        if not self._member[i]:
            self._member[i] = 1
            self._count += 1
            self._change(i, 1)

    def discard(self, i: int) -> None:
        if self._member[i]:
            self._member[i] = 0
            self._count -= 1
            self._change(i, -1)

    def _change(self, i: int, delta: int) -> None:
        tree, n = self._tree, self._n
        i += 1
        while i <= n:
            tree[i] += delta
            i += i & -i

    def kth(self, k: int) -> int:
        """The member with k smaller members (0 <= k < len(self))."""
        if not 0 <= k < self._count:
            raise IndexError(f"k={k} outside 0..{self._count - 1}")
        tree, n = self._tree, self._n
        pos = 0
        step = 1 << n.bit_length()
        while step:
            nxt = pos + step
            if nxt <= n and tree[nxt] <= k:
                pos = nxt
                k -= tree[nxt]
            step >>= 1
        return pos
