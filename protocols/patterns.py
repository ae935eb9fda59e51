"""The four neural firing-pattern classes of the paper's Methods ("Neural spike pattern dataset generation").

John, Demirağ et al., Nat. Commun. 2022, Methods, verbatim rules and how they are read here:

* **Bursting** — "4–5 high-frequency burst groups (4 spikes per burst group) with an interspike interval
  (ISI) of 5 ms. Between bursts, there exist 75–125 ms intervals": the group count is uniform on {4, 5},
  each inter-burst interval uniform on [75, 125] ms (measured like the ISI, see ``isi_mode``).
* **Adapting** — "starts with high-frequency pulses with an ISI of 5 ms and gradually increases 50 % with
  each new spike (with 5 % standard deviation)": ISI₁ = 5 ms, ISIₖ₊₁ = ISIₖ · 1.5 · (1 + 0.05·z), z ~ N(0, 1)
  (the 5 % is read as a relative s.d. of each growth step).
* **Tonic** — "average ISI of 70 ms ... For each ISI, 5 % standard deviation": ISI ~ N(70 ms, 3.5 ms).
* **Irregular** — "divided into 60 ms segments, and a spike is assigned randomly with a 50 % probability to
  the beginning of each segment": segments start at 0, 60, …, < window; Bernoulli(0.5) each.

Ambiguities, made parameters (recorded in every run file through the protocol parameters):

* ``isi_mode="gap"`` (default): an ISI is the time from the *end* of a spike to the next onset, so the
  paper's 20 ms spikes (Fig. 4 caption; 25 ms in Methods) stay distinct at a 5 ms ISI ("4 spikes per burst
  group", Fig. 4b's "accumulative behaviour within each high-frequency group"). ``"onset"`` is the literal,
  neuroscience meaning of ISI (the interval between successive spike *times*, e.g. Dayan & Abbott,
  *Theoretical Neuroscience*, 2001, §1.4), the spike times then rendered as 20 ms pulses: overlapping spikes
  merge into one longer pulse on the instrument (1 V over their union; a Bursting group becomes one 35 ms
  pulse) and Tonic's 70 ms period is exactly two read periods. **This choice is the largest single lever on
  the reservoir's accuracy** (issue 12, measured on the paper-size campaign, 25 × 199 × 4, readout seeds 0–2,
  campaign seed = sim seed 0 / 1 / 2): gap — float64 97.2 / 97.5 / 96.6 %, Icc 94.3 / 93.1 / 93.5 %; onset —
  float64 92.4 / 92.2 / 91.7 %, Icc 85.8 / 85.0 / 87.1 % (paper 91.8 / 85.1). In the onset reading the loss
  comes from the stimulus and the read clock (merged bursts, Tonic phase-locked to the reads; Tonic is the
  float64 readout's worst class, 78–79 %), not from the device: in both readings its features tie the
  memoryless read-instant baseline (within ±0.8 points) and lose to the 35 ms stimulus occupancy (gap
  −0.8…−1.5, onset −6.6…−7.4 points). The Methods do not settle it (Supplementary Fig. 25,
  not available here, would); the default stays ``gap`` and the ``paper-onset`` preset of ``spike-train``
  runs the literal reading.
* ``random_phase`` (spike-train default True) and ``phase_span_s`` (default 35 ms = one read period): every train of
  every class — Irregular's 60 ms grid included — is translated by one offset drawn uniformly in
  [0, phase_span_s). The Methods do not say where a pattern starts relative to the reads. With all trains
  at t = 0 on the read grid, spike edges fall at fixed read slots and a *memoryless* readout of the input
  at the 30 read instants already scores ≈ 99.9 % (measured on 19,900 trains): the class is then given away
  by the generator's t = 0 convention, not by temporal structure. A sampling clock that is not locked to
  the stimulus onset is what a real reservoir sees; one read period is the smallest offset that removes
  the lock (every phase of the 35 ms grid equally likely) and the largest that keeps the Methods'
  statistics inside the ~1050 ms window (5 burst groups end ≤ 975 ms, + 35 ms < 1050 ms; the first ISIs
  of Adapting still open the pattern). Larger spans move whole groups out of the window and change the
  classes; ``random_phase=False`` reproduces the literal t = 0 reading.
* Spikes are counted while their onset is inside the window (~1050 ms); the stimulus clips a spike at the
  window end. All times are seconds.

Generation is vectorized over patterns: each function draws ``n`` trains at once from one seeded
``numpy.random.Generator`` and returns an ``(n, max_spikes)`` onset array padded with NaN.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

CLASSES: tuple[str, ...] = ("bursting", "adapting", "tonic", "irregular")
MAX_SPIKES = 64          # width of the stored onset array (the densest class has ≤ 20 spikes in 1050 ms)

# The Methods' numbers, once (seconds): every default below refers to these, and so do spike_train's
# spike_width_s and phase_span_s
WINDOW_S = 1.05          # pattern window (30 reads at 35 ms)
WIDTH_S = 0.020          # spike width (Fig. 4 caption; 25 ms in Methods)
PHASE_SPAN_S = 0.035     # random phase span: one read period (module doc)
BURST_ISI_S = 5e-3       # Bursting: ISI inside a group
BURST_PER_GROUP = 4      # Bursting: spikes per group
BURST_IBI_LO_S, BURST_IBI_HI_S = 0.075, 0.125   # Bursting: interval between groups, uniform
ADAPT_ISI0_S = 5e-3      # Adapting: first ISI
ADAPT_GROWTH, ADAPT_GROWTH_SD = 1.5, 0.05       # Adapting: ISI growth per spike and its relative s.d.
TONIC_ISI_S, TONIC_ISI_SD = 0.070, 0.05         # Tonic: mean ISI and its relative s.d.
IRREG_SEGMENT_S, IRREG_P = 0.060, 0.5           # Irregular: segment length and spike probability


def _finish(onsets: np.ndarray, window_s: float) -> np.ndarray:
    """NaN beyond the window, left-packed, MAX_SPIKES wide."""
    on = np.where(onsets < window_s - 1e-12, onsets, np.nan)
    order = np.argsort(np.isnan(on), axis=1, kind="stable")
    on = np.take_along_axis(on, order, axis=1)
    out = np.full((on.shape[0], MAX_SPIKES), np.nan)
    k = min(on.shape[1], MAX_SPIKES)
    out[:, :k] = on[:, :k]
    return out


def _size(n: int | None, *cols: int):
    """Draw shape: ``(n, *cols)`` for n trains, ``cols`` (a scalar when empty) for one train (``n`` None)."""
    return (n, *cols) if n is not None else (cols if cols else None)


def _phase(rng: np.random.Generator, n: int | None, random_phase: bool, phase_span_s: float):
    """(n, 1) onset offsets (a float for one train): uniform in [0, phase_span_s) when ``random_phase``, else
    0 (see module doc)."""
    if not random_phase or phase_span_s <= 0:
        return np.zeros((n, 1)) if n is not None else 0.0
    return rng.uniform(0.0, phase_span_s, size=(n, 1) if n is not None else None)


def _step(width_s: float, isi_mode: str) -> float:
    """What an ISI adds to the onset-to-onset distance: the spike width in gap mode, 0 in onset mode."""
    if isi_mode not in ("gap", "onset"):
        raise ValueError(f"isi_mode must be 'gap' or 'onset', got {isi_mode!r}")
    return width_s if isi_mode == "gap" else 0.0


# Each class is two steps: ``_<class>_draws(rng, n, …)`` takes every random number of n trains from one
# generator, by the same calls in the same order as ever (``n`` None: one train, its rows without the leading
# axis — the numbers row 0 of ``n = 1`` gets); ``_<class>_onsets(draws, n, …)`` is the arithmetic, vectorized
# over the rows. :func:`generate_each` (one generator per train: a campaign's seeding) stacks the trains'
# draws and runs one arithmetic step per class: element-wise operations and row-wise cumsum/cumprod give
# each row the same bits whatever the other rows are, so a train is the same however it was asked for.

def _bursting_draws(rng, n, random_phase, phase_span_s, ibi_lo_s=BURST_IBI_LO_S, ibi_hi_s=BURST_IBI_HI_S):
    n_groups = rng.integers(4, 6, size=_size(n))                          # 4 or 5
    ibi = rng.uniform(ibi_lo_s, ibi_hi_s, size=_size(n, 5))
    return n_groups, ibi, _phase(rng, n, random_phase, phase_span_s)


def _bursting_onsets(draws, n, width_s, isi_mode, isi_s=BURST_ISI_S, per_group=BURST_PER_GROUP) -> np.ndarray:
    n_groups, ibi, phase = draws
    phase = np.reshape(phase, (n, 1))
    w = _step(width_s, isi_mode)
    in_group = np.arange(per_group) * (isi_s + w)                          # offsets inside a group
    group_len = in_group[-1] + w                                           # first onset → last spike end (gap)
    starts = np.cumsum(np.concatenate([np.zeros((n, 1)), group_len + ibi[:, :4]], axis=1), axis=1)
    starts = starts + phase
    starts = np.where(np.arange(5) < n_groups[:, None], starts, np.nan)
    return (starts[:, :, None] + in_group).reshape(n, -1)


ADAPTING_SPIKES = 24                                 # 5 ms·1.5^k passes 1 s long before k = 24


def _adapting_draws(rng, n, random_phase, phase_span_s):
    return rng.standard_normal(_size(n, ADAPTING_SPIKES - 1)), _phase(rng, n, random_phase, phase_span_s)


def _adapting_onsets(draws, n, width_s, isi_mode, isi0_s=ADAPT_ISI0_S, growth=ADAPT_GROWTH,
                     growth_sd=ADAPT_GROWTH_SD) -> np.ndarray:
    z, phase = draws
    phase = np.reshape(phase, (n, 1))
    w = _step(width_s, isi_mode)
    factors = growth * (1.0 + growth_sd * z)
    isi = isi0_s * np.cumprod(np.concatenate([np.ones((n, 1)), factors], axis=1), axis=1)
    on = np.concatenate([np.zeros((n, 1)), np.cumsum(isi + w, axis=1)], axis=1)
    return on + phase


def _tonic_draws(rng, n, window_s, width_s, isi_mode, random_phase, phase_span_s, isi_s=TONIC_ISI_S,
                 isi_sd=TONIC_ISI_SD):
    k = int(np.ceil(window_s / (isi_s * (1 - 5 * isi_sd) + _step(width_s, isi_mode)))) + 1
    return rng.standard_normal(_size(n, k)), _phase(rng, n, random_phase, phase_span_s)


def _tonic_onsets(draws, n, width_s, isi_mode, isi_s=TONIC_ISI_S, isi_sd=TONIC_ISI_SD) -> np.ndarray:
    z, phase = draws
    phase = np.reshape(phase, (n, 1))
    w = _step(width_s, isi_mode)
    isi = isi_s * (1.0 + isi_sd * z)
    on = np.concatenate([np.zeros((n, 1)), np.cumsum(isi + w, axis=1)], axis=1)
    return on + phase


def _irregular_grid(window_s: float, segment_s: float) -> np.ndarray:
    return np.arange(0.0, window_s - 1e-12, segment_s)


def _irregular_draws(rng, n, window_s, random_phase, phase_span_s, segment_s=IRREG_SEGMENT_S):
    u = rng.random(_size(n, _irregular_grid(window_s, segment_s).size))
    return u, _phase(rng, n, random_phase, phase_span_s)


def _irregular_onsets(draws, n, window_s, segment_s=IRREG_SEGMENT_S, p=IRREG_P) -> np.ndarray:
    u, phase = draws
    phase = np.reshape(phase, (n, 1))
    return np.where(u < p, _irregular_grid(window_s, segment_s), np.nan) + phase


def bursting(rng: np.random.Generator, n: int, window_s: float = WINDOW_S, width_s: float = WIDTH_S,
             isi_mode: str = "gap", random_phase: bool = False, phase_span_s: float = PHASE_SPAN_S,
             isi_s: float = BURST_ISI_S, ibi_lo_s: float = BURST_IBI_LO_S, ibi_hi_s: float = BURST_IBI_HI_S,
             per_group: int = BURST_PER_GROUP) -> np.ndarray:
    """4–5 groups of ``per_group`` spikes at ISI 5 ms, groups separated by U(75, 125) ms intervals."""
    _step(width_s, isi_mode)
    d = _bursting_draws(rng, n, random_phase, phase_span_s, ibi_lo_s, ibi_hi_s)
    return _finish(_bursting_onsets(d, n, width_s, isi_mode, isi_s, per_group), window_s)


def adapting(rng: np.random.Generator, n: int, window_s: float = WINDOW_S, width_s: float = WIDTH_S,
             isi_mode: str = "gap", random_phase: bool = False, phase_span_s: float = PHASE_SPAN_S,
             isi0_s: float = ADAPT_ISI0_S, growth: float = ADAPT_GROWTH,
             growth_sd: float = ADAPT_GROWTH_SD) -> np.ndarray:
    """ISI starts at 5 ms and grows by 50 % (5 % s.d.) with every new spike."""
    _step(width_s, isi_mode)
    d = _adapting_draws(rng, n, random_phase, phase_span_s)
    return _finish(_adapting_onsets(d, n, width_s, isi_mode, isi0_s, growth, growth_sd), window_s)


def tonic(rng: np.random.Generator, n: int, window_s: float = WINDOW_S, width_s: float = WIDTH_S,
          isi_mode: str = "gap", random_phase: bool = False, phase_span_s: float = PHASE_SPAN_S,
          isi_s: float = TONIC_ISI_S, isi_sd: float = TONIC_ISI_SD) -> np.ndarray:
    """Regular spiking, each ISI ~ N(70 ms, 5 %)."""
    d = _tonic_draws(rng, n, window_s, width_s, isi_mode, random_phase, phase_span_s, isi_s, isi_sd)
    return _finish(_tonic_onsets(d, n, width_s, isi_mode, isi_s, isi_sd), window_s)


def irregular(rng: np.random.Generator, n: int, window_s: float = WINDOW_S, width_s: float = WIDTH_S,
              isi_mode: str = "gap", random_phase: bool = False, phase_span_s: float = PHASE_SPAN_S,
              segment_s: float = IRREG_SEGMENT_S, p: float = IRREG_P) -> np.ndarray:
    """A spike at the start of each 60 ms segment with probability 0.5; the grid moves with the phase."""
    d = _irregular_draws(rng, n, window_s, random_phase, phase_span_s, segment_s)
    return _finish(_irregular_onsets(d, n, window_s, segment_s, p), window_s)


GENERATORS = {"bursting": bursting, "adapting": adapting, "tonic": tonic, "irregular": irregular}


def generate(cls: str, rng: np.random.Generator, n: int, **kw) -> np.ndarray:
    """``n`` trains of class ``cls``: (n, MAX_SPIKES) onset times in s, NaN-padded, ascending."""
    if cls not in GENERATORS:
        raise ValueError(f"unknown pattern class {cls!r}; classes are: {', '.join(CLASSES)}")
    return GENERATORS[cls](rng, n, **kw)


def _class_steps(cls: str, window_s: float, width_s: float, isi_mode: str, random_phase: bool,
                 phase_span_s: float):
    """(draw one train from a generator, onsets of n stacked trains) of a class at the class defaults."""
    steps = {
        "bursting": (lambda g: _bursting_draws(g, None, random_phase, phase_span_s),
                     lambda d, n: _bursting_onsets(d, n, width_s, isi_mode)),
        "adapting": (lambda g: _adapting_draws(g, None, random_phase, phase_span_s),
                     lambda d, n: _adapting_onsets(d, n, width_s, isi_mode)),
        "tonic": (lambda g: _tonic_draws(g, None, window_s, width_s, isi_mode, random_phase, phase_span_s),
                  lambda d, n: _tonic_onsets(d, n, width_s, isi_mode)),
        "irregular": (lambda g: _irregular_draws(g, None, window_s, random_phase, phase_span_s),
                      lambda d, n: _irregular_onsets(d, n, window_s)),
    }
    return steps[cls]


def generate_each(cls_index: np.ndarray, rngs: Sequence[np.random.Generator], window_s: float = WINDOW_S,
                  width_s: float = WIDTH_S, isi_mode: str = "gap", random_phase: bool = False,
                  phase_span_s: float = PHASE_SPAN_S) -> np.ndarray:
    """One train per generator — class ``CLASSES[cls_index[j]]`` from ``rngs[j]`` — as (len(rngs), MAX_SPIKES).

    Row j is bit for bit ``generate(CLASSES[cls_index[j]], rngs[j], 1, …)[0]`` (the same draws in the same
    order); the arithmetic runs once per class over all its rows, the window cut and left-packing once
    over all rows (a shorter class is NaN-padded first, which the packing leaves where it was).
    ``rngs[j]`` is taken once, in the order j = 0, 1, …, and all of train j is drawn before ``rngs[j + 1]``
    is taken, so ``rngs`` may hand out one generator re-seeded for every train."""
    _step(width_s, isi_mode)
    cls_index = np.asarray(cls_index)
    steps = {int(k): _class_steps(CLASSES[int(k)], window_s, width_s, isi_mode, random_phase, phase_span_s)
             for k in np.unique(cls_index)}
    draws: dict[int, list] = {k: [] for k in steps}
    for j, k in enumerate(cls_index.tolist()):
        draws[k].append(steps[k][0](rngs[j]))
    parts = []
    for k, each in draws.items():
        pos = np.flatnonzero(cls_index == k)
        parts.append((pos, steps[k][1](tuple(np.array(col) for col in zip(*each)), pos.size)))
    raw = np.full((cls_index.size, max([x.shape[1] for _, x in parts], default=1)), np.nan)
    for pos, x in parts:
        raw[pos, :x.shape[1]] = x
    return _finish(raw, window_s)


def spike_mask(onsets_s: np.ndarray, n_points: int, dt_s: float, width_s: float) -> np.ndarray:
    """(n, n_points) bool: grid point j (covering [j·dt, (j+1)·dt)) is inside a spike. Onsets are rounded
    to the grid (quantization ≤ dt/2); overlapping spikes merge; spikes are clipped at the window end."""
    on = np.atleast_2d(onsets_s)
    n_w = int(round(width_s / dt_s))
    start = np.where(np.isnan(on), -1, np.round(np.nan_to_num(on, nan=0.0) / dt_s)).astype(np.int64)
    # every spike's n_w points set at once in rows padded by n_w (a spike running past the window end
    # writes into its own row's padding, cut off below); overlapping spikes merge
    row = n_points + n_w
    at = (np.arange(on.shape[0])[:, None] * row + start)[(start >= 0) & (start < n_points)]
    mask = np.zeros((on.shape[0], row), bool)
    mask.reshape(-1)[(at[:, None] + np.arange(n_w)).reshape(-1)] = True
    return np.ascontiguousarray(mask[:, :n_points])
