"""What the readouts see of spike-train runs: the device features (node conductances), labels, device groups,
the device-free baseline inputs, the class- and device-stratified split, and diagnostics of the features.

Runs are read only through :class:`labrc.store.RunReader` (layout ``labrc.run/1``, stream ``patterns``:
``node_g`` (N, 30) S, ``node_comp``, ``cls``, ``device``, ``onsets``, ``node_t``; the run's parameters)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..store import RunReader, StoreError
from .baselines import BASELINES, stimulus_features

CLASSES = ("bursting", "adapting", "tonic", "irregular")
G_RELAXED_S = 50e-9      # a node below 50 nS reads a relaxed bridge (the model's OFF threshold, sim_backend.model)


@dataclass
class Campaign:
    """What the readouts see of one or more spike-train runs: device features, labels, groups, baselines."""

    node_g: np.ndarray            # (N, nodes) S
    y: np.ndarray                 # (N,) class index
    group: np.ndarray             # (N,) device group: run index × 10⁶ + device (the split strata with y)
    baselines: dict[str, np.ndarray]
    run_ids: list[str]
    paths: list[str]
    node_comp: np.ndarray | None = None   # (N, nodes) bool: the read was current-limited


def load_campaign(paths: Sequence[Path | str]) -> Campaign:
    """Node conductances, labels, device groups and baseline inputs of spike-train runs (same grid each)."""
    gs, ys, gr, comp, base, ids = [], [], [], [], {k: [] for k in BASELINES}, []
    for k, p in enumerate(paths):
        with RunReader(p) as r:
            if r.metadata.get("protocol") != "spike-train":
                raise StoreError(f"{p}: not a spike-train run (protocol {r.metadata.get('protocol')!r})")
            s, prm = r.stream("patterns"), r.metadata["parameters"]
            ids.append(str(r.run_id))
        gs.append(s["node_g"]), ys.append(s["cls"].astype(np.int64)), comp.append(s["node_comp"].astype(bool))
        gr.append(k * 1_000_000 + s["device"].astype(np.int64) + 1)
        for name, x in stimulus_features(s, prm).items():
            base[name].append(x)
    widths = {x.shape[1] for x in base["stimulus_waveform"]}
    if len(widths) > 1:
        raise StoreError(f"the runs have different pattern grids ({sorted(widths)} points); combine runs of one grid")
    return Campaign(np.concatenate(gs), np.concatenate(ys), np.concatenate(gr),
                    {k: np.concatenate(v) for k, v in base.items()}, ids, [str(p) for p in paths],
                    np.concatenate(comp))


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


def normalise(g: np.ndarray, train: np.ndarray) -> np.ndarray:
    """Node inputs in [0, 1]: min–max with the training set's range, one range for all nodes (relative node
    levels survive; the Methods give no normalisation — see the package docstring, "Missing from the Methods")."""
    lo, hi = float(g[train].min()), float(g[train].max())
    return np.clip((g - lo) / (hi - lo if hi > lo else 1.0), 0.0, 1.0)


def feature_diagnostics(c: Campaign, x_train: np.ndarray) -> dict:
    """How clamped, binary or saturated the device features are (issue 12's diagnosis, kept with every result):
    the share of reads in compliance, of reads on a relaxed bridge (< 50 nS), node-G quantiles, and the
    median normalised training input (how much of the [0, 1] range the readout's inputs use)."""
    g = c.node_g
    q = np.quantile(g, [0.05, 0.25, 0.5, 0.75, 0.95, 1.0])
    return {"reads_in_compliance": float(c.node_comp.mean()) if c.node_comp is not None else float("nan"),
            "reads_relaxed_below_50nS": float(np.mean(g < G_RELAXED_S)),
            "node_g_quantiles_s": dict(zip(("p5", "p25", "p50", "p75", "p95", "max"), map(float, q))),
            "median_normalised_input": float(np.median(x_train))}
