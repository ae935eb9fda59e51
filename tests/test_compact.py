"""Compaction (issue 10 item 13): a real run made by the CLI, compacted, compared object for object with the
uncompressed original; SIGKILL of a compaction subprocess at seeded random phases never loses a row and
always leaves a run that opens; resume of a compacted run is refused in one line."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

from labrc.store import RunReader, RunWriter, StoreError, compact_run, is_compacted

DIM_ATTRS = ("DIMENSION_LIST", "REFERENCE_LIST", "CLASS", "NAME")


def _cli(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "labrc", *args], cwd=cwd, capture_output=True, text=True, check=False,
                          timeout=timeout)


@pytest.fixture(scope="module")
def real_run(tmp_path_factory) -> Path:
    """A 20 000-cycle volatile endurance run with the instrument transcript attached (uncompacted: compact
    = false here, so this test compacts it itself)."""
    base = tmp_path_factory.mktemp("real")
    (base / "labrc.toml").write_text('[data]\ndir = "data"\ncompact = false\n[instrument]\ntranscript = true\n')
    r = _cli("run", "volatile-endurance", "--cycles", "20000", "--no-progress", cwd=base)
    assert r.returncode == 0, r.stderr
    (run_dir,) = (base / "data").iterdir()
    assert (run_dir / "run.journal").exists() and not is_compacted(run_dir / "run.h5")
    return run_dir


def _tree(path: Path) -> dict[str, tuple]:
    """Every object of a file: (kind, dtype, shape, value bytes, attributes, dimension-scale names)."""
    out: dict[str, tuple] = {}
    with h5py.File(path, "r") as f:
        def one(name: str, o) -> None:
            attrs = {k: np.asarray(v).tolist() for k, v in o.attrs.items() if k not in DIM_ATTRS + ("compaction",)}
            if isinstance(o, h5py.Dataset):
                v = o[()]
                val = v.tobytes() if isinstance(v, np.ndarray) and v.dtype.kind != "O" else np.asarray(v).tolist()
                dims = [[s.name for s in d.values()] for d in o.dims]
                out[name] = ("d", str(o.dtype), o.shape, o.maxshape, val, attrs, dims, o.is_scale)
            else:
                out[name] = ("g", attrs)
        f.visititems(one)
        out["/"] = ("root", {k: np.asarray(v).tolist() for k, v in f.attrs.items() if k != "compaction"})
    return out


def test_compact_real_run(real_run: Path, tmp_path: Path) -> None:
    d = shutil.copytree(real_run, tmp_path / real_run.name)
    before = _tree(d / "run.h5")
    h5_bytes, j_bytes = (d / "run.h5").stat().st_size, (d / "run.journal").stat().st_size
    r = _cli("compact", str(d), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("compacted: shuffle+gzip-1, verified")
    assert not (d / "run.journal").exists() and is_compacted(d / "run.h5")
    # measured: 4.9 MB + 1.4 MB journal -> 3.1 MB, of which 2.5 MB are the transcript's variable-length
    # strings (HDF5 keeps those in the global heap, which filters do not compress); the cycles columns go
    # to 0.52 MB (1.32 MB of values, 2.16 MB allocated)
    assert (d / "run.h5").stat().st_size < min(h5_bytes, 0.6 * (h5_bytes + j_bytes))
    with h5py.File(d / "run.h5", "r") as f:
        stored = sum(x.id.get_storage_size() for x in f["entry/cycles"].values())
        assert stored < 0.45 * sum(x.nbytes for x in f["entry/cycles"].values())  # measured 0.39 (noisy floats)
    after = _tree(d / "run.h5")
    assert after.keys() == before.keys()
    for k in before:  # every column, attribute (units, NXdata, layout), scale, event, segment, attachment
        assert after[k] == before[k], k
    assert "entry/attachments/transcript" in after and "entry/cycles/seq" in after
    with h5py.File(d / "run.h5", "r") as f:
        assert f.attrs["layout"] == "labrc.run/1" and f["entry/cycles/i_write"].compression == "gzip"
        assert f["entry/cycles/i_write"].shuffle and f["entry/cycles/seq"].is_scale
    with RunReader(d) as rr:
        assert rr.status == "completed" and rr.n_rows("cycles") == 20000
    assert _cli("show", str(d), cwd=tmp_path).returncode == 0
    again = _cli("compact", str(d), cwd=tmp_path)
    assert again.returncode == 0 and "already compacted" in again.stdout
    res = _cli("resume", str(d), "--no-progress", cwd=tmp_path)  # decision: nothing to resume after compaction
    assert res.returncode == 2 and "Traceback" not in res.stderr and res.stderr.count("\n") == 1, res.stderr


def test_resumable_runs_need_final(tmp_path: Path) -> None:
    from labrc.store import Column, Stream
    schema = {"s": Stream((Column("seq", "i8"), Column("x", "f8", "V")), chunk_rows=256)}
    w = RunWriter.create(tmp_path, "t", "D1", schema, {"protocol": "x"})
    w.append("s", {"seq": np.arange(5000), "x": np.linspace(0, 1, 5000)})
    w.close("aborted", "operator stop")
    with pytest.raises(StoreError, match="can still be resumed"):
        compact_run(w.run_dir)
    assert (w.run_dir / "run.journal").exists()
    out = compact_run(w.run_dir, final=True)
    assert out["compacted"] and out["bytes_after"] < out["bytes_before"]
    with pytest.raises(StoreError, match="compacted .*nothing to recover or resume"):
        RunWriter.resume(w.run_dir)
    with RunReader(w.run_dir) as r:
        assert r.status == "aborted" and np.array_equal(r.stream("s")["seq"], np.arange(5000))


# Compaction in a child process that blocks (waits on stdin) at a chosen phase, so the parent's SIGKILL lands
# exactly there; "async" has no hook: the kill lands whenever the parent sees the tmp file grow.
CHILD = textwrap.dedent('''
    import sys
    import labrc.store.compact as C
    run_dir, phase, arg = sys.argv[1], sys.argv[2], int(sys.argv[3])
    def wait(tag):
        print(tag, flush=True); sys.stdin.readline()
    def before(name):
        orig = getattr(C, name)
        def hooked(*a, **k):
            wait(phase); return orig(*a, **k)
        setattr(C, name, hooked)
    if phase == "block":       # the tmp file is part-written: after the arg-th block
        orig, n = C._write_block, [0]
        def wb(*a):
            orig(*a); n[0] += 1
            if n[0] == arg: wait("block")
        C._write_block = wb
    elif phase != "async":
        before({"verify": "_verify_copy", "swap": "_swap", "drop": "_drop_journal", "state": "_write_state"}[phase])
    print("start", flush=True)
    print(C.compact_run(run_dir)["message"], flush=True)
''')
PHASES = ("async", "block", "verify", "swap", "drop", "state")


def _n_blocks(h5: Path) -> int:
    n = []
    with h5py.File(h5, "r") as f:
        f.visititems(lambda _, o: n.append(1) if isinstance(o, h5py.Dataset) and o.chunks and o.dtype.kind in "biufS"
                     and o.shape[0] > 0 else None)
    return len(n)


def test_kill_9_during_compaction_loses_nothing(real_run: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(20261201)
    trials = list(PHASES) + list(rng.choice(PHASES[1:], 3))  # every phase once + 3 seeded random ones
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    ref = _tree(real_run / "run.h5")
    n_blocks = _n_blocks(real_run / "run.h5")
    for i, phase in enumerate(trials):
        d = shutil.copytree(real_run, tmp_path / f"t{i}" / real_run.name)
        arg = int(rng.integers(1, n_blocks + 1))
        p = subprocess.Popen([sys.executable, str(script), str(d), phase, str(arg)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
        try:
            assert p.stdout.readline().strip() == "start"
            if phase == "async":
                tmp = d / "run.h5.compact.tmp"
                size = int(rng.integers(1, 200_000))
                while p.poll() is None and not (tmp.exists() and tmp.stat().st_size >= size):
                    pass  # condition: the tmp file has grown to a random size (or the child finished)
            else:
                assert p.stdout.readline().strip() == phase  # the child is blocked at that phase
        finally:
            os.kill(p.pid, signal.SIGKILL)
            p.wait()
        h5, journal = d / "run.h5", d / "run.journal"
        assert journal.exists() or is_compacted(h5), phase  # the journal goes only after a verified swap
        with RunReader(d) as r:  # the run opens, every row there
            assert r.status == "completed"
            assert r.n_rows("cycles") == 20000
        cur = _tree(h5)
        assert all(cur[k] == ref[k] for k in ref) and cur.keys() == ref.keys(), phase
        out = compact_run(d)  # the next compaction cleans up and finishes
        assert out["compacted"] or "already compacted" in out["message"]
        assert sorted(x.name for x in d.iterdir() if "tmp" in x.name) == []
        assert not journal.exists() and is_compacted(h5)
        cur = _tree(h5)
        assert all(cur[k] == ref[k] for k in ref), phase


@pytest.mark.parametrize("shape,dtype", [((10000, 30), "f8"), ((5000,), "u1"), ((777, 3), "i4"), ((1,), "f4")])
def test_compacted_chunks_are_the_librarys_own_bytes(tmp_path: Path, shape: tuple, dtype: str) -> None:
    """compact compresses chunks itself (threads) and stores them with write_direct_chunk: every chunk,
    the padded edge chunk included, must be byte for byte what HDF5's shuffle + gzip pipeline stores."""
    from concurrent.futures import ThreadPoolExecutor

    from labrc.store.compact import _copy_dataset
    rng = np.random.default_rng(3)
    data = (rng.normal(1e-6, 1e-7, shape) * (1e9 if dtype[0] in "iu" else 1)).astype(dtype)
    with h5py.File(tmp_path / "c.h5", "w") as f:
        src = f.create_dataset("src", data=data, chunks=(64, *shape[1:]), maxshape=(None, *shape[1:]))
        with ThreadPoolExecutor(2) as pool:
            _copy_dataset(src, f, "ours", 1, 1 << 14, pool)
        ours = f["ours"]
        lib = f.create_dataset("lib", shape=ours.shape, maxshape=ours.maxshape, dtype=ours.dtype, chunks=ours.chunks,
                               compression="gzip", compression_opts=1, shuffle=True)
        lib[()] = data
        assert ours.compression == "gzip" and ours.shuffle and np.array_equal(ours[()], data)
        for k in range(0, shape[0], ours.chunks[0]):
            at = (k, *(0,) * (len(shape) - 1))
            assert ours.id.read_direct_chunk(at) == lib.id.read_direct_chunk(at), k


