"""Tests of labrc.store: real files in tmp_path, writers/readers in subprocesses where SWMR requires it."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from labrc.store import (LAYOUT_VERSION, Column, RunReader, RunWriter, StoreError, Stream, list_runs, read_journal,
                         recover)

SCHEMA = {
    "points": Stream(columns=(Column("seq", "i8", ""), Column("sweep", "i4", ""), Column("v_set", "f8", "V"),
                              Column("v_meas", "f8", "V"), Column("i_meas", "f8", "A"), Column("t", "f8", "s"),
                              Column("compliance", "u1", "")), chunk_rows=16384, signal="i_meas", axes=("v_set",)),
    "sweeps": Stream(columns=(Column("sweep", "i4", ""), Column("start", "i8", ""), Column("count", "i4", "")),
                     chunk_rows=1024, seq=None),
}
META = {"protocol": "dc_iv", "parameters": {"v_max": 1.5, "n": 3}, "config": {"compliance": 1e-3},
        "instrument": {"idn": "KEITHLEY INSTRUMENTS,MODEL 4200-SCS,0,1", "options": None, "resource": "TCPIP0::sim"},
        "backend": {"kind": "sim", "model": {"r_on": 1e3}, "seed": 42}, "software": {"labrc": "0.1.0"}}

# writer helper run in a child process: argv = data_dir, mode; prints the run dir, then one line per flush
CHILD = textwrap.dedent('''
    import sys, time, numpy as np
    from pathlib import Path
    sys.path.insert(0, %r)
    from test_store import SCHEMA, META, block
    from labrc.store import RunWriter
    w = RunWriter.create(Path(sys.argv[1]), "dc_iv", "D7", SCHEMA, META, flush_interval_s=0.05, flush_rows=4096)
    print(w.run_dir, flush=True)
    k = 0
    if sys.argv[2] == "stdin":          # one block + flush per input line, "close" finalizes
        for line in sys.stdin:
            if line.strip() == "close":
                w.close("completed"); print("closed", flush=True); break
            w.append("points", block(k * 100, 100)); w.flush(); k += 1; print(k * 100, flush=True)
    else:                               # free running until killed; prints rows known flushed
        while True:
            w.append("points", block(k * 150, 150)); k += 1
            if k %% 7 == 0:
                w.flush(); print(k * 150, flush=True)
            time.sleep(0.001)
''') % str(Path(__file__).parent)


def block(start: int, n: int) -> dict[str, np.ndarray]:
    s = np.arange(start, start + n)
    return {"seq": s, "sweep": (s // 50).astype("i4"), "v_set": s * 1e-3, "v_meas": s * 1e-3 + 1e-6,
            "i_meas": s * 1e-6, "t": s * 0.01, "compliance": (s % 2 == 0)}


def _child(tmp_path: Path, mode: str) -> tuple[subprocess.Popen, Path]:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    p = subprocess.Popen([sys.executable, str(script), str(tmp_path / "data"), mode], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    return p, Path(p.stdout.readline().strip())


def test_round_trip(tmp_path: Path) -> None:
    w = RunWriter.create(tmp_path, "dc_iv", "D1", SCHEMA, META, flush_rows=256)
    assert w.path == w.run_dir / "run.h5" and w.run_dir.name.endswith(f"_dc_iv_D1_{w.run_id[:8]}")
    for k in range(10):
        w.append("points", block(k * 100, 100))
    w.append("sweeps", {"sweep": np.array([0, 1]), "start": np.array([0, 50]), "count": np.array([50, 50])})
    w.event("compliance hit", "warning")
    w.close("completed", "done", safe_state={"output": "off", "v": 0.0})
    w.close("failed", "ignored")  # idempotent
    with RunReader(w.run_dir) as r:
        assert (r.status, r.reason, r.run_type, r.device, r.run_id) == ("completed", "done", "dc_iv", "D1", w.run_id)
        assert r.metadata == META and r.safe_state == {"output": "off", "v": 0.0}
        assert r.start_time < r.end_time
        pts = r.stream("points")
        ref = block(0, 1000)
        for c in ref:
            np.testing.assert_array_equal(pts[c], ref[c].astype(pts[c].dtype))
        assert pts["compliance"].dtype == np.uint8 and r.n_rows("points") == 1000 and r.n_rows("sweeps") == 2
        assert r.units("points")["i_meas"] == "A" and r.units("points")["v_set"] == "V"
        assert r.events()[0]["message"] == "compliance hit" and r.events()[0]["level"] == "warning"
        assert [s["reason"] for s in r.segments()] == ["start"]
    with h5py.File(w.path, "r") as f:  # plain (non-SWMR) readers work after finalization
        assert f.attrs["layout"] == LAYOUT_VERSION and f.attrs["creator"].startswith("labrc ")
        e = f["entry"]
        assert e.attrs["NX_class"] == "NXentry" and e["points"].attrs["signal"] == "i_meas"
        assert e["points"].attrs["n_rows"] == 1000 and e["status"][()] == b"completed"
        assert e["instrument/smu"].attrs["idn"].startswith("KEITHLEY") and e.attrs["seed"] == 42
        assert all("units" in d.attrs for g in ("points", "sweeps", "events", "segments") for d in e[g].values())
        assert e["points/i_meas"].compression is None and e["points/i_meas"].chunks == (16384,)
    runs = list_runs(tmp_path)
    assert [(x["run_id"], x["status"], x["n_rows"]["points"]) for x in runs] == [(w.run_id, "completed", 1000)]
    hdr, frames, _ = read_journal(w.run_dir / "run.journal")
    assert hdr["run_id"] == w.run_id and sum(n for s, k, n, _ in frames if k == 0 and s == 0) == 1000


def test_schema_validation(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="reserved"):
        RunWriter.create(tmp_path, "x", "d", {"events": SCHEMA["points"]}, {})
    with pytest.raises(StoreError, match="'nope'"):
        RunWriter.create(tmp_path, "x", "d", {"p": Stream((Column("a", "f8"),), signal="nope")}, {})
    w = RunWriter.create(tmp_path, "dc_iv", "D1", SCHEMA, META)
    b = block(0, 10)
    bad = [({k: v for k, v in b.items() if k != "t"}, "missing column 't'"),
           ({**b, "extra": b["t"]}, "extra"),
           ({**b, "seq": b["t"]}, "'seq'.*dtype"),
           ({**b, "i_meas": b["i_meas"][:5]}, "'i_meas'.*length"),
           ({**b, "compliance": np.full(10, 300)}, "'compliance'.*dtype"),
           ({**b, "seq": b["seq"][::-1].copy()}, "'seq'.*contiguous")]
    for blk, msg in bad:
        with pytest.raises(StoreError, match=msg):
            w.append("points", blk)
    with pytest.raises(StoreError, match="unknown stream"):
        w.append("nope", b)
    w.append("points", {**b, "compliance": np.zeros(10, np.int64)})  # in-range ints into u1 are fine
    with pytest.raises(StoreError, match="contiguous"):
        w.append("points", block(20, 10))  # gap in seq
    w.close("aborted", "operator stop")
    with pytest.raises(StoreError, match="closed"):
        w.append("points", block(10, 10))
    assert RunReader(w.run_dir).status == "aborted"


def test_unknown_layout(tmp_path: Path) -> None:
    with h5py.File(tmp_path / "run.h5", "w") as f:
        f.attrs["layout"] = "labrc.run/99"
    with pytest.raises(StoreError, match="unknown layout"):
        RunReader(tmp_path)


def test_context_manager_failure(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        with RunWriter.create(tmp_path, "endurance", "D2", SCHEMA, META) as w:
            w.append("points", block(0, 500))
            raise ValueError("instrument fell over")
    with RunReader(w.path) as r:
        assert r.status == "failed" and "instrument fell over" in r.reason and r.n_rows("points") == 500


def test_second_process_reader_sees_growth(tmp_path: Path) -> None:
    p, run_dir = _child(tmp_path, "stdin")
    try:
        r = RunReader(run_dir)
        assert r.status == "running" and r.n_rows("points") == 0
        for k in (1, 2, 3):
            p.stdin.write("go\n"); p.stdin.flush()
            assert int(p.stdout.readline()) == 100 * k
            r.refresh()
            assert r.n_rows("points") == 100 * k
            np.testing.assert_array_equal(r.stream("points")["seq"], np.arange(100 * k))
        p.stdin.write("close\n"); p.stdin.flush()
        assert p.stdout.readline().strip() == "closed"
        r.refresh()
        assert r.status == "completed" and r.end_time and r.n_rows("points") == 300
        r.close()
    finally:
        p.kill(); p.wait()


def test_sigkill_recover_resume(tmp_path: Path) -> None:
    p, run_dir = _child(tmp_path, "free")
    flushed = 0
    while flushed < 3000:
        flushed = int(p.stdout.readline())
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    with RunReader(run_dir) as r:  # opens as-is (SWMR read), holds ≥ everything flushed, contiguous
        assert r.status == "interrupted"
        seq = r.stream("points")["seq"]
        assert len(seq) >= flushed and np.array_equal(seq, np.arange(len(seq)))
        assert r.stream("points")["v_set"].shape == seq.shape
    assert list_runs(tmp_path / "data")[0]["status"] == "interrupted"
    n_journal = sum(n for s, k, n, _ in read_journal(run_dir / "run.journal")[1] if k == 0 and s == 0)
    # power-cut model on a copy: journal tail torn/lost -> salvage of run.h5 (child process) fills the gap
    torn = tmp_path / "torn"
    shutil.copytree(run_dir, torn)
    os.truncate(torn / "run.journal", (torn / "run.journal").stat().st_size // 3 + 7)
    assert recover(torn)["points"] >= len(seq)
    counts = recover(run_dir)
    assert counts["points"] == n_journal >= len(seq)
    w = RunWriter.resume(run_dir)
    with pytest.raises(StoreError, match="contiguous"):
        w.append("points", block(0, 10))
    w.append("points", block(n_journal, 100))
    w.close("completed")
    with RunReader(run_dir) as r:
        assert r.status == "completed"
        np.testing.assert_array_equal(r.stream("points")["seq"], np.arange(n_journal + 100))
        segs = r.segments()
        assert [s["reason"] for s in segs] == ["start", "resume"] and segs[1]["start_points"] == n_journal
        assert any("recovered" in e["message"] for e in r.events())


def _used(run_dir: Path) -> int:
    return sum(p.stat().st_size for p in run_dir.iterdir() if p.is_file())


def test_free_space_is_measured_at_every_append_and_the_disk_never_dips_under_the_reserve(tmp_path: Path,
                                                                                          monkeypatch) -> None:
    """On a simulated small disk (free = capacity − the run's bytes) every accepted append still leaves
    min_free_bytes free, and the block that would not fit is refused before any of its bytes are written."""
    import shutil as sh
    real = sh.disk_usage
    calls, disk = [0], {"cap": 1 << 62, "dir": None}

    def fake(path):
        calls[0] += 1
        u = real(path)
        return u if disk["dir"] is None else type(u)(disk["cap"], 0, disk["cap"] - _used(disk["dir"]))
    monkeypatch.setattr(sh, "disk_usage", fake)
    min_free = 1 << 20
    for roomy in (True, False):
        w = RunWriter.create(tmp_path / str(roomy), "dc_iv", "D9", SCHEMA, META, flush_rows=4096,
                             min_free_bytes=min_free)
        disk["dir"], disk["cap"] = w.run_dir, (1 << 40) if roomy else _used(w.run_dir) + (3 << 20)
        calls[0], k, refused = 0, 0, None
        while refused is None and k < 200:
            used = _used(w.run_dir)
            try:
                w.append("points", block(k * 300, 300))
            except StoreError as exc:
                refused = exc
                assert _used(w.run_dir) == used           # nothing of the refused block was written
                break
            k += 1
            assert disk["cap"] - _used(w.run_dir) >= min_free, k
        if roomy:
            assert k == 200 and calls[0] >= 200           # measured at every append
        else:
            assert refused is not None and "disk full" in str(refused) and k > 0
        w.close("failed" if refused else "completed", str(refused or ""))
        disk["dir"] = None
        with RunReader(w.run_dir) as r:                    # after a full disk: the flushed prefix
            seq = r.stream("points")["seq"]
        assert np.array_equal(seq, np.arange(len(seq))) and (len(seq) == k * 300 or not roomy)
        frames = read_journal(w.run_dir / "run.journal")[1]
        assert sum(n for st, kind, n, _ in frames if kind == 0 and st == 0) == k * 300   # every accepted row


@pytest.mark.parametrize("exact_dtypes", [False, True])
@pytest.mark.parametrize("flush_rows", [4096, 40000, 70000])
def test_whole_chunk_and_partial_writes_give_the_same_rows(tmp_path: Path, flush_rows: int, exact_dtypes: bool) -> None:
    """Blocks of odd sizes, explicit flushes in between (partial chunks), buffer-full flushes that keep a
    sub-chunk tail, an oversized block: the file holds exactly the appended rows, in order. Chunks are
    16,384 rows, so 40,000 and 70,000-row buffers write whole chunks directly and 4,096 never does; with
    ``exact_dtypes`` every column already has the stored dtype (the writer's no-conversion path)."""
    w = RunWriter.create(tmp_path, "dc_iv", "D8", SCHEMA, META, flush_rows=flush_rows)
    rng = np.random.default_rng(7)
    k = 0
    for i in range(120):
        n = int(rng.integers(1, 2000)) if i != 60 else flush_rows + 1234
        b = block(k, n)
        if exact_dtypes:
            b["compliance"] = b["compliance"].astype("u1")
        w.append("points", b)
        k += n
        if i % 37 == 0:
            w.flush()
        assert sum(w.n_rows().values()) == k
    w.close("completed")
    with RunReader(w.run_dir) as r:
        got = r.stream("points")
    want = block(0, k)
    for c, a in want.items():
        np.testing.assert_array_equal(got[c], np.asarray(a).astype(got[c].dtype), err_msg=c)


KILL_CHILD = textwrap.dedent('''
    import sys, numpy as np
    sys.path.insert(0, %r)
    from test_store import SCHEMA, META, block
    from labrc.store import RunWriter
    w = RunWriter.create(sys.argv[1], "dc_iv", "K9", SCHEMA, META)
    print(w.run_dir, flush=True)
    k = 0
    while True:                         # as fast as it goes: whole-chunk flushes, no sleeps
        w.append("points", block(k, 408)); k += 408
''') % str(Path(__file__).parent)


def test_kill_9_while_streaming_fast_leaves_whole_chunks_equal_to_the_journal(tmp_path: Path) -> None:
    """SIGKILL at seeded random moments of a full-speed writer (size-budget flushes of whole chunks): the
    file opens as it was left (SWMR read) and every row it holds is the journal's row, bit for bit."""
    from labrc.store.journal import scan_journal
    from labrc.store.recovery import _journal_content
    rng = np.random.default_rng(11)
    for trial in range(4):
        p = subprocess.Popen([sys.executable, "-c", KILL_CHILD, str(tmp_path / f"k{trial}")], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        run_dir = Path(p.stdout.readline().strip())
        j = run_dir / "run.journal"
        size = int(rng.integers(2, 40)) << 20              # kill after 2..40 MB of journal
        deadline = time.monotonic() + 120                  # a condition, bounded; the writer never ends by itself
        while p.poll() is None and j.stat().st_size < size and time.monotonic() < deadline:
            time.sleep(0.001)
        assert p.poll() is None and j.stat().st_size >= size, (trial, p.stderr.read() if p.poll() is not None else "")
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
        scan = scan_journal(j)
        schema = {k: Stream.from_json(v) for k, v in scan.header["schema"].items()}
        jrows = _journal_content(scan, schema)[0]["points"]
        assert len(jrows["seq"]) > 0 and len({len(v) for v in jrows.values()}) == 1, trial
        with h5py.File(run_dir / "run.h5", "r", swmr=True) as f:
            g = f["entry/points"]
            lengths = {len(g[c]) for c in jrows}
            assert len(lengths) == 1, (trial, lengths)       # every column of the file holds the same rows
            for c in jrows:
                a = g[c][()]
                assert len(a) <= len(jrows[c]) and a.tobytes() == jrows[c][:len(a)].tobytes(), (trial, c)
