"""Downstream readout of the virtual reservoir (paper Fig. 4c–e, Methods "Simulation of neural networks"),
measured against baselines that carry no device.

Reads spike-train run files only through :class:`labrc.store.RunReader` (layout ``labrc.run/1``, stream
``patterns``: ``node_g`` (N, 30) S, ``cls``, ``device``, ``onsets``, ``node_t``; the run's parameters).
Readout (DESIGN §8): inputs + a bias → 4 sigmoid outputs, 5 epochs, batch size 1, prediction = the most
active output. Two trainings on the device features (the 30 node conductances, min–max normalised with
the training set's range — one range for all nodes, so relative node levels survive):

(a) ``float_``: float64 weights, MSE loss, delta rule ΔW = η (t − y) y (1 − y) x, adaptive learning rate
    ("bold driver": η × 1.05 after an epoch whose training loss fell, × 0.5 after one where it rose).
(b) ``icc``: every weight a differential pair W = β (G⁺ − G⁻), β = 1/(Gmax − Gmin), G in [0.1, 3.5] mS,
    initial G ~ N(0.5 mS, 0.1 mS). The L1 loss is taken *after* the deterministic prediction, δ = t − onehot(ŷ)
    (our reading of the Methods: so only a misclassified pattern changes weights, on its true and its predicted
    output), ΔG = η x δ / β. Potentiation raises G⁺, depression raises G⁻ (paper); a target above Gmax lowers
    the partner device instead (our choice — the Icc scheme can program any level after a RESET). Each
    programmed device gets Icc = (G_target − b)/a and a new G ~ N(a·Icc + b, σ(Icc)), σ linear in Icc.
    The line and σ(Icc) come from an ``icc-set`` run (``protocols.icc_set.icc_fit``) when given, else
    :data:`DEFAULT_ICC_MODEL` (the paper's text gives no numbers; G = Icc / 0.29 V, 7 % spread). Every
    programming is one RESET + SET of that device, i.e. one non-volatile cycle: the count per device is
    reported against the device's non-volatile endurance (paper, OGB: 5655 cycles).

Baselines (DESIGN §8: an accuracy means nothing alone), the same float64 readout on inputs without a device,
rebuilt from each stored pattern's spike onsets on the run's own time grid (``protocols.patterns.spike_mask``):

* ``memoryless`` — the input at the 30 read instants: the fraction of each read slot a spike would cover.
  A readout of these sees what the device sees *at* the reads, with no memory of what came between.
* ``stimulus`` — the full stimulus at node resolution: spike occupancy of each 35 ms window (30 inputs, the
  readout size of the paper). ``stimulus_waveform`` — the whole input waveform at the pattern's time step
  (630 inputs; its learning rate is scaled by 31 / inputs so one update moves the output as much).

Split: class- and device-stratified — within every (run, device, class) group a seeded 10 % is the test set,
so every device and class is tested in proportion. Three seeds by default (each seed: split, initial weights,
presentation order and Icc programming noise); accuracies are reported per seed and as mean ± s.d. A
comparison says the device *adds* (or *loses*) against a baseline when the mean difference of test
accuracy exceeds twice its standard error over the seeds, otherwise that no difference was resolved.

Results go to HDF5 (:func:`write_results`: layout ``labrc.reservoir/1``, the input runs' ids and paths as
attributes) and figures to PNG (:mod:`labrc.reservoir_plots`).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from .store import RunReader, StoreError

CLASSES = ("bursting", "adapting", "tonic", "irregular")
G_MIN_S, G_MAX_S = 0.1e-3, 3.5e-3
G_INIT_MEAN_S, G_INIT_SD_S = 0.5e-3, 0.1e-3
NV_ENDURANCE_CYCLES = 5655          # paper, Results: OGB non-volatile endurance (one SET + RESET per programming)
RESULTS_LAYOUT = "labrc.reservoir/1"
PAPER_TEST_ACC = {"float_": 91.8, "icc": 85.1}
BASELINES = ("memoryless", "stimulus", "stimulus_waveform")


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


# ==================================================================== features
@dataclass
class Campaign:
    """What the readouts see of one or more spike-train runs: device features, labels, groups, baselines."""

    node_g: np.ndarray            # (N, nodes) S
    y: np.ndarray                 # (N,) class index
    group: np.ndarray             # (N,) device group: run index × 10⁶ + device (the split strata with y)
    baselines: dict[str, np.ndarray]
    run_ids: list[str]
    paths: list[str]


def _stimulus_features(s: dict, prm: dict) -> dict[str, np.ndarray]:
    """The three device-free inputs of every pattern, from its onsets on the run's own grid."""
    from protocols.patterns import spike_mask
    dt, period, width = float(prm["dt_s"]), float(prm["read_period_s"]), float(prm["read_width_s"])
    n_nodes = int(prm["n_nodes"])
    per, nr = int(round(period / dt)), int(round(width / dt))
    mask = spike_mask(s["onsets"], n_nodes * per, dt, float(prm["spike_width_s"])).astype(np.float64)
    # the read slot of each node ends at node_t (window time; "defer" moves it, so take the stored times)
    end = np.round(s["node_t"].astype(np.float64) / dt).astype(np.int64)
    idx = np.clip(end[:, :, None] - nr + np.arange(nr), 0, mask.shape[1] - 1)
    memoryless = np.take_along_axis(mask, idx.reshape(len(mask), -1), axis=1).reshape(end.shape + (nr,)).mean(axis=2)
    stimulus = mask.reshape(len(mask), n_nodes, per).mean(axis=2)
    return {"memoryless": memoryless, "stimulus": stimulus, "stimulus_waveform": mask}


