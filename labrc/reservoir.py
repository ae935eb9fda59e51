"""Downstream readout of the virtual reservoir (paper Fig. 4c/d, Methods "Simulation of neural networks").

Reads spike-train run files only through :class:`labrc.store.RunReader` (layout ``labrc.run/1``,
stream ``patterns``: ``node_g`` (N, 30) S and ``cls``). Features = the 30 node conductances per pattern,
min–max normalised with the training set's range (one range for all nodes, so relative node levels
survive), + a bias input. Readout: 31 inputs → 4 sigmoid outputs, seeded 90/10 split, 5 epochs, batch
size 1, prediction = the most active output. Two trainings on the same split:

(a) ``float``: float64 weights, MSE loss, delta rule ΔW = η (t − y) y (1 − y) x, adaptive learning rate
    ("bold driver": η × 1.05 after an epoch whose training loss fell, × 0.5 after one where it rose).
(b) ``icc``: every weight a differential pair W = β (G⁺ − G⁻), β = 1/(Gmax − Gmin), G in [0.1, 3.5] mS,
    initial G ~ N(0.5 mS, 0.1 mS). The L1 loss is taken *after* the deterministic prediction, δ = t − onehot(ŷ)
    (our reading of the Methods: so only a misclassified pattern changes weights, on its true and its predicted
    output), ΔG = η x δ / β. Potentiation raises G⁺, depression raises G⁻ (paper); a target above Gmax lowers
    the partner device instead (our choice — the Icc scheme can program any level after a RESET). Each
    programmed device gets Icc = (G_target − b)/a and a new G ~ N(a·Icc + b, σ(Icc)), σ linear in Icc.
    The line and σ(Icc) come from an ``icc-set`` run (``protocols.icc_set.icc_fit``) when given, else
    :data:`DEFAULT_ICC_MODEL` (the paper's text gives no numbers; these are the nominal drift-mode LRS of
    the device model: G = Icc / 0.29 V, 7 % cycle-to-cycle spread).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from .store import RunReader, StoreError

CLASSES = ("bursting", "adapting", "tonic", "irregular")
G_MIN_S, G_MAX_S = 0.1e-3, 3.5e-3
G_INIT_MEAN_S, G_INIT_SD_S = 0.5e-3, 0.1e-3


@dataclass(frozen=True)
class IccModel:
    """Icc → G programming statistics: mean G = a·Icc + b, σ(G) = c·Icc + d (S, A)."""

    a_s_per_a: float
    b_s: float
    c_s_per_a: float
    d_s: float
    source: str = "default"

    def icc_for(self, g_s: np.ndarray) -> np.ndarray:
        return (g_s - self.b_s) / self.a_s_per_a

    def program(self, g_target_s: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Conductances after single-shot SETs aimed at ``g_target_s`` (no write-verify), clipped to range."""
        icc = self.icc_for(g_target_s)
        sd = np.maximum(self.c_s_per_a * icc + self.d_s, 0.0)
        return np.clip(rng.normal(self.a_s_per_a * icc + self.b_s, sd), G_MIN_S, G_MAX_S)


DEFAULT_ICC_MODEL = IccModel(a_s_per_a=1 / 0.29, b_s=0.0, c_s_per_a=0.07 / 0.29, d_s=0.0)


def icc_model_from_run(path: Path | str) -> IccModel:
    """Fit of an ``icc-set`` run: the G line from ``icc_fit`` and σ(Icc) as a line through its per-level σ."""
    from protocols.icc_set import icc_fit
    with RunReader(path) as r:
        if r.metadata.get("protocol") != "icc-set":
            raise StoreError(f"{path}: not an icc-set run (protocol {r.metadata.get('protocol')!r})")
        f = icc_fit(r.stream("levels"))
    if "slope_s_per_a" not in f:
        raise StoreError(f"{path}: too few programmed levels for an Icc fit")
    icc, sd = np.asarray(f["icc_levels_a"]), np.asarray(f["g_std_s"], float)
    ok = np.isfinite(sd)
    c, d = np.polyfit(icc[ok], sd[ok], 1) if ok.sum() >= 2 else (0.0, float(np.nanmean(sd)) if ok.any() else 0.0)
    return IccModel(f["slope_s_per_a"], f["intercept_s"], float(c), float(d), source=str(path))


