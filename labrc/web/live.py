"""What the page shows, read from the data directory without ever slowing the writer.

* Every read happens in a worker thread (the app awaits it), through :class:`labrc.store.RunReader`, i.e. a
  read-only SWMR handle that is opened for one refresh and closed at once: no handle outlives a refresh, so
  a finalizing writer (close → reopen r+) never meets a reader's open file, and HDF5 readers never lock the
  file. Refreshes are rate-limited per run (``MIN_REFRESH_S``) whatever the number of open pages.
* The run list reads a finished run once (cached by the mtimes of run.h5 and run.state.json); only running
  runs are looked at again.
* Progress = rows / the plan's points (metadata "plan"); the rate is measured over the changes of the count
  (files grow in steps, one per flush: the same reasoning as ``labrc watch``'s RateMeter), the ETA from it.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

from ..rate import RateMeter
from ..store import RunReader, StoreError
from ..store.state import _read_state
from .figures import source_for

MIN_REFRESH_S = 0.5        # a run's file is opened at most this often, whatever the number of pages
EVENTS_SHOWN = 200         # newest events on the page (the file keeps all)
LIVE_RUNS_KEPT = 16        # figure sources kept in memory (least recently viewed dropped)
RUN_FIELDS = ("sample", "device", "operator", "note", "die_position")


def _web_rate() -> RateMeter:
    """The page's rate: a 20 s window of the count's changes, never reported as stalled (the page shows
    the run's state file for that)."""
    return RateMeter(window_s=20.0, stall_s=float("inf"))


def outcome_text(status: str, safe_ok: bool | None, failure: dict | None, damaged: str, finalized: bool) -> str:
    """Status plus what the operator must not miss (the words of ``labrc ls``)."""
    parts = [status]
    if failure:
        parts.append(f"({failure.get('mode', 'failure')} @ {failure.get('cycle', '?')})")
    if status not in ("running",) and safe_ok is False:
        parts.append("SAFE-STATE-UNVERIFIED")
    if damaged:
        parts.append("DAMAGED")
    elif finalized is False:
        parts.append("NOT-FINALIZED")
    return " ".join(parts)


def _mtimes(run_dir: Path) -> tuple:
    out = []
    for name in ("run.h5", "run.state.json"):
        try:
            st = (run_dir / name).stat()
            out.append((st.st_mtime_ns, st.st_size))
        except OSError:
            out.append(None)
    return tuple(out)


class RunIndex:
    """The runs under the data directory as the run list shows them."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._cache: dict[Path, tuple[tuple, dict]] = {}
        self._rates: dict[Path, RateMeter] = {}
        self._lock = threading.Lock()

    def run_dirs(self) -> list[Path]:
        """Run directories (with a run.h5) whose resolved path lies inside the data directory."""
        out = []
        for h5 in self.root.rglob("run.h5"):
            try:
                if h5.is_symlink() or not h5.resolve().is_relative_to(self.root):
                    continue
            except OSError:
                continue
            out.append(h5.parent)
        return out

    def rows(self) -> list[dict]:
        with self._lock:
            rows = [self._row(d) for d in self.run_dirs()]
        rows = [r for r in rows if r is not None]
        return sorted(rows, key=lambda r: r["start_time"] or "", reverse=True)

    def _row(self, run_dir: Path) -> dict | None:
        key = _mtimes(run_dir)
        hit = self._cache.get(run_dir)
        if hit is not None and hit[0] == key and hit[1]["status"] != "running":
            return hit[1]
        row = summarize(run_dir, self.root, self._rates.setdefault(run_dir, _web_rate()))
        if row is not None:
            self._cache[run_dir] = (key, row)
        return row


def summarize(run_dir: Path, root: Path, rate: RateMeter | None = None) -> dict | None:
    """One run's facts for the list and the run page (None: neither a state file nor a readable file)."""
    st = _read_state(run_dir) or {}
    row: dict[str, Any] = {"ref": run_dir.relative_to(root).as_posix(), "name": run_dir.name,
                           "run_id": st.get("run_id"), "status": st.get("status", "interrupted"),
                           "protocol": None, "start_time": st.get("start_time"), "end_time": st.get("end_time"),
                           "rows": dict(st.get("n_rows") or {}), "total": 0, "unit": "rows", "reason": st.get("reason", ""),
                           "safe_ok": st.get("safe_ok"), "failure": st.get("failure"), "damaged": "",
                           "finalized": st.get("finalized", True), **{k: "" for k in RUN_FIELDS}}
    try:
        with RunReader(run_dir) as r:
            meta = r.metadata
            ident = meta.get("run") or {}
            row.update(run_id=r.run_id, status=r.status, start_time=r.start_time, end_time=r.end_time,
                       protocol=meta.get("protocol"), rows={s: r.n_rows(s) for s in r.schema},
                       total=int((meta.get("plan") or {}).get("n_points") or 0), reason=r.reason or row["reason"],
                       failure=r.failure or row["failure"],
                       **{k: str(ident.get(k, "")) for k in RUN_FIELDS})
            row["device"] = row["device"] or r.device
            if r.safe_state is not None:
                row["safe_ok"] = bool(r.safe_state.get("ok"))
    except StoreError as exc:
        row["damaged"] = str(exc)
        if row["run_id"] is None:
            return None
    from protocols import PROTOCOLS
    cls = PROTOCOLS.get(row["protocol"] or "")
    row["unit"] = cls.progress_unit if cls else "rows"
    done = max(row["rows"].values(), default=0)
    row["done"] = done
    row["progress"] = min(1.0, done / row["total"]) if row["total"] else None
    row["rate"] = row["eta_s"] = None
    if rate is not None and row["status"] == "running":
        rate.add(time.monotonic(), done)
        v = rate.rate(time.monotonic())
        row["rate"] = v
        if v and row["total"] > done:
            row["eta_s"] = (row["total"] - done) / v
    row["outcome"] = outcome_text(row["status"], row["safe_ok"], row["failure"], row["damaged"], row["finalized"])
    return row


class LiveRun:
    """One run's page: summary, figure and newest events, refreshed at most every ``MIN_REFRESH_S``."""

    def __init__(self, run_dir: Path, root: Path) -> None:
        self.run_dir, self.root = run_dir, root
        self._lock = threading.Lock()
        self._source = None
        self._rate = _web_rate()
        self._checked = 0.0
        self._key: tuple | None = None
        self.version = 0
        self.payload = ""              # JSON text of the newest snapshot
        self.status: str | None = None  # its run status

    def snapshot(self) -> tuple[int, str, str | None]:
        """(version, JSON payload, status); the version changes only when what the page shows changed."""
        with self._lock:
            now = time.monotonic()
            if now - self._checked >= MIN_REFRESH_S:
                self._checked = now
                self._refresh()
            return self.version, self.payload, self.status

    def _refresh(self) -> None:
        key = _mtimes(self.run_dir)
        if key == self._key and self.status != "running":
            return
        summary = summarize(self.run_dir, self.root, self._rate)
        if summary is None:
            return
        figure, events = None, []
        if not summary["damaged"]:
            try:
                with RunReader(self.run_dir) as r:
                    if self._source is None:
                        self._source = source_for(r.metadata)
                    self._source.update(r)
                    title = " · ".join(x for x in (summary["protocol"], summary["sample"], summary["device"],
                                                  summary["status"]) if x)
                    figure = self._source.figure(title, summary["ref"], r.failure)
                    events = r.events()[-EVENTS_SHOWN:]
            except StoreError as exc:
                summary["damaged"] = str(exc)
        payload = json.dumps({"summary": summary, "figure": figure, "events": events}, default=_json_default)
        self._key, self.status = key, summary["status"]
        if payload != self.payload:
            self.payload = payload
            self.version += 1


def _json_default(o: Any) -> Any:
    import numpy as np
    if isinstance(o, np.ndarray):
        return [None if isinstance(v, float) and math.isnan(v) else v for v in o.tolist()]
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        v = float(o)
        return None if math.isnan(v) else v
    if isinstance(o, Path):
        return str(o)
    return str(o)


class LiveRuns:
    """The figure sources of recently viewed runs (bounded: ``LIVE_RUNS_KEPT``)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._runs: OrderedDict[Path, LiveRun] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, run_dir: Path) -> LiveRun:
        with self._lock:
            lr = self._runs.pop(run_dir, None) or LiveRun(run_dir, self.root)
            self._runs[run_dir] = lr
            while len(self._runs) > LIVE_RUNS_KEPT:
                self._runs.popitem(last=False)
            return lr
