"""Results of :func:`~.train.train_readout` as HDF5 (layout ``labrc.reservoir/1``) and as text."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..store import StoreError
from .train import Result

RESULTS_LAYOUT = "labrc.reservoir/1"
PAPER_TEST_ACC = {"float_": 91.8, "icc": 85.1}


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
        f.attrs["diagnostics"] = json.dumps(r.diagnostics)
        f.attrs["decisions"] = json.dumps(r.decisions)
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
    if r.diagnostics:
        d = r.diagnostics
        q = d["node_g_quantiles_s"]
        lines.append("")
        lines.append(f"features: reads in compliance {100 * d['reads_in_compliance']:.1f} %, relaxed (< 50 nS) "
                     f"{100 * d['reads_relaxed_below_50nS']:.1f} %, node G median {q['p50']:.3g} S, p95 "
                     f"{q['p95']:.3g} S, max {q['max']:.3g} S; median normalised input {d['median_normalised_input']:.3f}")
        ceil = d.get("linear_ceiling_first_seed", {})
        if ceil:
            lines.append("linear ceiling (logistic regression, first seed's split; not the paper's readout), test %: "
                         + ", ".join(f"{k} {100 * v['test']:.1f}" for k, v in ceil.items()))
    lines.append("")
    lines += [c["text"] for c in r.comparisons]
    return "\n".join(lines)
