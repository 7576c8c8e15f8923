"""A Bloom filter of 64-bit hashes: a "certainly new, or maybe seen" test, fixed or growing.

The live state asks it whether an event id or an order key may have been seen before;
"certainly not" (almost every new id) needs nothing else, "maybe" is confirmed against
the database (exact, slow, rare). Made with ``grow=False`` its size is fixed, and the
share of false "maybe" answers grows once it holds more keys than it was made for. The
server's filters are made with ``grow=True``: a full filter keeps its bits and takes new
keys in a layer twice as large, a key is a "maybe" when any layer says so (Almeida,
Baquero, Preguiça and Hutchison 2007, "Scalable Bloom filters", Information Processing
Letters 101(6)). The false "maybe" rate then stays at most the layers' count times the
rate at capacity, and the memory grows by :data:`BITS_PER_KEY` bits (3 bytes) a key
beyond the first capacity, a small fraction of what the events take in the database.

Bloom (1970), "Space/time trade-offs in hash coding with allowable errors", CACM 13(7).
The ``k`` bit positions of a key come from one 64-bit hash, first mixed (the finalizer of
SplitMix64, Steele, Lea and Flood 2014: Python hashes small integers to themselves), by
double hashing, ``h1 + i h2`` (Kirsch and Mitzenmacher 2008, "Less hashing, same
performance: building a better Bloom filter", Random Structures & Algorithms 33(2)).
With ``m`` bits, ``n`` keys and ``k`` positions, a new key is a false "maybe" with
probability about ``(1 - e^(-kn/m))^k``: :data:`BITS_PER_KEY` = 24 and :data:`PROBES` = 7
give 7e-5 at the planned capacity and 1e-6 at half of it (fewer probes than the optimal
17 make the check of a new order key cheaper in Python).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

BITS_PER_KEY = 24
PROBES = 7
_LOW = (1 << 32) - 1
_MASK = (1 << 64) - 1
_M1, _M2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB


def _mix(h: int) -> int:
    """SplitMix64's finalizer of a 64-bit value."""
    z = h & _MASK
    z = ((z ^ (z >> 30)) * _M1) & _MASK
    z = ((z ^ (z >> 27)) * _M2) & _MASK
    return z ^ (z >> 31)


def _mix_many(hashes: npt.NDArray[np.int64]) -> npt.NDArray[np.uint64]:
    z = hashes.astype(np.uint64)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(_M1)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(_M2)
    return z ^ (z >> np.uint64(31))


Hashes = npt.NDArray[np.int64]


def false_maybe_rate(keys: int, bits: int, probes: int = PROBES) -> float:
    """The chance that a key never added is a "maybe": ``(1 - e^(-k n / m))^k``."""
    return float((1.0 - np.exp(-probes * keys / bits)) ** probes)