def load_features(paths: Sequence[Path | str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(node conductances (N, n_nodes) S, class labels (N,), devices (N,)) of one or more spike-train runs."""
    gs, ys, ds = [], [], []
    for p in paths:
        with RunReader(p) as r:
            if r.metadata.get("protocol") != "spike-train":
                raise StoreError(f"{p}: not a spike-train run (protocol {r.metadata.get('protocol')!r})")
            s = r.stream("patterns")
        gs.append(s["node_g"]), ys.append(s["cls"].astype(int)), ds.append(s["device"])
    return np.concatenate(gs), np.concatenate(ys), np.concatenate(ds)


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
class ModeResult:
    train_acc: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    confusion: list[list[int]] = field(default_factory=list)
    updates: int = 0              # weight updates (a) / device programming events (b)


@dataclass
class Result:
    n_patterns: int
    n_train: int
    n_test: int
    n_nodes: int
    classes: tuple[str, ...]
    float_: ModeResult
    icc: ModeResult
    icc_model: dict

    def to_dict(self) -> dict:
        return asdict(self)


def _train_float(x: np.ndarray, t: np.ndarray, y: np.ndarray, xs: np.ndarray, ys: np.ndarray,
                 rng: np.random.Generator, epochs: int, eta: float) -> ModeResult:
    w = rng.normal(0.0, 0.1, (x.shape[1], t.shape[1]))
    out, prev = ModeResult(), np.inf
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


def _train_icc(x: np.ndarray, t: np.ndarray, y: np.ndarray, xs: np.ndarray, ys: np.ndarray,
               rng: np.random.Generator, epochs: int, eta: float, model: IccModel) -> ModeResult:
    shape = (x.shape[1], t.shape[1])
    beta = 1.0 / (G_MAX_S - G_MIN_S)
    gp = np.clip(rng.normal(G_INIT_MEAN_S, G_INIT_SD_S, shape), G_MIN_S, G_MAX_S)
    gm = np.clip(rng.normal(G_INIT_MEAN_S, G_INIT_SD_S, shape), G_MIN_S, G_MAX_S)
    out = ModeResult()
    for _ in range(epochs):
        for k in rng.permutation(len(x)):
            pred = int(np.argmax(x[k] @ (beta * (gp - gm))))
            if pred == y[k]:
                continue                                           # L1 loss after the prediction is 0
            for j, sign in ((int(y[k]), 1.0), (pred, -1.0)):
                dg = eta * x[k] * sign / beta                      # ΔG = η x δ / β (S), one output column
                up, dn = (gp, gm) if sign > 0 else (gm, gp)        # potentiate G⁺ / depress by raising G⁻
                act = np.abs(dg) > 0
                tgt = up[:, j] + np.abs(dg)
                over = act & (tgt > G_MAX_S)                       # full: lower the partner instead
                inc = act & ~over
                up[inc, j] = model.program(np.minimum(tgt[inc], G_MAX_S), rng)
                dn[over, j] = model.program(np.maximum(dn[over, j] - np.abs(dg[over]), G_MIN_S), rng)
                out.updates += int(act.sum())
        w = beta * (gp - gm)
        out.train_acc.append(_accuracy(w, x, y))
        out.test_acc.append(_accuracy(w, xs, ys))
    out.confusion = confusion(beta * (gp - gm), xs, ys, t.shape[1]).tolist()
    return out


def train_readout(spike_run_paths: Sequence[Path | str] | Path | str, icc_run: Path | str | None = None,
                  seed: int = 0, epochs: int = 5, test_fraction: float = 0.1, eta_float: float = 0.05,
                  eta_icc: float = 0.02) -> Result:
    """Train both readouts on the acquired node values; per-epoch train/test accuracy, 4×4 test confusion."""
    paths = [spike_run_paths] if isinstance(spike_run_paths, (str, Path)) else list(spike_run_paths)
    g, y, _ = load_features(paths)
    if len(y) < 2:
        raise ValueError(f"{len(y)} patterns: need at least 2 for a train/test split")
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(y))
    n_test = max(1, int(round(test_fraction * len(y))))
    te, tr = perm[:n_test], perm[n_test:]
    lo, hi = float(g[tr].min()), float(g[tr].max())
    x = np.clip((g - lo) / (hi - lo if hi > lo else 1.0), 0.0, 1.0)
    x = np.concatenate([x, np.ones((len(y), 1))], axis=1)          # bias input
    n_cls = len(CLASSES)
    t = np.eye(n_cls)[y]
    model = icc_model_from_run(icc_run) if icc_run is not None else DEFAULT_ICC_MODEL
    a = _train_float(x[tr], t[tr], y[tr], x[te], y[te], np.random.default_rng([seed, 1]), epochs, eta_float)
    b = _train_icc(x[tr], t[tr], y[tr], x[te], y[te], np.random.default_rng([seed, 2]), epochs, eta_icc, model)
    return Result(len(y), len(tr), len(te), g.shape[1], CLASSES, a, b, asdict(model))


def format_result(r: Result) -> str:
    lines = [f"{r.n_patterns} patterns ({r.n_train} train / {r.n_test} test), {r.n_nodes} nodes + bias → 4 sigmoid outputs",
             f"Icc model: G = {r.icc_model['a_s_per_a']:.4g} S/A·Icc + {r.icc_model['b_s']:.3g} S, "
             f"σ = {r.icc_model['c_s_per_a']:.3g} S/A·Icc + {r.icc_model['d_s']:.3g} S  ({r.icc_model['source']})"]
    for name, m, paper in (("(a) float64 delta rule", r.float_, 91.8), ("(b) Icc-programmed pairs", r.icc, 85.1)):
        lines.append(f"{name}: test accuracy {100 * m.test_acc[-1]:.1f} % (paper {paper} %), updates {m.updates}")
        for e, (a, b) in enumerate(zip(m.train_acc, m.test_acc), 1):
            lines.append(f"  epoch {e}: train {100 * a:5.1f} %  test {100 * b:5.1f} %")
        cm = np.asarray(m.confusion, float)
        lines.append("  confusion (rows true, cols predicted, row-normalised %): " + " ".join(f"{c[:5]:>6}" for c in r.classes))
        for c, row in zip(r.classes, cm):
            lines.append(f"    {c:>10} " + " ".join(f"{100 * v / max(row.sum(), 1):6.1f}" for v in row))
    return "\n".join(lines)


def _click_command():
    import click

    @click.command("reservoir")
    @click.argument("runs", nargs=-1, required=True, type=click.Path(exists=True))
    @click.option("--icc-run", type=click.Path(exists=True), default=None,
                  help="icc-set run whose Icc → G fit programs the readout (default: built-in line).")
    @click.option("--seed", type=int, default=0, show_default=True, help="split / initialisation seed")
    @click.option("--epochs", type=click.IntRange(1, 1000), default=5, show_default=True)
    @click.option("--json", "as_json", is_flag=True, help="print the result as JSON")
    def reservoir_command(runs, icc_run, seed, epochs, as_json):
        """Train the 30-node reservoir readout on spike-train RUNS (float64 and Icc-programmed) and report accuracy."""
        try:
            r = train_readout(runs, icc_run, seed=seed, epochs=epochs)
        except (StoreError, ValueError) as exc:
            click.echo(f"labrc: error: {exc}", err=True)
            raise SystemExit(2) from None
        click.echo(json.dumps(r.to_dict(), indent=1) if as_json else format_result(r))
    return reservoir_command


reservoir_command = _click_command()

if __name__ == "__main__":
    reservoir_command()