def load_campaign(paths: Sequence[Path | str]) -> Campaign:
    """Node conductances, labels, device groups and baseline inputs of spike-train runs (same grid each)."""
    gs, ys, gr, base, ids = [], [], [], {k: [] for k in BASELINES}, []
    for k, p in enumerate(paths):
        with RunReader(p) as r:
            if r.metadata.get("protocol") != "spike-train":
                raise StoreError(f"{p}: not a spike-train run (protocol {r.metadata.get('protocol')!r})")
            s, prm = r.stream("patterns"), r.metadata["parameters"]
            ids.append(str(r.run_id))
        gs.append(s["node_g"]), ys.append(s["cls"].astype(np.int64))
        gr.append(k * 1_000_000 + s["device"].astype(np.int64) + 1)
        for name, x in _stimulus_features(s, prm).items():
            base[name].append(x)
    widths = {x.shape[1] for x in base["stimulus_waveform"]}
    if len(widths) > 1:
        raise StoreError(f"the runs have different pattern grids ({sorted(widths)} points); combine runs of one grid")
    return Campaign(np.concatenate(gs), np.concatenate(ys), np.concatenate(gr),
                    {k: np.concatenate(v) for k, v in base.items()}, ids, [str(p) for p in paths])


def load_features(paths: Sequence[Path | str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(node conductances (N, n_nodes) S, class labels (N,), device groups (N,)) of spike-train runs."""
    c = load_campaign(paths)
    return c.node_g, c.y, c.group


def stratified_split(y: np.ndarray, group: np.ndarray, test_fraction: float,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) indices: a seeded ``test_fraction`` of every (device group, class) stratum is test."""
    tr, te = [], []
    keys = group * 16 + y
    for k in np.unique(keys):
        idx = rng.permutation(np.flatnonzero(keys == k))
        n = int(round(test_fraction * idx.size))
        te.append(idx[:n]), tr.append(idx[n:])
    tr, te = np.concatenate(tr), np.concatenate(te)
    if te.size == 0 or tr.size == 0:      # tiny data: at least one pattern each side
        perm = rng.permutation(len(y))
        te, tr = perm[:1], perm[1:]
    return np.sort(tr), np.sort(te)


# ==================================================================== trainings
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


def _train_float(x: np.ndarray, t: np.ndarray, y: np.ndarray, xs: np.ndarray, ys: np.ndarray,
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


def _train_icc(x: np.ndarray, t: np.ndarray, y: np.ndarray, xs: np.ndarray, ys: np.ndarray,
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


# ==================================================================== one readout over seeds
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


def _readout(inputs: str, training: str, runs: list[SeedResult], classes: Sequence[str], n_inputs: int,
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


def compare(device: Readout, base: Readout, what: str | None = None) -> dict:
    """Whether ``device`` adds to or loses against ``base``: mean per-seed difference of the final test
    accuracy and its standard error; resolved when |difference| > 2 s.e."""
    d = np.array(device.test_acc_per_seed)[:, -1] - np.array(base.test_acc_per_seed)[:, -1]
    n = d.size
    diff = float(d.mean())
    se = float(d.std(ddof=1) / math.sqrt(n)) if n > 1 else float("nan")
    if n > 1 and abs(diff) > 2 * se and diff != 0:
        verdict = "adds" if diff > 0 else "loses"
    else:
        verdict = "no difference resolved"
    who = what or f"the device ({device.inputs}, {device.training})"
    text = (f"{who} {verdict} against {base.inputs} ({base.training}): "
            f"{100 * device.test_acc_mean:.1f} % vs {100 * base.test_acc_mean:.1f} % "
            f"({100 * diff:+.1f} points, s.e. {100 * se:.1f} over {n} seeds)")
    return {"readout": f"{device.inputs} / {device.training}", "baseline": base.inputs,
            "baseline_readout": f"{base.inputs} / {base.training}", "difference": diff, "standard_error": se,
            "seeds": n, "verdict": verdict, "text": text}


@dataclass
class Result:
    n_patterns: int
    n_train: int
    n_test: int
    n_nodes: int
    classes: tuple[str, ...]
    seeds: list[int]
    epochs: int
    split: str
    float_: Readout
    icc: Readout
    memoryless: Readout | None
    stimulus: Readout | None
    stimulus_waveform: Readout | None
    comparisons: list[dict]
    icc_model: dict
    run_ids: list[str]
    runs: list[str]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["device_vs_baselines"] = {c["baseline"]: c["text"] for c in self.comparisons if c["baseline"] in BASELINES}
        return d

    def readouts(self) -> dict[str, Readout]:
        return {k: getattr(self, k) for k in ("float_", "icc", *BASELINES) if getattr(self, k) is not None}


def train_readout(spike_run_paths: Sequence[Path | str] | Path | str, icc_run: Path | str | None = None,
                  seed: int = 0, epochs: int = 5, test_fraction: float = 0.1, eta_float: float = 0.05,
                  eta_icc: float = 0.02, n_seeds: int = 3, baselines: bool = True,
                  nv_endurance_cycles: int = NV_ENDURANCE_CYCLES) -> Result:
    """Train both device readouts and the baselines for seeds ``seed … seed + n_seeds − 1``."""
    paths = [spike_run_paths] if isinstance(spike_run_paths, (str, Path)) else list(spike_run_paths)
    c = load_campaign(paths)
    g, y = c.node_g, c.y
    if len(y) < 2:
        raise ValueError(f"{len(y)} patterns: need at least 2 for a train/test split")
    if n_seeds < 1:
        raise ValueError(f"n_seeds={n_seeds} must be at least 1")
    model = icc_model_from_run(icc_run) if icc_run is not None else DEFAULT_ICC_MODEL
    n_cls = len(CLASSES)
    t = np.eye(n_cls)[y]
    one = np.ones((len(y), 1))
    seeds = list(range(seed, seed + n_seeds))
    runs: dict[str, list[SeedResult]] = {k: [] for k in ("float_", "icc", *BASELINES)}
    for s in seeds:
        tr, te = stratified_split(y, c.group, test_fraction, np.random.default_rng([s, 0]))
        lo, hi = float(g[tr].min()), float(g[tr].max())
        x = np.concatenate([np.clip((g - lo) / (hi - lo if hi > lo else 1.0), 0.0, 1.0), one], axis=1)
        runs["float_"].append(_train_float(x[tr], t[tr], y[tr], x[te], y[te], np.random.default_rng([s, 1]),
                                           epochs, eta_float))
        runs["icc"].append(_train_icc(x[tr], t[tr], y[tr], x[te], y[te], np.random.default_rng([s, 2]),
                                      epochs, eta_icc, model))
        if baselines:
            for j, name in enumerate(BASELINES):
                xb = np.concatenate([c.baselines[name], one], axis=1)
                eta = eta_float * (g.shape[1] + 1) / xb.shape[1]
                runs[name].append(_train_float(xb[tr], t[tr], y[tr], xb[te], y[te],
                                               np.random.default_rng([s, 3 + j]), epochs, eta))
    n_in = {"float_": g.shape[1] + 1, "icc": g.shape[1] + 1,
            **{k: c.baselines[k].shape[1] + 1 for k in BASELINES}}
    what = {"float_": ("device nodes", "float64 delta rule"), "icc": ("device nodes", "Icc-programmed pairs"),
            "memoryless": ("memoryless", "float64 delta rule"), "stimulus": ("stimulus", "float64 delta rule"),
            "stimulus_waveform": ("stimulus_waveform", "float64 delta rule")}
    ro = {k: _readout(*what[k], v, CLASSES, n_in[k], nv_endurance_cycles) for k, v in runs.items() if v}
    # the device against each baseline with the same (float64) training; then what Icc programming costs
    comps = [compare(ro["float_"], ro[b]) for b in BASELINES if b in ro]
    comps.append(compare(ro["icc"], ro["float_"], "Icc-programmed weights on the same device nodes"))
    return Result(len(y), len(tr), len(te), g.shape[1], CLASSES, seeds, epochs,
                  f"class- and device-stratified {1 - test_fraction:.0%}/{test_fraction:.0%}",
                  ro["float_"], ro["icc"], ro.get("memoryless"), ro.get("stimulus"), ro.get("stimulus_waveform"),
                  comps, asdict(model), c.run_ids, c.paths)


# ==================================================================== output
def write_results(r: Result, path: Path | str) -> Path:
    """The result as HDF5 (layout ``labrc.reservoir/1``): per readout (seed, epoch) accuracies, per-seed test
    confusion, Icc programming events per device; the input runs' ids and paths as attributes."""
    import h5py
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with h5py.File(tmp, "w") as f:
        f.attrs["layout"] = RESULTS_LAYOUT
        f.attrs["input_run_ids"] = json.dumps(r.run_ids)
        f.attrs["input_runs"] = json.dumps(r.runs)
        f.attrs["classes"] = json.dumps(list(r.classes))
        f.attrs["seeds"] = np.asarray(r.seeds, np.int64)
        f.attrs["split"] = r.split
        f.attrs["icc_model"] = json.dumps(r.icc_model)
        f.attrs["comparisons"] = json.dumps(r.comparisons)
        f.attrs["result_json"] = json.dumps(r.to_dict())
        for name, ro in r.readouts().items():
            g = f.create_group(name)
            g.attrs.update(inputs=ro.inputs, training=ro.training, n_inputs=ro.n_inputs,
                           test_acc_mean=ro.test_acc_mean, test_acc_sd=ro.test_acc_sd)
            for k in ("train_acc_per_seed", "test_acc_per_seed"):
                d = g.create_dataset(k.replace("_per_seed", ""), data=np.asarray(getattr(ro, k), np.float64))
                d.attrs["dims"], d.attrs["units"] = "seed, epoch", "1"
            g.create_dataset("confusion", data=np.asarray(ro.confusion, np.int64)).attrs["dims"] = "true, predicted"
            if ro.programming is not None:
                g.attrs["programming"] = json.dumps(ro.programming)
    tmp.replace(path)
    return path


def read_results(path: Path | str) -> dict:
    """A results file written by :func:`write_results`, as the dict of :meth:`Result.to_dict`."""
    import h5py
    with h5py.File(path, "r") as f:
        if f.attrs.get("layout") != RESULTS_LAYOUT:
            raise StoreError(f"{path}: not a reservoir results file (layout {f.attrs.get('layout')!r})")
        return json.loads(f.attrs["result_json"])


def format_result(r: Result) -> str:
    lines = [f"{r.n_patterns} patterns ({r.n_train} train / {r.n_test} test, {r.split}), seeds {r.seeds}, "
             f"{r.epochs} epochs; inputs + bias → 4 sigmoid outputs",
             f"Icc model: G = {r.icc_model['a_s_per_a']:.4g} S/A·Icc + {r.icc_model['b_s']:.3g} S, "
             f"σ = {r.icc_model['c_s_per_a']:.3g} S/A·Icc + {r.icc_model['d_s']:.3g} S  ({r.icc_model['source']})",
             "", f"{'readout':<44} {'inputs':>6} {'test % (mean ± sd)':>19} {'train %':>8}  worst class"]
    for key, ro in r.readouts().items():
        paper = f" (paper {PAPER_TEST_ACC[key]} %)" if key in PAPER_TEST_ACC else ""
        worst = min(ro.per_class_test_acc, key=ro.per_class_test_acc.get)
        lines.append(f"{ro.inputs + ' / ' + ro.training:<44} {ro.n_inputs:>6} "
                     f"{100 * ro.test_acc_mean:>11.1f} ± {100 * ro.test_acc_sd:<4.1f}  {100 * ro.train_acc[-1]:>7.1f}  "
                     f"{worst} {100 * ro.per_class_test_acc[worst]:.1f} %{paper}")
    for key in ("float_", "icc"):
        ro = getattr(r, key)
        lines.append("")
        lines.append(f"{ro.training}: per epoch (mean of seeds) "
                     + "  ".join(f"{e}: {100 * a:.1f}/{100 * b:.1f}" for e, (a, b) in
                                 enumerate(zip(ro.train_acc, ro.test_acc), 1)) + "  (train/test %)")
        lines.append("  confusion, rows true, columns predicted, row-normalised % (test, all seeds): "
                     + " ".join(f"{c[:5]:>6}" for c in r.classes))
        for c, row in zip(r.classes, ro.confusion_normalised):
            lines.append(f"    {c:>10} " + " ".join(f"{100 * v:6.1f}" for v in row))
        if ro.programming:
            p = ro.programming
            lines.append(f"  programming: {p['devices']} devices, events per device median {p['events_per_device_median']:.0f}, "
                         f"max {p['events_per_device_max']} = {100 * p['worst_device_fraction_of_endurance']:.1f} % of the "
                         f"{p['nv_endurance_cycles']}-cycle non-volatile endurance "
                         f"({'within' if p['within_endurance'] else 'BEYOND'} it)")
    lines.append("")
    lines += [c["text"] for c in r.comparisons]
    return "\n".join(lines)