class Bloom:
    """A Bloom filter sized for ``capacity`` keys, growing by layers with ``grow`` (see
    the module docstring)."""

    def __init__(self, capacity: int, *, grow: bool = False) -> None:
        # a power of two: a position is a mask away, not a division
        self.bits = 1 << max(6, (BITS_PER_KEY * capacity - 1).bit_length())
        self._mask = self.bits - 1
        self._store = bytearray((self.bits + 7) >> 3)
        self._view = np.frombuffer(self._store, np.uint8)
        self.added = 0
        self.grow = grow
        self._capacity = max(capacity, 1)
        self._held = 0  # keys added to this layer
        self._full: list[Bloom] = []  # earlier layers, full

    def __len__(self) -> int:
        """The keys added (repeats counted)."""
        return self.added

    def nbytes(self) -> int:
        return len(self._store) + sum(layer.nbytes() for layer in self._full)

    def layers(self) -> int:
        return len(self._full) + 1

    def _room(self, n: int) -> None:
        """Start a layer twice as large when ``n`` more keys would overfill this one."""
        if not self.grow or self._held + n <= self._capacity:
            return
        full = Bloom(0)
        full.bits, full._mask, full._store, full._view = (
            self.bits,
            self._mask,
            self._store,
            self._view,
        )
        full._held = full.added = self._held
        self._full.append(full)
        self._capacity = 2 * max(self._capacity, n)
        self.bits = 1 << (BITS_PER_KEY * self._capacity - 1).bit_length()
        self._mask = self.bits - 1
        self._store = bytearray((self.bits + 7) >> 3)
        self._view = np.frombuffer(self._store, np.uint8)
        self._held = 0

    def _positions(self, h: int) -> list[int]:
        h = _mix(h)
        step = (h >> 32) | 1
        m = self._mask
        return [((h & _LOW) + i * step) & m for i in range(PROBES)]

    def add(self, h: int) -> None:
        """Remember a key's hash."""
        self._room(1)
        store = self._store
        for p in self._positions(h):
            store[p >> 3] |= 1 << (p & 7)
        self.added += 1
        self._held += 1

    def test_and_add(self, h: int) -> bool:
        """Remember a key's hash; whether it may have been added before (one pass)."""
        self._room(1)
        earlier = any(h in layer for layer in self._full)
        h = _mix(h)
        a, step, m, store = h & _LOW, (h >> 32) | 1, self._mask, self._store
        found = True
        for _ in range(PROBES):
            p = a & m
            byte, bit = p >> 3, 1 << (p & 7)
            if not store[byte] & bit:
                found = False
                store[byte] |= bit
            a += step
        self.added += 1
        self._held += 1
        return found or earlier

    def __contains__(self, h: object) -> bool:
        """Whether a hash may have been added (False: certainly not)."""
        if not isinstance(h, int):
            return False
        store = self._store
        if all(store[p >> 3] >> (p & 7) & 1 for p in self._positions(h)):
            return True
        return any(h in layer for layer in self._full)

    def _positions_many(self, hashes: Hashes) -> npt.NDArray[np.uint64]:
        h = _mix_many(hashes)
        low, step = h & np.uint64(_LOW), (h >> np.uint64(32)) | np.uint64(1)
        i = np.arange(PROBES, dtype=np.uint64)
        return (low[:, None] + i[None, :] * step[:, None]) & np.uint64(self._mask)

    def add_many(self, hashes: Hashes) -> None:
        """Remember many hashes at once."""
        if not len(hashes):
            return
        self._room(len(hashes))
        p = self._positions_many(hashes).ravel()
        _set_bits(self._view, p)
        self.added += len(hashes)
        self._held += len(hashes)

    def contains_many(self, hashes: Hashes) -> npt.NDArray[np.bool_]:
        """Per hash, whether it may have been added."""
        if not len(hashes):
            return np.zeros(0, np.bool_)
        p = self._positions_many(hashes)
        found = self._view[(p >> np.uint64(3)).astype(np.intp)] & _bit(p)
        out = np.asarray(found.all(axis=1), np.bool_)
        for layer in self._full:
            out |= layer.contains_many(hashes)
        return out


def _set_bits(view: npt.NDArray[np.uint8], p: npt.NDArray[np.uint64]) -> None:
    """Set the bits at positions ``p`` of a byte array, repeats included: one pass per bit
    of a byte, each an indexed OR (a byte repeated in a pass gets the same value each
    time, so the repeats need no ``ufunc.at``, which took 100 ns a position)."""
    byte = (p >> np.uint64(3)).astype(np.intp)
    bit = (p & np.uint64(7)).astype(np.uint8)
    for b in range(8):
        at = byte[bit == b]
        view[at] |= np.uint8(1 << b)


def _bit(p: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint8]:
    return np.left_shift(np.uint8(1), (p & np.uint64(7)).astype(np.uint8))


def hashes_of(keys: list[str]) -> Hashes:
    """Python's 64-bit hash of every key, as the filter takes them."""
    return np.fromiter(map(hash, keys), np.int64, len(keys))
