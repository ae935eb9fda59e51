"""Data out: a run's streams as pandas DataFrames, xarray Datasets, CSV and netCDF files.

Decisions (README, "Data out"):

* **Units** travel as attributes: ``df.attrs["units"][column]`` in pandas (a DataFrame has no per-column
  metadata that survives selection), ``ds[var].attrs["units"]`` in xarray/netCDF, and a ``# units:``
  comment line at the top of a CSV file (``pandas.read_csv(path, comment="#")`` reads it back).
* **2-D columns** (a per-row array: an endurance detail trace, the 30 node conductances of a spike
  pattern) are extra dimensions in xarray, named ``<column>_index``, one per column (two columns of
  the same width are not assumed to share an axis). pandas and CSV are flat tables: a column with at
  most ``max_split`` (64) values per row is split into ``<column>_0 … <column>_<k-1>`` (C order); a
  wider one (the spike trace, thousands of samples) is dropped and named in ``df.attrs["dropped"]``
  with the reason — ``to_xarray`` / ``--format netcdf`` keep it.
* **netCDF**: one group per stream (each has its own row dimension ``seq``), the run's identity as
  attributes of the root group; written with h5netcdf (HDF5 underneath, like the run file), to a
  temporary name first, then renamed.

pandas, xarray and h5netcdf are the optional ``data`` extra: ``pip install 'labrc[data]'``.
"""

from __future__ import annotations

import json
import os
from importlib import import_module
from pathlib import Path
from typing import Any

import numpy as np

MAX_SPLIT = 64          # widest per-row array split into columns in pandas/CSV; wider ones are dropped
FORMATS = ("csv", "netcdf")


class ExportError(ValueError):
    """An export that cannot be made (missing optional package, unknown stream, unwritable path)."""


def _need(module: str) -> Any:
    try:
        return import_module(module)
    except ImportError:
        raise ExportError(f"{module} is not installed: pip install 'labrc[data]' (pandas, xarray, h5netcdf)") from None


def run_attrs(reader, stream: str | None = None) -> dict[str, str]:
    """The run's identity as flat text attributes (netCDF attributes cannot be None or nested)."""
    meta = reader.metadata
    ident = meta.get("run") or {"device": reader.device}
    out = {"labrc_run_id": reader.run_id, "protocol": str(meta.get("protocol", "")), "status": reader.status,
           "start_time": reader.start_time or "", "end_time": reader.end_time or "",
           "source_file": str(reader.path), "parameters_json": json.dumps(meta.get("parameters", {}), default=str)}
    out.update({k: str(ident.get(k, "")) for k in ("sample", "device", "operator", "note", "die_position")})
    if stream is not None:
        out["stream"] = stream
    return out


def _stream(reader, stream: str) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    if stream not in reader.schema:
        raise ExportError(f"unknown stream {stream!r}; streams: {', '.join(reader.schema)}")
    return reader.stream(stream), reader.units(stream)


def stream_to_pandas(reader, stream: str, max_split: int = MAX_SPLIT):
    """One stream as a DataFrame (see the module docstring for units and 2-D columns)."""
    pd = _need("pandas")
    cols, units = _stream(reader, stream)
    data: dict[str, np.ndarray] = {}
    out_units: dict[str, str] = {}
    dropped: dict[str, str] = {}
    for name, a in cols.items():
        a = a.astype(a.dtype.newbyteorder("="), copy=False)     # native byte order for pandas
        if a.ndim == 1:
            data[name], out_units[name] = a, units[name]
            continue
        flat = a.reshape(a.shape[0], -1)
        if flat.shape[1] > max_split:
            dropped[name] = (f"{flat.shape[1]} values per row (more than max_split={max_split}): "
                             "use to_xarray() or export --format netcdf")
            continue
        for k in range(flat.shape[1]):
            data[f"{name}_{k}"], out_units[f"{name}_{k}"] = flat[:, k], units[name]
    df = pd.DataFrame(data)
    df.attrs.update(run_attrs(reader, stream))
    df.attrs["units"], df.attrs["dropped"] = out_units, dropped
    return df


