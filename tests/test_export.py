"""Data out (issue 14): a run as pandas and xarray with units, and ``labrc export`` to CSV and netCDF — each
read back and compared value for value with the run file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from labrc.store import RunReader
from test_cli import labrc, run_file


@pytest.fixture(scope="module")
def endurance(tmp_path_factory) -> Path:
    """A 300-cycle volatile endurance run: a 1-D stream (cycles) and a 2-D one (detail traces)."""
    d = tmp_path_factory.mktemp("endurance")
    (d / "labrc.toml").write_text('[data]\ndir = "runs"\n')
    p = labrc("run", "volatile-endurance", "--cycles", "300", "--no-progress", "--sample", "W1", "--device", "D3",
              cwd=d)
    assert p.returncode == 0, p.stderr
    return d


@pytest.fixture(scope="module")
def spikes(tmp_path_factory) -> Path:
    """One spike-train pattern: 30-node columns and a 630-sample trace per row."""
    d = tmp_path_factory.mktemp("spikes")
    (d / "labrc.toml").write_text('[data]\ndir = "runs"\n')
    p = labrc("run", "spike-train", "--param", "pattern_class=bursting", "--no-progress", cwd=d)
    assert p.returncode == 0, p.stderr
    return d


def test_to_pandas_keeps_every_value_with_its_unit_and_splits_narrow_2d_columns(endurance):
    with RunReader(run_file(endurance)) as r:
        cycles, detail = r.stream("cycles"), r.stream("detail")
        df, dd = r.to_pandas("cycles"), r.to_pandas("detail")
    assert list(df.columns) == list(cycles) and len(df) == 300
    assert np.array_equal(df["i_write"].to_numpy(), cycles["i_write"]) and df.attrs["units"]["i_write"] == "A"
    k = detail["v_set"].shape[1]
    assert [f"v_set_{j}" for j in range(k)] == [c for c in dd.columns if c.startswith("v_set_")]
    assert np.array_equal(dd[[f"i_meas_{j}" for j in range(k)]].to_numpy(), detail["i_meas"])
    assert dd.attrs["units"]["i_meas_0"] == "A" and dd.attrs["dropped"] == {}
    assert (df.attrs["sample"], df.attrs["device"], df.attrs["protocol"]) == ("W1", "D3", "volatile-endurance")


def test_to_xarray_makes_2d_columns_dimensions_with_units(endurance):
    with RunReader(run_file(endurance)) as r:
        detail = r.stream("detail")
        ds = r.to_xarray("detail")
    assert ds["i_meas"].dims == ("seq", "i_meas_index") and ds["i_meas"].attrs["units"] == "A"
    assert np.array_equal(ds["i_meas"].values, detail["i_meas"]) and np.array_equal(ds["seq"].values, detail["seq"])
    assert ds.attrs["status"] == "completed" and ds.attrs["device"] == "D3"


def test_a_column_too_wide_for_a_table_is_dropped_with_a_note_and_kept_by_xarray(spikes):
    with RunReader(run_file(spikes)) as r:
        df, ds, s = r.to_pandas("patterns"), r.to_xarray("patterns"), r.stream("patterns")
    assert "trace" in df.attrs["dropped"] and not any(c.startswith("trace") for c in df.columns)
    assert "node_g_29" in df.columns and df.attrs["units"]["node_g_29"] == "S"
    assert ds["trace"].shape == s["trace"].shape and np.array_equal(ds["trace"].values, s["trace"])


def test_export_csv_reads_back_with_pandas_and_names_the_units(endurance):
    p = labrc("export", "latest", "-o", str(endurance / "e.csv"), cwd=endurance)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == [str(endurance / "e_cycles.csv"), str(endurance / "e_detail.csv")]
    lines = (endurance / "e_cycles.csv").read_text().splitlines()
    assert lines[0].startswith("# labrc run ") and "volatile-endurance" in lines[0]
    assert "sample W1 device D3" in lines[0]
    assert "i_write=A" in lines[1] and "on_off=1" in lines[1]
    back = pd.read_csv(endurance / "e_cycles.csv", comment="#")
    with RunReader(run_file(endurance)) as r:
        cycles = r.stream("cycles")
    assert np.array_equal(back["seq"].to_numpy(), cycles["seq"])
    assert np.allclose(back["i_write"].to_numpy(), cycles["i_write"], rtol=1e-15, atol=0)   # full precision


def test_export_netcdf_is_one_file_a_group_per_stream(endurance):
    out = endurance / "run.nc"
    p = labrc("export", "latest", "--format", "netcdf", "-o", str(out), cwd=endurance)
    assert p.returncode == 0 and p.stdout.strip() == str(out), p.stderr
    with RunReader(run_file(endurance)) as r:
        detail, cycles = r.stream("detail"), r.stream("cycles")
    with xr.open_dataset(out, group="detail", engine="h5netcdf") as ds:
        assert np.array_equal(ds["v_set"].values, detail["v_set"]) and ds["v_set"].attrs["units"] == "V"
    with xr.open_dataset(out, group="cycles", engine="h5netcdf") as ds:
        assert np.array_equal(ds["on_off"].values, cycles["on_off"], equal_nan=True)
    with xr.open_dataset(out, engine="h5netcdf") as root:
        assert root.attrs["sample"] == "W1" and root.attrs["protocol"] == "volatile-endurance"


def test_export_of_one_stream_by_default_lands_in_the_run_directory(spikes):
    p = labrc("export", "latest", "--stream", "patterns", cwd=spikes)
    assert p.returncode == 0, p.stderr
    assert Path(p.stdout.strip()) == run_file(spikes).parent / "patterns.csv"
    assert "note: patterns.trace not in patterns.csv" in p.stderr


@pytest.mark.parametrize("args, text", [(["--stream", "nope"], "streams of this run are cycles, detail"),
                                        (["-o", "/nonexistent/dir/x.csv"], "does not exist"),
                                        (["--format", "xlsx"], "xlsx")])
def test_bad_export_requests_are_one_line(endurance, args, text):
    p = labrc("export", "latest", *args, cwd=endurance)
    assert p.returncode == 2 and text in p.stderr, p.stderr
