"""Every figure type drawn from a real small run (driver → pyvisa → simulator → HDF5), then read back:
titles name the sample and device, axes carry scaled units and the voltages, the artists a reader
needs (compliance lines, direction arrows, colour bars, failure marks, heat maps) are there, and the
PNG on disk is the figure that was checked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.image import AxesImage

from labrc.config import load_config
from labrc.plots import plot_reservoir, plot_run
from labrc.plots.common import num, si, si_scale
from labrc.runner import run_protocol
from labrc.store import RunReader
from protocols import get_protocol

IDENTITY = ('run.sample="OGB-A3"', 'run.device="D7"', 'run.operator="a.john"', 'run.die_position="r2c5"',
            'run.note="after 10 min anneal"')


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """One small run per figure type, in one data directory."""
    d = tmp_path_factory.mktemp("plots")

    def run(name: str, preset: str | None = None, sets: tuple[str, ...] = (), **values) -> Path:
        cfg = load_config(None, [f'data.dir="{d}"', *sets])
        proto = get_protocol(name).from_options(preset, {k: str(v) for k, v in values.items()})
        return run_protocol(cfg, proto, progress=False, echo=lambda m: None).path

    return {
        "iv_vol": run("iv-sweep", "volatile", step_v=0.05),
        "iv_nv": run("iv-sweep", "nonvolatile", sets=IDENTITY, step_v=0.1),
        "iv_many": run("iv-sweep", "nonvolatile", step_v=0.25, repeats=8),
        "end_vol": run("volatile-endurance", cycles=400),
        # a device that fails at once: an ON/OFF floor no device reaches, so the run ends after its first
        # burst of 8 cycles with a real detection (independent of how long a simulated DDAB device lives)
        "end_fail": run("volatile-endurance", cycles=1000, on_off_min=1e9, fail_cycles=3),
        "end_nv": run("nonvolatile-endurance", cycles=6),
        "icc": run("icc-set", n_levels=3, repeats=2),
        "icc_once": run("icc-set", n_levels=3, repeats=1),
        "ret": run("retention", n_reads=4),
        "rec": run("reconfigure", n_volatile=2, n_levels=2),
        "spike": run("spike-train"),
        "spike_camp": run("spike-train", campaign=True, cycles=2, devices=2),
        "relax": run("volatile-relaxation", devices=3),
    }


_OPEN: list[RunReader] = []


@pytest.fixture(scope="module", autouse=True)
def _close_readers():
    yield
    for r in _OPEN:
        r.close()


def draw(path: Path, tmp_path: Path) -> tuple[Figure, Path, RunReader]:
    """The figure of a run, and the PNG plot_run writes for it (checked: an image of the figure's size).
    The reader stays open for the test's own checks (closed at the end of the module)."""
    from labrc.plots import figure_for
    r = RunReader(path)
    _OPEN.append(r)
    fig = figure_for(r)
    png = plot_run(r, tmp_path / f"{path.parent.name}.png")
    img = mpimg.imread(png)
    w, h = fig.get_size_inches() * 150
    assert img.shape[:2] == (round(h), round(w)) and img.std() > 0.05     # drawn, not a blank canvas
    return fig, png, r


def title(fig: Figure) -> str:
    return fig._suptitle.get_text()


def lines_labelled(ax) -> list[str]:
    return [ln.get_label() for ln in ax.get_lines()]


def arrows(ax) -> list:
    return [t for t in ax.texts if getattr(t, "arrow_patch", None) is not None]


def colorbar_labels(fig: Figure) -> list[str]:
    return [ax.get_ylabel() for ax in fig.axes if hasattr(ax, "_colorbar")]


# ------------------------------------------------------------------ the library leaves matplotlib alone
def test_importing_and_drawing_never_switch_the_backend_or_load_pyplot(runs):
    code = ("import matplotlib, sys; matplotlib.use('svg'); import labrc.plots as p; "
            "from labrc.store import RunReader; "
            f"f = p.figure_for(RunReader({str(runs['iv_vol'])!r})); "
            "print(matplotlib.get_backend(), 'matplotlib.pyplot' in sys.modules, type(f).__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["svg", "False", "Figure"]


def test_units_are_scaled_and_written_as_people_write_them():
    assert si(1e-6, "A") == "1 µA" and si(10e-3, "A") == "10 mA" and si(1 / 600, "s", 4) == "1.667 ms"
    assert si(0.1, "V") == "0.1 V" and si(-7.0, "V") == "−7 V" and si(1e5, "s") == "10⁵ s"
    assert si_scale([-3.2e-3, 1e-3], "A") == (1e3, "mA") and si_scale([9.9e-7], "A") == (1e9, "nA")
    assert [num(x) for x in (2200.4, 931.2, 1.79e5, 0.94)] == ["2200", "931", "1.79e5", "0.94"]   # no 2.2e+03


# ------------------------------------------------------------------ titles: the device, never the run id
def test_titles_name_sample_device_operator_and_never_the_run_id(runs, tmp_path):
    fig, _, r = draw(runs["iv_nv"], tmp_path)
    t = title(fig)
    assert "OGB-A3 · device D7" in t and "operator a.john" in t and "die r2c5" in t and "after 10 min anneal" in t
    assert r.run_id not in t and r.run_id[:8] not in t
    fig, _, r = draw(runs["iv_vol"], tmp_path)   # no [run] identity given: the simulator's die and device
    assert "simulated OGB-Ag die, seed 0 · device D00" in title(fig) and r.run_id[:8] not in title(fig)


# ------------------------------------------------------------------ I–V
def test_volatile_iv_reads_in_uA_with_the_set_compliance_and_direction_arrows(runs, tmp_path):
    fig, _, _ = draw(runs["iv_vol"], tmp_path)
    ax_lin, ax_log = fig.axes[:2]
    assert ax_lin.get_ylabel() == "I (µA)" and ax_log.get_ylabel() == "|I| (A)" and ax_lin.get_xlabel() == "V (V)"
    assert "Icc 1 µA" in title(fig) and "1e-06" not in title(fig)
    assert "SET compliance 1 µA" in lines_labelled(ax_log) and "SET compliance 1 µA" in lines_labelled(ax_lin)
    assert not any("RESET" in x for x in lines_labelled(ax_log))          # unipolar: no RESET branch
    assert len(arrows(ax_lin)) == 2 and len(arrows(ax_log)) == 2          # 0 → 2 V and back
    assert ax_log.get_title().startswith("sweep 1: V_SET")


def test_nonvolatile_iv_picks_mA_for_its_linear_panel_and_draws_both_compliances(runs, tmp_path):
    fig, _, _ = draw(runs["iv_nv"], tmp_path)
    ax_lin, ax_log = fig.axes[:2]
    assert ax_lin.get_ylabel() == "I (mA)"
    lo, hi = ax_lin.get_ylim()
    assert -10 < lo < -1 and 1 <= hi < 10            # the RESET current reads ≈ −3 mA, not −3000 µA
    assert {"SET compliance 1 mA", "RESET compliance 10 mA"} <= set(lines_labelled(ax_log))
    assert ax_log.get_ylim()[1] > 10e-3              # the RESET line is inside the panel, not on its edge
    assert any("RESET compliance 10 mA (off scale)" in t.get_text() for t in ax_lin.texts)
    assert len(arrows(ax_lin)) == 4 and len(arrows(ax_log)) == 4          # 0 → +5 → 0 → −7 → 0
    assert "Icc 1 mA (SET) / 10 mA (RESET)" in title(fig)


def test_many_sweeps_are_coloured_by_sweep_number_with_a_colour_bar(runs, tmp_path):
    fig, _, _ = draw(runs["iv_many"], tmp_path)
    ax_lin, ax_log = fig.axes[:2]
    for ax in (ax_lin, ax_log):
        lc = [c for c in ax.collections if isinstance(c, LineCollection)]
        assert len(lc) == 1 and len(lc[0].get_segments()) == 8
        assert lc[0].get_array().tolist() == list(range(1, 9))
    assert colorbar_labels(fig) == ["sweep (1 … 8)"]
    assert "8 sweeps" in title(fig)


# ------------------------------------------------------------------ endurance
def test_volatile_endurance_axes_name_the_2V_write_and_the_0p1V_read(runs, tmp_path):
    fig, _, r = draw(runs["end_vol"], tmp_path)
    ax_i, ax_r = fig.axes[:2]
    assert "ON: 2 V write, OFF: 0.1 V read" in ax_i.get_ylabel()
    assert ax_r.get_ylabel() == "ON/OFF = I(2 V) / I(0.1 V)"
    labels = lines_labelled(ax_i)
    assert "ON: I during the 2 V write (Icc 1 µA)" in labels and "compliance 1 µA" in labels
    assert any(x.startswith("OFF: 0.1 V read") for x in labels)
    assert ax_r.get_xscale() == "log" and ax_r.get_xlabel() == "cycle"
    on = ax_i.get_lines()[0]
    assert on.get_xdata().size == 400 and on.get_xdata()[0] == 1     # every cycle, counted from 1
    assert any(x.startswith("fails below max(0.2 × early-life ON/OFF, 5)") for x in lines_labelled(ax_r))
    assert "device D00" in title(fig) and r.run_id[:8] not in title(fig)


def test_nonvolatile_endurance_reads_both_states_at_0p1V(runs, tmp_path):
    fig, _, _ = draw(runs["end_nv"], tmp_path)
    ax_i, ax_r = fig.axes[:2]
    labels = lines_labelled(ax_i)
    assert "ON: 0.1 V read after the 5 V SET (Icc 1 mA)" in labels
    assert "OFF: 0.1 V read after the −7 V erase (Icc 10 mA)" in labels
    assert "both read at 0.1 V" in ax_i.get_ylabel() and ax_r.get_ylabel() == "ON/OFF (both at 0.1 V)"
    assert ax_r.get_xscale() == "linear"


def test_a_run_of_8_cycles_has_big_markers_and_its_device_failure_marked(runs, tmp_path):
    fig, _, r = draw(runs["end_fail"], tmp_path)
    assert r.failure and r.n_rows("cycles") == 8
    ax_i, ax_r = fig.axes[:2]
    on = ax_i.get_lines()[0]
    assert on.get_markersize() >= 7 and on.get_xdata().tolist() == list(range(1, 9))
    assert ax_r.get_xscale() == "linear"
    first = r.failure["cycle"] + 1
    fail = [ln for ln in ax_i.get_lines() if ln.get_label().startswith("device failure (ON/OFF collapse)")]
    assert len(fail) == 1 and fail[0].get_xdata()[0] == first
    assert f"from cycle {first} (index {first - 1})" in fail[0].get_label()
    detected = [ln for ln in ax_r.get_lines() if ln.get_label().startswith("detected at cycle")]
    assert detected and detected[0].get_xdata()[0] == r.failure["detected_at"] + 1
    assert "failing cycles (8)" in lines_labelled(ax_r)
    assert "[DEVICE FAILURE]" in title(fig)


# ------------------------------------------------------------------ programmed levels
def test_icc_set_has_the_fit_a_sigma_panel_and_the_read_voltage_from_its_parameters(runs, tmp_path):
    fig, _, _ = draw(runs["icc"], tmp_path)
    ax_g, ax_s, ax_h = fig.axes[:3]
    assert ax_g.get_ylabel() == "G_LRS at the 0.1 V read after 30 ms at 0 V (mS)"
    assert ax_g.get_xlabel() == "programming Icc (mA)"
    assert any(x.startswith("G = ") and "R² = " in x for x in lines_labelled(ax_g))
    assert ax_s.get_title().startswith("σ(Icc)") and ax_s.get_ylabel().startswith("σ(G) (")
    sig = ax_s.get_lines()[0]
    assert sig.get_xdata().size == 3                         # one σ per programmed level
    assert any(x.startswith("σ = ") for x in lines_labelled(ax_s))
    assert len(ax_h.patches) == 3 and colorbar_labels(fig) == ["programming Icc (mA)"]
    assert any("HRS after each RESET" in t.get_text() for t in ax_h.texts)


def test_icc_set_with_one_repeat_says_sigma_needs_repeats(runs, tmp_path):
    fig, _, _ = draw(runs["icc_once"], tmp_path)
    assert any("repeats ≥ 2" in t.get_text() for t in fig.axes[1].texts)


def test_a_different_read_voltage_reaches_the_axis_label(tmp_path):
    cfg = load_config(None, [f'data.dir="{tmp_path}"'])
    out = run_protocol(cfg, get_protocol("icc-set").from_options(None, {"n_levels": "2", "repeats": "1",
                                                                        "v_read_v": "0.2"}),
                       progress=False, echo=lambda m: None)
    fig, _, _ = draw(out.path, tmp_path)
    assert fig.axes[0].get_ylabel().startswith("G_LRS at the 0.2 V read")


def test_retention_draws_t0_where_it_was_measured_and_says_the_hrs_is_not_measured(runs, tmp_path):
    fig, _, r = draw(runs["ret"], tmp_path)
    ax0, ax = fig.axes[:2]
    t = r.stream("reads")["t"]
    assert t[0] == 0
    assert ax0.get_lines()[0].get_xdata().tolist() == [0.0]             # t = 0 on its own linear panel
    assert [x.get_text() for x in ax0.get_xticklabels()] == ["0"]
    assert ax.get_xscale() == "log" and ax.get_lines()[0].get_xdata().min() == t[1]   # never moved
    assert ax0.get_ylabel() == "G at the 0.1 V read (mS)" and ax0.get_ylim()[0] == 0
    assert any("HRS not measured" in x.get_text() for x in ax.texts)
    assert any("G(10⁵ s) / G(0)" in x.get_text() for x in ax.texts)


def test_reconfigure_names_each_phase_with_its_compliance(runs, tmp_path):
    fig, _, _ = draw(runs["rec"], tmp_path)
    ax = fig.axes[0]
    labels = lines_labelled(ax)
    assert "volatile, Icc 1 µA, sweep to 2 V" in labels and "volatile again, Icc 1 µA" in labels
    assert "non-volatile SET, Icc 200 µA … 1 mA" in labels and "after RESET to −3 V (Icc 10 mA)" in labels
    assert ax.get_ylabel() == "G at the 0.1 V read after 30 ms at 0 V (S)"
    assert any(t.get_text() == "returned to volatile" for t in ax.texts)


def test_relaxation_draws_each_devices_decay_and_the_1_over_e_times(runs, tmp_path):
    fig, _, _ = draw(runs["relax"], tmp_path)
    ax_g, ax_t = fig.axes[0], fig.axes[1]
    assert len([ln for ln in ax_g.lines if not ln.get_label().startswith("1/e") and ln.get_label() != "t = 23 ms"
                and ln.get_xydata().shape[0] > 2]) == 3                   # one decay per device
    assert ax_g.get_yscale() == "log" and ax_g.get_xlabel() == "time after the spike (ms)"
    assert ax_t.get_ylabel() == "τ (1/e) (ms)"
    with RunReader(runs["relax"]) as r:
        tau = r.stream("decays")["tau"]
    assert np.allclose(np.sort(ax_t.lines[0].get_ydata()), np.sort(tau[np.isfinite(tau)]) * 1e3)
    assert "volatile relaxation: 1 V / 20 ms spike at Icc 1 µA" in fig._suptitle.get_text()


# ------------------------------------------------------------------ spike trains
def test_spike_plot_has_the_input_row_response_and_nodes_per_class(runs, tmp_path):
    fig, _, _ = draw(runs["spike"], tmp_path)
    grid = np.array(fig.axes[:12]).reshape(3, 4)
    assert [ax.get_title() for ax in grid[0]] == ["bursting", "adapting", "tonic", "irregular"]
    assert grid[0, 0].get_ylabel() == "input\n(example)" and len(grid[0, 0].collections) == 2   # spikes + reads
    unit = grid[1, 0].get_ylabel()
    assert unit in ("I (nA)", "I (µA)")                     # the prefix the traces need: 1 … 1000 of it
    assert 1 <= max(abs(x) for x in grid[1, 0].get_ylim()) < 1000 * 1.1
    assert "4 patterns = 4 classes × 1 cycle × 1 device" in title(fig)


def test_spike_campaign_shows_several_devices_and_a_node_heat_map_per_class(runs, tmp_path):
    fig, _, _ = draw(runs["spike_camp"], tmp_path)
    grid = np.array(fig.axes[:12]).reshape(3, 4)
    for col in range(4):
        assert len(grid[0, col].collections) == 4                       # three examples' spikes + the reads
        traces = [ln for ln in grid[1, col].get_lines() if ln.get_label().startswith("device")]
        assert [ln.get_label() for ln in traces] == ["device 0, cycle 1", "device 1, cycle 1", "device 0, cycle 2"]
        im = [a for a in grid[2, col].get_children() if isinstance(a, AxesImage)]
        assert len(im) == 1 and im[0].get_array().shape == (4, 30)     # 2 devices × 2 cycles, 30 nodes
    assert colorbar_labels(fig) == ["node G = I/V_meas at the −0.5 V read (S)"]
    assert "devices 0, 1 of the die" in title(fig) and "16 patterns" in title(fig)


# ------------------------------------------------------------------ reservoir
def test_reservoir_figure_has_learning_curves_and_normalised_confusion_matrices(runs, tmp_path):
    from labrc.reservoir import train_readout
    res = train_readout([runs["spike_camp"]], seed=0, epochs=3, n_seeds=2, baselines=False)
    fig = plot_reservoir(res)
    ax_acc, ax_a, ax_b = fig.axes[:3]
    assert ax_acc.get_xlabel() == "epoch" and ax_acc.get_ylabel() == "accuracy (%)"
    means = [ln for ln in ax_acc.get_lines() if ln.get_marker() in ("o", "s")]
    assert len(means) == 4 and all(ln.get_xdata().tolist() == [1, 2, 3] for ln in means)   # train/test × 2
    assert len([ln for ln in ax_acc.get_lines() if ln.get_lw() == 0.5]) == 4               # 2 seeds × 2 tests
    assert {"paper test 91.8 %", "paper test 85.1 %", "chance 25 %"} <= set(lines_labelled(ax_acc))
    for ax, m in ((ax_a, res.float_), (ax_b, res.icc)):
        im = ax.get_images()[0].get_array()
        cm = np.asarray(m.confusion, float)
        rows = cm.sum(axis=1) > 0
        assert np.allclose(np.nansum(im[rows], axis=1), 100)             # row-normalised, in %
        assert np.allclose(im[rows] / 100, np.asarray(m.confusion_normalised)[rows])
        assert len(ax.texts) == int(rows.sum()) * 4
    assert colorbar_labels(fig) == ["share of the true class (%)"]
    t = title(fig)
    assert "simulated OGB-Ag die, seed 0 · devices 0, 1 of the die — spike trains" in t   # from the runs named
    assert f"{res.n_patterns} patterns ({res.n_train} train / {res.n_test} test" in t and "2 seeds" in t
    png = tmp_path / "reservoir.png"
    fig.savefig(png)
    assert mpimg.imread(png).std() > 0.05


def test_a_protocol_without_a_figure_is_one_clear_error(runs):
    from labrc.plots import figure_for
    with RunReader(runs["iv_vol"]) as r:
        r.metadata["protocol"] = "no-such-protocol"
        with pytest.raises(ValueError, match="no plot for protocol 'no-such-protocol'; plots exist for: iv-sweep"):
            figure_for(r)


# ------------------------------------------------------------------ `labrc protocols` (values as figures print them)
def test_labrc_protocols_prints_values_with_units_and_open_bounds():
    out = subprocess.run(["labrc", "protocols"], capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    rows, proto = {}, ""
    for ln in out.stdout.splitlines():
        if not ln.startswith(" "):
            proto = ln.split(":")[0]
        elif "default" in ln:
            rows[proto, ln.split()[0]] = ln
    spike, vol = "spike-train", "volatile-endurance"
    assert "default 1.667 ms" in rows[spike, "dt_s"] and "[100 µs, 1 s]" in rows[spike, "dt_s"]
    assert "0.0016666" not in out.stdout and "e+" not in out.stdout and "9.22337" not in out.stdout
    assert "[0, ∞)" in rows[spike, "seed"]                            # 2**63 - 1 is no bound
    assert "default 10000 " in rows[vol, "cycles"] and "[1, 10000000]" in rows[vol, "cycles"]
    assert "default 1 µA" in rows[vol, "icc_a"] and "[100 nA, 105 mA]" in rows[vol, "icc_a"]
    assert "default -7 V" in rows["nonvolatile-endurance", "v_erase_v"] and "[1, 1e9]" in rows[vol, "on_off_min"]
    assert "default 1e5 s" in rows["retention", "t_max_s"] and "default true" in rows[vol, "stop_on_failure"]
    assert "{50 Hz|60 Hz}" in rows[spike, "line_frequency_hz"]
