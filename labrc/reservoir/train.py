"""Both device readouts and the baselines over seeds, on one or more spike-train runs: :func:`train_readout`
and its :class:`Result` (the package docstring has the design, the decisions and what the Methods leave out)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .baselines import BASELINES, compare, linear_ceiling
from .features import (
    CLASSES,
    feature_diagnostics,
    load_campaign,
    normalise,
    stratified_split,
)
from .icc import DEFAULT_ICC_MODEL, icc_model_from_run
from .readouts import (
    NV_ENDURANCE_CYCLES,
    Readout,
    SeedResult,
    make_readout,
    train_float,
    train_icc,
)

ETA_FLOAT, ETA_ICC = 0.05, 0.02       # the Methods give no learning rates ("suitably tuned hyperparameters")
CEILING_INPUTS = ("device", "memoryless", "stimulus")


def decisions(eta_float: float, eta_icc: float) -> dict[str, str]:
    """What the Methods ("Simulation of neural networks") leave open and what this module chose; kept in every
    results file (attribute ``decisions``) so a reader knows which choices are ours and not the paper's."""
    return {
        "node_normalisation": "min-max of the training set, one range for all 30 nodes (Methods: none given; "
                              "x_i is 'the reservoir node output')",
        "eta_float": f"{eta_float} with a bold-driver adaptive rate x1.05 / x0.5 per epoch (Methods: 'adaptive "
                     "learning rate' (ref. 64), no value or rule)",
        "eta_icc": f"{eta_icc} (Methods: eta named, no value)",
        "float_init": "W ~ N(0, 0.1) (Methods: none given)",
        "icc_loss": "L1 after the deterministic prediction: only misclassified patterns program devices",
        "icc_g_line": "from an icc-set run when given, else G = Icc/0.29 V, sigma 7 % (Methods: 'linear functions "
                      "of Icc', lines in Supplementary Fig. 28, no numbers in the text)",
        "split": "class- and device-stratified 90/10 (Methods: 90 % train, 10 % test; stratification not stated)",
    }


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
    diagnostics: dict = field(default_factory=dict)    # features (clamping, saturation) and linear ceilings
    decisions: dict = field(default_factory=dict)      # what the Methods leave open and what was chosen

    def to_dict(self) -> dict:
        d = asdict(self)
        d["device_vs_baselines"] = {c["baseline"]: c["text"] for c in self.comparisons if c["baseline"] in BASELINES}
        return d

    def readouts(self) -> dict[str, Readout]:
        return {k: getattr(self, k) for k in ("float_", "icc", *BASELINES) if getattr(self, k) is not None}


def train_readout(spike_run_paths: Sequence[Path | str] | Path | str, icc_run: Path | str | None = None,
                  seed: int = 0, epochs: int = 5, test_fraction: float = 0.1, eta_float: float = ETA_FLOAT,
                  eta_icc: float = ETA_ICC, n_seeds: int = 3, baselines: bool = True,
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
    diag: dict = {}
    for s in seeds:
        tr, te = stratified_split(y, c.group, test_fraction, np.random.default_rng([s, 0]))
        x = np.concatenate([normalise(g, tr), one], axis=1)
        if s == seed:      # diagnostics on the first seed's split (issue 12)
            diag = feature_diagnostics(c, x[tr, :-1])
            diag["linear_ceiling_first_seed"] = {
                k: linear_ceiling(g if k == "device" else c.baselines[k], y, tr, te, n_cls)
                for k in CEILING_INPUTS if k == "device" or baselines}
        runs["float_"].append(train_float(x[tr], t[tr], y[tr], x[te], y[te], np.random.default_rng([s, 1]),
                                           epochs, eta_float))
        runs["icc"].append(train_icc(x[tr], t[tr], y[tr], x[te], y[te], np.random.default_rng([s, 2]),
                                      epochs, eta_icc, model))
        if baselines:
            for j, name in enumerate(BASELINES):
                xb = np.concatenate([c.baselines[name], one], axis=1)
                eta = eta_float * (g.shape[1] + 1) / xb.shape[1]
                runs[name].append(train_float(xb[tr], t[tr], y[tr], xb[te], y[te],
                                               np.random.default_rng([s, 3 + j]), epochs, eta))
    n_in = {"float_": g.shape[1] + 1, "icc": g.shape[1] + 1,
            **{k: c.baselines[k].shape[1] + 1 for k in BASELINES}}
    what = {"float_": ("device nodes", "float64 delta rule"), "icc": ("device nodes", "Icc-programmed pairs"),
            "memoryless": ("memoryless", "float64 delta rule"), "stimulus": ("stimulus", "float64 delta rule"),
            "stimulus_waveform": ("stimulus_waveform", "float64 delta rule")}
    ro = {k: make_readout(*what[k], v, CLASSES, n_in[k], nv_endurance_cycles) for k, v in runs.items() if v}
    # the device against each baseline with the same (float64) training; then what Icc programming costs
    comps = [compare(ro["float_"], ro[b]) for b in BASELINES if b in ro]
    comps.append(compare(ro["icc"], ro["float_"], "Icc-programmed weights on the same device nodes"))
    return Result(len(y), len(tr), len(te), g.shape[1], CLASSES, seeds, epochs,
                  f"class- and device-stratified {1 - test_fraction:.0%}/{test_fraction:.0%}",
                  ro["float_"], ro["icc"], ro.get("memoryless"), ro.get("stimulus"), ro.get("stimulus_waveform"),
                  comps, asdict(model), c.run_ids, c.paths, diag,
                  decisions(eta_float, eta_icc))