def stream_to_xarray(reader, stream: str):
    """One stream as a Dataset: dimension ``seq`` (the row counter) or ``row``, 2-D columns as
    ``<column>_index`` dimensions, ``units`` on every variable, the run identity in ``ds.attrs``."""
    xr = _need("xarray")
    cols, units = _stream(reader, stream)
    seq = reader.schema[stream].seq_col
    dim = seq or "row"
    data_vars = {}
    for name, a in cols.items():
        if name == seq:
            continue
        extra = tuple(f"{name}_index" if a.ndim == 2 else f"{name}_index{j}" for j in range(1, a.ndim))
        data_vars[name] = ((dim, *extra), a.astype(a.dtype.newbyteorder("="), copy=False),
                           {"units": units[name]} if units[name] else {})
    coords = {dim: (dim, cols[seq].astype(np.int64), {"long_name": "row counter of the stream (seq)"})} if seq else {}
    return xr.Dataset(data_vars, coords=coords, attrs=run_attrs(reader, stream))


def _streams(reader, streams: list[str] | tuple[str, ...] | None) -> list[str]:
    names = list(streams) if streams else list(reader.schema)
    for s in names:
        if s not in reader.schema:
            raise ExportError(f"--stream {s!r}: streams of this run are {', '.join(reader.schema)}")
    return names


def export_csv(reader, output: Path | None = None, streams=None) -> tuple[list[Path], list[str]]:
    """One CSV per stream: ``output`` itself for one stream, else ``<stem>_<stream>.csv`` beside it
    (default: ``<stream>.csv`` in the run directory). Returns (files written, notes)."""
    names = _streams(reader, streams)
    written, notes = [], []
    for s in names:
        if output is None:
            path = reader.run_dir / f"{s}.csv"
        elif len(names) == 1:
            path = Path(output)
        else:
            path = Path(output).with_name(f"{Path(output).stem}_{s}{Path(output).suffix or '.csv'}")
        df = stream_to_pandas(reader, s)
        for col, why in df.attrs["dropped"].items():
            notes.append(f"{s}.{col} not in {path.name}: {why}")
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w", newline="") as fh:
            a = df.attrs
            fh.write(f"# labrc run {a['labrc_run_id']} protocol {a['protocol']} stream {s} status {a['status']} "
                     f"sample {a['sample'] or '-'} device {a['device'] or '-'}\n")
            fh.write("# units: " + ", ".join(f"{c}={u or '1'}" for c, u in a["units"].items()) + "\n")
            df.to_csv(fh, index=False)
        os.replace(tmp, path)
        written.append(path)
    return written, notes


def export_netcdf(reader, output: Path | None = None, streams=None) -> tuple[list[Path], list[str]]:
    """One netCDF-4 file, a group per stream (default: ``run.nc`` in the run directory)."""
    xr = _need("xarray")
    _need("h5netcdf")
    names = _streams(reader, streams)
    path = Path(output) if output is not None else reader.run_dir / "run.nc"
    tmp = path.with_name(path.name + ".tmp")
    xr.Dataset(attrs=run_attrs(reader)).to_netcdf(tmp, mode="w", engine="h5netcdf")
    for s in names:
        stream_to_xarray(reader, s).to_netcdf(tmp, mode="a", group=s, engine="h5netcdf")
    os.replace(tmp, path)
    return [path], []


def export_run(reader, fmt: str, output: Path | None = None, streams=None) -> tuple[list[Path], list[str]]:
    """``labrc export``: the run's streams as ``fmt`` ("csv" or "netcdf"); returns (files, notes)."""
    if fmt not in FORMATS:
        raise ExportError(f"format {fmt!r}: formats are {', '.join(FORMATS)}")
    return (export_csv if fmt == "csv" else export_netcdf)(reader, output, streams)
