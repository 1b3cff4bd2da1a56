# A small seeded PRNG (xorshift32) that gives the same sequence on CPython and MicroPython,
# so a seeded scenario replays identically under both interpreters.

_MASK32 = 0xFFFFFFFF


class Rng:
    def __init__(self, seed):
        self._state = (seed * 2654435761 + 0x9E3779B9) & _MASK32 or 1

    def next32(self):
        x = self._state
        x ^= (x << 13) & _MASK32
        x ^= x >> 17
        x ^= (x << 5) & _MASK32
        self._state = x
        return x

    def below(self, n):
        """Uniform integer in [0, n)."""
        if n <= 1:
            return 0
        return self.next32() % n

    def chance(self, probability):
        """True with the given probability (0.0 .. 1.0)."""
        return self.next32() < int(probability * 4294967296.0)

    def uniform(self):
        return self.next32() / 4294967296.0
