"""Per-pattern random generators, bit-identical to numpy's ``default_rng(SeedSequence(words))``, made in bulk.

One job: the PCG64 states that ``np.random.default_rng(np.random.SeedSequence(words))`` would start from,
for many entropy rows at once (:func:`pcg64_states`), and one Generator that takes them in turn
(:class:`Reseeded`). Why: every spike-train pattern draws from its own generator seeded by
``[seed, device + 1, cycle, class]`` (:mod:`protocols.spike_train`), and building one Generator per pattern
(hashing the entropy, seeding PCG64) cost more than drawing the train.

How: numpy's SeedSequence (O'Neill's seed_seq: hashmix/mix over a 4-word pool, then
generate_state(4, uint64)) vectorized over the rows, and PCG64's seeding (pcg_setseq_128_srandom_r) on the
128-bit words — numpy/random/bit_generator.pyx and _pcg64.pyx; checked against numpy itself in
tests/test_spike_train.py. One generator, set to each pattern's state in turn, then draws exactly what a
fresh default_rng of that pattern would.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

_SS_INIT_A, _SS_MULT_A, _SS_INIT_B, _SS_MULT_B = 0x43B0D7E5, 0x931E8875, 0x8B51F9DD, 0x58F38DED
_SS_MIX_L, _SS_MIX_R, _SS_POOL = 0xCA01F9DD, 0x4973F715, 4
_PCG_MULT = (2549297995355413924 << 64) + 4865540595714422341    # PCG_DEFAULT_MULTIPLIER_128
_M32, _M128 = 2**32 - 1, 2**128 - 1
WORD_MAX = _M32                     # the largest entropy word (uint32)


def entropy_words(x: int) -> list[int]:
    """A non-negative entropy integer as SeedSequence reads it: 32-bit words, lowest first ([0] for 0)."""
    out = [x & _M32]
    while x > _M32:
        x >>= 32
        out.append(x & _M32)
    return out


def pcg64_states(entropy: np.ndarray) -> list[tuple[int, int]]:
    """(state, inc) of ``PCG64(SeedSequence(words))`` for each row of ``entropy`` ((m, L) uint32: the rows'
    concatenated :func:`entropy_words`), as the 128-bit integers of ``PCG64.state["state"]``."""
    m, n_words = entropy.shape
    hc = _SS_INIT_A

    def hashmix(v: np.ndarray) -> np.ndarray:
        nonlocal hc
        v = v ^ np.uint32(hc)
        hc = (hc * _SS_MULT_A) & _M32
        v = v * np.uint32(hc)
        return v ^ (v >> np.uint32(16))

    def mix(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        r = np.uint32(_SS_MIX_L) * x - np.uint32(_SS_MIX_R) * y
        return r ^ (r >> np.uint32(16))

    pool = [hashmix(entropy[:, i] if i < n_words else np.zeros(m, np.uint32)) for i in range(_SS_POOL)]
    for src in range(_SS_POOL):
        for dst in range(_SS_POOL):
            if src != dst:
                pool[dst] = mix(pool[dst], hashmix(pool[src]))
    for src in range(_SS_POOL, n_words):
        for dst in range(_SS_POOL):
            pool[dst] = mix(pool[dst], hashmix(entropy[:, src]))
    hc, words = _SS_INIT_B, []
    for i in range(8):                                   # generate_state(4, np.uint64): 8 words, pool cycled
        v = pool[i % _SS_POOL] ^ np.uint32(hc)
        hc = (hc * _SS_MULT_B) & _M32
        v = v * np.uint32(hc)
        words.append((v ^ (v >> np.uint32(16))).astype(np.uint64))
    w = [(words[2 * j] | (words[2 * j + 1] << np.uint64(32))).tolist() for j in range(4)]
    out = []
    for s0, s1, i0, i1 in zip(*w):                      # pcg64_set_seed(seed = w0:w1, inc = w2:w3)
        inc = ((((i0 << 64) | i1) << 1) | 1) & _M128
        out.append((((inc + ((s0 << 64) | s1)) * _PCG_MULT + inc) & _M128, inc))
    return out


class Reseeded(Sequence):
    """``states`` as generators: item j is one shared Generator set to PCG64 state j (a fresh generator's
    state: no buffered 32-bit half). Take each item once, in order, and draw from it before the next."""

    def __init__(self, states: list[tuple[int, int]]) -> None:
        self.states = states
        self.rng = np.random.Generator(np.random.PCG64(0))

    def __len__(self) -> int:
        return len(self.states)

    def __getitem__(self, j: int) -> np.random.Generator:
        state, inc = self.states[j]
        self.rng.bit_generator.state = {"bit_generator": "PCG64", "state": {"state": state, "inc": inc},
                                        "has_uint32": 0, "uinteger": 0}
        return self.rng
