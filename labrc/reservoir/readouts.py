"""The two readout trainings of the paper (Methods "Simulation of neural networks") and their aggregation over
seeds. Readout: inputs + a bias → 4 sigmoid outputs, 5 epochs, batch size 1, prediction = the most active
output.

(a) float64 (:func:`train_float`): MSE loss, delta rule ΔW = η (t − y) y (1 − y) x, adaptive learning rate
    ("bold driver": η × 1.05 after an epoch whose training loss fell, × 0.5 after one where it rose; the
    Methods name an adaptive rate, ref. 64, without the rule or η).
(b) Icc-programmed pairs (:func:`train_icc`): every weight W = β (G⁺ − G⁻), β = 1/(Gmax − Gmin), G in
    [0.1, 3.5] mS, initial G ~ N(0.5 mS, 0.1 mS). The L1 loss is taken *after* the deterministic prediction,
    δ = t − onehot(ŷ) (our reading of the Methods: so only a misclassified pattern changes weights, on its
    true and its predicted output), ΔG = η x δ / β. Potentiation raises G⁺, depression raises G⁻ (paper); a
    target above Gmax lowers the partner device instead (our choice — the Icc scheme can program any level
    after a RESET). Each programmed device gets Icc = (G_target − b)/a and a new G ~ N(a·Icc + b, σ(Icc))
    (:class:`~.icc.IccModel`). Every programming is one RESET + SET of that device, i.e. one non-volatile
    cycle: the count per device is reported against the device's non-volatile endurance (paper, OGB: 5655).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .icc import G_INIT_MEAN_S, G_INIT_SD_S, G_MAX_S, G_MIN_S, IccModel

NV_ENDURANCE_CYCLES = 5655          # paper, Results: OGB non-volatile endurance (one SET + RESET per programming)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -60, 60)))


def _accuracy(w: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.argmax(x @ w, axis=1) == y)) if len(y) else float("nan")


def confusion(w: np.ndarray, x: np.ndarray, y: np.ndarray, n: int = 4) -> np.ndarray:
    """Counts: row = true class, column = predicted class."""
    m = np.zeros((n, n), np.int64)
    np.add.at(m, (y, np.argmax(x @ w, axis=1)), 1)
    return m


@dataclass
class SeedResult:
    train_acc: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    confusion: list[list[int]] = field(default_factory=list)
    updates: int = 0              # weight updates (float) / device programming events (icc)
    events: np.ndarray | None = None   # icc: programming events per device, (inputs, outputs, 2) for G⁺/G⁻


def train_float(x: np.ndarray, t: np.ndarray, y: np.ndarray, xs: np.ndarray, ys: np.ndarray,
                 rng: np.random.Generator, epochs: int, eta: float) -> SeedResult:
    w = rng.normal(0.0, 0.1, (x.shape[1], t.shape[1]))
    out, prev = SeedResult(), np.inf
    for _ in range(epochs):
        loss = 0.0
        for k in rng.permutation(len(x)):
            o = _sigmoid(x[k] @ w)
            e = t[k] - o
            loss += 0.5 * float(e @ e)
            w += eta * np.outer(x[k], e * o * (1.0 - o))
            out.updates += 1
        eta *= 1.05 if loss < prev else 0.5
        prev = loss
        out.train_acc.append(_accuracy(w, x, y))
        out.test_acc.append(_accuracy(w, xs, ys))
    out.confusion = confusion(w, xs, ys, t.shape[1]).tolist()
    return out


def train_icc(x: np.ndarray, t: np.ndarray, y: np.ndarray, xs: np.ndarray, ys: np.ndarray,
               rng: np.random.Generator, epochs: int, eta: float, model: IccModel) -> SeedResult:
    shape = (x.shape[1], t.shape[1])
    beta = 1.0 / (G_MAX_S - G_MIN_S)
    gp = np.clip(rng.normal(G_INIT_MEAN_S, G_INIT_SD_S, shape), G_MIN_S, G_MAX_S)
    gm = np.clip(rng.normal(G_INIT_MEAN_S, G_INIT_SD_S, shape), G_MIN_S, G_MAX_S)
    ev = np.zeros(shape + (2,), np.int64)                           # programming events of G⁺ and G⁻
    out = SeedResult()
    for _ in range(epochs):
        for k in rng.permutation(len(x)):
            pred = int(np.argmax(x[k] @ (beta * (gp - gm))))
            if pred == y[k]:
                continue                                           # L1 loss after the prediction is 0
            for j, sign in ((int(y[k]), 1.0), (pred, -1.0)):
                dg = eta * x[k] * sign / beta                      # ΔG = η x δ / β (S), one output column
                up, dn = (gp, gm) if sign > 0 else (gm, gp)        # potentiate G⁺ / depress by raising G⁻
                iu, idn = (0, 1) if sign > 0 else (1, 0)
                act = np.abs(dg) > 0
                tgt = up[:, j] + np.abs(dg)
                over = act & (tgt > G_MAX_S)                       # full: lower the partner instead
                inc = act & ~over
                up[inc, j] = model.program(np.minimum(tgt[inc], G_MAX_S), rng)
                dn[over, j] = model.program(np.maximum(dn[over, j] - np.abs(dg[over]), G_MIN_S), rng)
                ev[inc, j, iu] += 1
                ev[over, j, idn] += 1
                out.updates += int(act.sum())
        w = beta * (gp - gm)
        out.train_acc.append(_accuracy(w, x, y))
        out.test_acc.append(_accuracy(w, xs, ys))
    out.confusion = confusion(beta * (gp - gm), xs, ys, t.shape[1]).tolist()
    out.events = ev
    return out


@dataclass
class Readout:
    """One readout on one input, over seeds: per-epoch curves (mean), per-seed values, pooled confusion."""

    inputs: str
    training: str
    n_inputs: int
    train_acc: list[float]                 # mean over seeds, per epoch
    test_acc: list[float]
    train_acc_per_seed: list[list[float]]
    test_acc_per_seed: list[list[float]]
    test_acc_mean: float
    test_acc_sd: float
    confusion: list[list[int]]             # test counts summed over seeds (rows true, columns predicted)
    confusion_normalised: list[list[float]]
    per_class_test_acc: dict[str, float]
    updates: int
    programming: dict | None = None        # icc only: events per device against the NV endurance


def make_readout(inputs: str, training: str, runs: list[SeedResult], classes: Sequence[str], n_inputs: int,
             endurance: int) -> Readout:
    tr = np.array([r.train_acc for r in runs])
    te = np.array([r.test_acc for r in runs])
    cm = np.sum([np.asarray(r.confusion) for r in runs], axis=0)
    rows = cm.sum(axis=1, keepdims=True)
    cmn = np.divide(cm, rows, out=np.zeros(cm.shape), where=rows > 0)
    prog = None
    if runs[0].events is not None:
        per_dev = np.concatenate([r.events.ravel() for r in runs])
        worst = int(per_dev.max())
        prog = {"devices": int(runs[0].events.size), "events_per_device_max": worst,
                "events_per_device_median": float(np.median(per_dev)),
                "events_per_device_mean": float(per_dev.mean()), "events_total_mean": float(per_dev.sum() / len(runs)),
                "nv_endurance_cycles": endurance, "nv_endurance_source": "paper, Results: OGB non-volatile endurance",
                "worst_device_fraction_of_endurance": worst / endurance,
                "within_endurance": bool(worst <= endurance)}
    return Readout(inputs, training, n_inputs, tr.mean(axis=0).tolist(), te.mean(axis=0).tolist(),
                   tr.tolist(), te.tolist(), float(te[:, -1].mean()),
                   float(te[:, -1].std(ddof=1)) if len(runs) > 1 else 0.0, cm.tolist(), cmn.tolist(),
                   {c: float(cmn[i, i]) for i, c in enumerate(classes)}, int(sum(r.updates for r in runs)), prog)