def test_a_file_that_disagrees_with_its_journal_is_not_compacted(real_run: Path, tmp_path: Path) -> None:
    """One stored value changed after the run (bit rot, a foreign writer): the copy equals the file, but
    not the journal, so compaction refuses and leaves the run (file and journal) as it was."""
    d = shutil.copytree(real_run, tmp_path / real_run.name)
    with h5py.File(d / "run.h5", "r+") as f:
        x = f["entry/cycles/i_write"]
        x[17] = x[17] * 1.5
    before = (d / "run.h5").read_bytes()
    with pytest.raises(StoreError, match=r"failed verification.*cycles: \['i_write'\] differ from the journal"):
        compact_run(d)
    assert (d / "run.h5").read_bytes() == before and (d / "run.journal").exists()


def test_verify_stream_names_each_problem(tmp_path: Path) -> None:
    from labrc.store import Column, Stream
    from labrc.store.recovery import verify_stream
    st = Stream((Column("seq", "i8"), Column("x", "f8", "V")), chunk_rows=256)
    j = {"seq": np.arange(4, dtype=np.int64), "x": np.array([0.0, 1.0, np.nan, 3.0])}
    with h5py.File(tmp_path / "v.h5", "w") as f:
        g = f.create_group("s")
        g["seq"], g["x"] = j["seq"], j["x"]
        assert verify_stream("s", st, g, j) == []                       # NaN equals NaN bit for bit
        assert verify_stream("s", st, g, j, also=lambda c, v: f"{c} seen") == ["seq seen", "x seen"]
        g["x"][2] = 2.0
        assert verify_stream("s", st, g, j) == ["s: ['x'] differ from the journal"]
        del g["x"]
        g["x"] = np.zeros(3)
        assert verify_stream("s", st, g, j) == ["s: columns differ in length"]
