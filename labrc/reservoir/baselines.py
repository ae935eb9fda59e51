"""Device-free baselines (DESIGN §8: an accuracy means nothing alone), the device-against-baseline verdict, and
the linear ceiling of an input (what the best linear readout could score on it).

The baseline inputs are rebuilt from each stored pattern's spike onsets on the run's own time grid
(:func:`protocols.patterns.spike_mask`):

* ``memoryless`` — the input at the 30 read instants: the fraction of each read slot a spike would cover.
  A readout of these sees what the device sees *at* the reads, with no memory of what came between.
* ``stimulus`` — the full stimulus at node resolution: spike occupancy of each 35 ms window (30 inputs, the
  readout size of the paper). ``stimulus_waveform`` — the whole input waveform at the pattern's time step
  (630 inputs; its learning rate is scaled by 31 / inputs so one update moves the output as much).
"""

from __future__ import annotations

import math

import numpy as np

BASELINES = ("memoryless", "stimulus", "stimulus_waveform")


def stimulus_features(s: dict, prm: dict) -> dict[str, np.ndarray]:
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


def linear_ceiling(x: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray, n_cls: int = 4,
                   steps: int = 600, lr: float = 1.0) -> dict[str, float]:
    """Train/test accuracy of a multinomial logistic regression (standardised inputs + bias, full-batch
    gradient descent, ``steps`` steps): a reference for how linearly separable an input is. It is *not* the
    paper's readout (sigmoid outputs, batch size 1, 5 epochs); the gap to it is what that readout's training
    leaves on the table, the rest is the input's own overlap between classes."""
    mu, sd = x[train].mean(axis=0), x[train].std(axis=0)
    z = np.concatenate([(x - mu) / np.where(sd > 0, sd, 1.0), np.ones((len(x), 1))], axis=1)
    zt, t = z[train], np.eye(n_cls)[y[train]]
    w = np.zeros((z.shape[1], n_cls))
    for _ in range(steps):
        a = zt @ w
        a -= a.max(axis=1, keepdims=True)
        p = np.exp(a)
        p /= p.sum(axis=1, keepdims=True)
        w -= lr * (zt.T @ (p - t)) / len(train)

    def acc(i):
        return float(np.mean(np.argmax(z[i] @ w, axis=1) == y[i])) if len(i) else float("nan")
    return {"train": acc(train), "test": acc(test), "steps": steps}


def compare(device, base, what: str | None = None) -> dict:
    """Whether ``device`` adds to or loses against ``base`` (two :class:`~.readouts.Readout`): mean per-seed
    difference of the final test accuracy and its standard error; resolved when |difference| > 2 s.e."""
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
