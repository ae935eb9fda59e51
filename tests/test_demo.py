"""``labrc demo --quick``: the paper's main job end to end on the embedded simulator, one folder of results."""

from __future__ import annotations

import json
import resource
from pathlib import Path

import h5py
from test_cli import labrc

from labrc.store import RunReader

HEADLINES = ("volatile SET voltage", "volatile ON/OFF", "volatile endurance", "volatile relaxation",
             "non-volatile SET voltage", "non-volatile ON/OFF", "non-volatile endurance", "Icc → G linear",
             "LRS range", "retention of a 29 µA", "retention of a 100 µA", "retention of a 300 µA",
             "retention of a 1000 µA", "spike-train patterns", "float64 readout", "Icc-programmed readout",
             "worst class", "memoryless baseline", "stimulus baseline", "Icc programming events")


def _children_cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def test_quick_demo_runs_every_step_and_tables_every_headline_number(tmp_path: Path):
    # CPU seconds of the reaped child, not wall time: a machine loaded by other processes (issue 10 asks the
    # suite to pass loaded) stretches the wall clock, not the work; measured 13.7 s CPU for a 26 s wall here
    c0 = _children_cpu_s()
    p = labrc("demo", "--quick", "--out", "out", "--json", cwd=tmp_path)
    took = _children_cpu_s() - c0
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    out = tmp_path / "out"
    rows = {r["quantity"]: r for r in doc["rows"]}
    for h in HEADLINES:
        assert any(q.startswith(h) for q in rows), h
    assert {r["source"].split(" (")[0] for r in doc["rows"]} == {"measured", "model parameter"}
    assert rows["volatile endurance, median of the die"]["source"] == "model parameter"
    # every step is a completed run file in one folder, each with its figure
    assert set(doc["runs"]) >= {"iv_volatile", "iv_nonvolatile", "end_volatile", "end_nonvolatile", "icc",
                                "ret_29uA", "ret_100uA", "ret_300uA", "ret_1000uA", "campaign"}
    for key, path in doc["runs"].items():
        assert Path(path).is_relative_to(out / "runs")
        with RunReader(path) as r:
            assert r.status in ("completed", "device_failure"), key
        assert (out / "figures" / f"{key}.png").read_bytes()[:4] == b"\x89PNG"
    with RunReader(doc["runs"]["campaign"]) as r:
        campaign_id, n = r.run_id, r.n_rows("patterns")
        assert r.metadata["parameters"]["campaign"] and n == 3 * 8 * 4
    assert rows["spike-train patterns"]["measured"] == str(n)
    with h5py.File(out / "reservoir.h5", "r") as f:                  # the readout names the run it read
        assert json.loads(f.attrs["input_run_ids"]) == [campaign_id]
    for name in ("reservoir_learning_curves.png", "reservoir_confusion.png"):
        assert (out / "figures" / name).stat().st_size > 10_000
    assert "memoryless" in doc["reservoir"] and doc["reservoir"]["device_vs_baselines"]
    table = (out / "demo_table.txt").read_text()
    assert table.startswith("quantity") and "model parameter" in table and "91.8 %" in table
    assert took < 60, f"labrc demo --quick took {took:.0f} s of CPU"   # ~4x the measured work: a quick smoke test
