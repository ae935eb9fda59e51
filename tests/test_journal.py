"""Journal damage and recovery (issue 10 items 6, 9, 12): a killed writer's run (real SWMR file + journal,
killed with SIGKILL in a child process), then the journal is damaged the way a disk or a power cut does it.
At most the damaged frame is lost, the damage is an event, a broken header is one line, the journal wins
over the file, and recovery/close leave a file plain h5py opens."""
from __future__ import annotations

import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

from labrc.store import (
    RunReader,
    StoreError,
    close_run,
    read_journal,
    recover,
    scan_journal,
)

N_BLOCKS, BLOCK = 40, 100  # 40 row frames of 100 rows: frame k holds seq k*100 .. k*100+99

CHILD = textwrap.dedent('''
    import sys, numpy as np
    from pathlib import Path
    sys.path.insert(0, %r)
    from test_journal import SCHEMA, META, rows
    from labrc.store import RunWriter
    w = RunWriter.create(Path(sys.argv[1]), "endurance", "D3", SCHEMA, META, flush_interval_s=3600, flush_rows=1 << 20)
    w.event("started", "info")
    for k in range(%d):
        w.append("cycles", rows(k * %d, %d))
    w.flush()
    print(w.run_dir, flush=True)
    sys.stdin.readline()   # stay alive (a live writer) until killed
''') % (str(Path(__file__).parent), N_BLOCKS, BLOCK, BLOCK)


def _schema():
    from labrc.store import Column, Stream
    return {"cycles": Stream(columns=(Column("seq", "i8"), Column("t", "f8", "s"), Column("i_read", "f8", "A"),
                                      Column("compliance", "u1")), chunk_rows=1024, signal="i_read", axes=("seq",))}


SCHEMA = _schema()
META = {"protocol": "test", "parameters": {"cycles": N_BLOCKS * BLOCK}}


def rows(start: int, n: int) -> dict[str, np.ndarray]:
    s = np.arange(start, start + n, dtype=np.int64)
    return {"seq": s, "t": s * 1e-3, "i_read": np.sin(s) * 1e-6, "compliance": (s % 3 == 0).astype(np.uint8)}


REF = rows(0, N_BLOCKS * BLOCK)


@pytest.fixture(scope="module")
def killed_run(tmp_path_factory) -> Path:
    """One run killed with SIGKILL after every frame was written and flushed (pristine: copy before use)."""
    base = tmp_path_factory.mktemp("killed")
    script = base / "child.py"
    script.write_text(CHILD)
    p = subprocess.Popen([sys.executable, str(script), str(base / "data")], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    run_dir = Path(p.stdout.readline().strip())  # printed after the last flush: the condition, not a sleep
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    return run_dir


def _copy(run_dir: Path, dst: Path) -> Path:
    shutil.copytree(run_dir, dst)
    return dst


def _frame_offsets(jpath: Path) -> list[tuple[int, int, int]]:
    """(offset, kind, n) of every frame of an undamaged journal."""
    data = jpath.read_bytes()
    (hl,) = struct.unpack_from("<I", data, 8)
    pos, out = 12 + hl, []
    while pos + 20 <= len(data):
        _, _, kind, n, size, _ = struct.unpack_from("<IHHIII", data, pos)
        out.append((pos, kind, n))
        pos += 20 + size
    return out


def _row_frames(jpath: Path) -> list[int]:
    return [off for off, kind, n in _frame_offsets(jpath) if kind == 0]


def _flip(path: Path, at: int) -> None:
    with open(path, "r+b") as fh:
        fh.seek(at)
        b = fh.read(1)
        fh.seek(at)
        fh.write(bytes([b[0] ^ 0x40]))


def _plain(run_dir: Path) -> dict[str, np.ndarray]:
    """The rebuilt file read with plain h5py (no SWMR): any HDF5 reader must open it."""
    with h5py.File(run_dir / "run.h5", "r") as f:
        g = f["entry/cycles"]
        return {c: g[c][()] for c in REF}


def _events(run_dir: Path) -> list[str]:
    with RunReader(run_dir) as r:
        return [e["message"] for e in r.events()]


def test_flip_mid_journal_loses_only_the_damaged_frame(killed_run: Path, tmp_path: Path) -> None:
    # power-cut model: run.h5 gone, only the journal; flip one byte inside the payload of frame 17 of 40
    d = _copy(killed_run, tmp_path / "r")
    (d / "run.h5").unlink()
    off = _row_frames(d / "run.journal")[17]
    _flip(d / "run.journal", off + 20 + 333)
    scan = scan_journal(d / "run.journal")
    assert len(scan.gaps) == 1 and scan.gaps[0][0] == off and scan.gaps[0][2] == BLOCK
    assert sum(n for s, k, n, _ in scan.frames if k == 0) == (N_BLOCKS - 1) * BLOCK  # the 22 frames after it kept
    counts = recover(d)
    assert counts["cycles"] == (N_BLOCKS - 1) * BLOCK
    got = _plain(d)
    lost = (got["seq"] >= 1700) & (got["seq"] < 1800)
    assert not lost.any()
    keep = (REF["seq"] < 1700) | (REF["seq"] >= 1800)
    for c in REF:
        np.testing.assert_array_equal(got[c], REF[c][keep])
    ev = _events(d)
    assert any(f"journal damage at byte {off}" in m and "held 100 rows" in m for m in ev)
    assert any("100 rows lost (seq 1700..1799)" in m for m in ev)
    st = json.loads((d / "run.state.json").read_text())
    assert st["rows_lost"] == {"cycles": 100} and st["journal_gaps"] == 1 and st["verified"]


def test_flip_frame_header_resyncs(killed_run: Path, tmp_path: Path) -> None:
    # the damaged byte is in the frame header (its row count): resync on the next frame magic
    d = _copy(killed_run, tmp_path / "r")
    (d / "run.h5").unlink()
    off = _row_frames(d / "run.journal")[5]
    _flip(d / "run.journal", off + 8)
    counts = recover(d)
    assert counts["cycles"] == (N_BLOCKS - 1) * BLOCK
    assert not np.isin(np.arange(500, 600), _plain(d)["seq"]).any()
    assert any("100 rows lost (seq 500..599)" in m for m in _events(d))


def test_flip_with_file_present_loses_nothing(killed_run: Path, tmp_path: Path) -> None:
    # the killed writer's run.h5 holds the damaged frame's rows: they fill the hole, the journal wins elsewhere
    d = _copy(killed_run, tmp_path / "r")
    off = _row_frames(d / "run.journal")[20]
    _flip(d / "run.journal", off + 20 + 5)
    assert recover(d)["cycles"] == N_BLOCKS * BLOCK
    got = _plain(d)
    for c in REF:
        np.testing.assert_array_equal(got[c], REF[c])
    ev = _events(d)
    assert any("100 rows missing from the journal taken from run.h5" in m for m in ev)
    assert any("old file kept as run.crashed.h5" in m for m in ev)  # the file contributed: keep it
    assert (d / "run.crashed.h5").exists()


def test_truncated_mid_frame(killed_run: Path, tmp_path: Path) -> None:
    d = _copy(killed_run, tmp_path / "r")
    (d / "run.h5").unlink()
    j = d / "run.journal"
    last = _row_frames(j)[-1]
    os.truncate(j, last + 20 + 50)  # torn write of the last frame
    counts = recover(d)
    assert counts["cycles"] == (N_BLOCKS - 1) * BLOCK
    np.testing.assert_array_equal(_plain(d)["seq"], np.arange((N_BLOCKS - 1) * BLOCK))
    assert any("journal torn tail: 70 bytes cut" in m for m in _events(d))
    assert read_journal(j)[2] == j.stat().st_size  # tail cut, the recovery event appended after it


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "labrc", *args], cwd=cwd, capture_output=True, text=True,
                          check=False, timeout=120)


@pytest.mark.parametrize("damage", ["header", "magic", "missing"])
def test_bad_header_or_missing_journal_is_one_line(killed_run: Path, tmp_path: Path, damage: str) -> None:
    d = _copy(killed_run, tmp_path / "r")
    j = d / "run.journal"
    if damage == "header":
        _flip(j, 12)              # the JSON header's opening brace
    elif damage == "magic":
        _flip(j, 2)
    else:
        j.unlink()
    want = {"header": "journal header is corrupt", "magic": "not a labrc journal",
            "missing": "journal is missing"}[damage]
    with pytest.raises(StoreError, match=want):
        recover(d)
    r = _cli("close", str(d), cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().count("\n") == 0 and want in r.stderr, r.stderr


def _interrupt(d: Path) -> None:
    """Mark a finalized run as left by a writer that is gone (what a kill leaves in the state file)."""
    st = json.loads((d / "run.state.json").read_text())
    st.update(status="running", pid=2 ** 22 + 17)
    (d / "run.state.json").write_text(json.dumps(st))


def _corrupt_file(d: Path) -> None:
    """Wrong values inside the seq-valid range (the half-done write of issue 10 item 2)."""
    with h5py.File(d / "run.h5", "r+") as f:
        f["entry/cycles/i_read"][1000:1500] = -1.0


def test_journal_wins_over_a_corrupted_file(killed_run: Path, tmp_path: Path) -> None:
    d = _copy(killed_run, tmp_path / "r")
    recover(d)
    _corrupt_file(d)
    _interrupt(d)
    recover(d)
    got = _plain(d)
    for c in REF:
        np.testing.assert_array_equal(got[c], REF[c])
    # the journal also lost its tail (power cut): the corrupted file cannot be trusted for the missing rows
    _corrupt_file(d)
    _interrupt(d)
    j = d / "run.journal"
    os.truncate(j, _row_frames(j)[-5])
    assert recover(d)["cycles"] == (N_BLOCKS - 5) * BLOCK
    got = _plain(d)
    for c in REF:
        np.testing.assert_array_equal(got[c], REF[c][:(N_BLOCKS - 5) * BLOCK])
    ev = _events(d)
    assert any("disagrees with the journal in ['i_read']" in m for m in ev)
    assert not any("rows lost" in m for m in ev)  # rows the journal never had are not holes inside it


def test_file_fills_a_lost_journal_tail(killed_run: Path, tmp_path: Path) -> None:
    d = _copy(killed_run, tmp_path / "r")
    j = d / "run.journal"
    os.truncate(j, _row_frames(j)[-5] + 7)  # power cut: the last 5 frames never reached the disk, one torn
    assert recover(d)["cycles"] == N_BLOCKS * BLOCK
    got = _plain(d)
    for c in REF:
        np.testing.assert_array_equal(got[c], REF[c])
    ev = _events(d)
    assert any("500 rows missing from the journal taken from run.h5" in m for m in ev)
    assert any("journal torn tail: 7 bytes cut" in m for m in ev) and (d / "run.crashed.h5").exists()


def test_recover_leaves_a_plain_file_and_drops_the_crashed_copy(killed_run: Path, tmp_path: Path) -> None:
    d = _copy(killed_run, tmp_path / "r")
    with pytest.raises(OSError):  # the killed SWMR writer's file: plain readers are refused (item 9)
        h5py.File(d / "run.h5", "r")
    recover(d)
    got = _plain(d)
    for c in REF:
        np.testing.assert_array_equal(got[c], REF[c])
    assert not (d / "run.crashed.h5").exists()  # verified against the journal, nothing from the file: deleted
    assert any("verified row for row against the journal, old file deleted" in m for m in _events(d))
    assert not any(p.name.endswith(".tmp") for p in d.iterdir())


def test_close_cli(killed_run: Path, tmp_path: Path) -> None:
    d = _copy(killed_run, tmp_path / "r")
    r = _cli("close", str(d), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("closed: interrupted") and "ended without finalizing" in r.stderr
    with h5py.File(d / "run.h5", "r") as f:  # any HDF5 reader opens it now
        assert f["entry/status"][()] == b"interrupted" and f["entry/cycles"].attrs["n_rows"] == N_BLOCKS * BLOCK
        assert b"labrc close" in f["entry/reason"][()]
    with RunReader(d) as rr:
        assert rr.status == "interrupted" and rr.n_rows("cycles") == N_BLOCKS * BLOCK
    again = _cli("close", str(d), cwd=tmp_path)
    assert again.returncode == 0 and "already closed" in again.stdout


def test_close_refuses_a_live_writer_and_leaves_finished_runs(tmp_path: Path) -> None:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    p = subprocess.Popen([sys.executable, str(script), str(tmp_path / "data")], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    try:
        d = Path(p.stdout.readline().strip())
        r = _cli("close", str(d), cwd=tmp_path)
        assert r.returncode == 2 and "is alive" in r.stderr and "Traceback" not in r.stderr
        assert json.loads((d / "run.state.json").read_text())["status"] == "running"
    finally:
        p.kill()
        p.wait()
    from labrc.store import RunWriter
    w = RunWriter.create(tmp_path / "done", "endurance", "D1", SCHEMA, META)
    w.append("cycles", rows(0, 10))
    w.close("completed")
    before = (w.path.stat().st_mtime_ns, w.path.stat().st_size)
    r = _cli("close", str(w.run_dir), cwd=tmp_path)
    assert r.returncode == 0 and "is completed" in r.stdout and "nothing to close" in r.stdout
    assert (w.path.stat().st_mtime_ns, w.path.stat().st_size) == before
    assert close_run(w.run_dir)["closed"] is False


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 24 MB tmpfs (root only; skipped where the machine does not allow mounting)."""
    m = tmp_path / "disk"
    m.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(m)], capture_output=True,
                      check=False).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield m
    finally:
        subprocess.run(["umount", str(m)], check=True)


def test_close_on_a_full_disk_is_one_line_and_changes_nothing(killed_run: Path, small_disk: Path) -> None:
    d = _copy(killed_run, small_disk / killed_run.name)
    filler = small_disk / "filler"
    with open(filler, "wb") as fh:  # fill the disk to the last block
        try:
            while True:
                fh.write(b"\0" * (1 << 16))
                fh.flush()
        except OSError:
            pass
    before = {q.name: q.read_bytes() for q in d.iterdir() if q.name != "run.reserve"}
    r = _cli("close", str(d), cwd=small_disk.parent)
    assert r.returncode == 2 and "Traceback" not in r.stderr and r.stderr.count("\n") == 1, r.stderr
    assert "cannot rebuild run.h5" in r.stderr and "were not changed" in r.stderr
    assert {q.name: q.read_bytes() for q in d.iterdir()} == before  # only the dead writer's reserve released
    filler.unlink()  # space is back: the run closes from its journal
    assert _cli("close", str(d), cwd=small_disk.parent).returncode == 0
    np.testing.assert_array_equal(_plain(d)["seq"], REF["seq"])


def test_random_flips_lose_at_most_the_damaged_frames(killed_run: Path, tmp_path: Path) -> None:
    """60 seeded trials of 1-3 flipped bytes anywhere after the header: every frame that holds no flipped
    byte is read back intact, and no frame is invented."""
    src = killed_run / "run.journal"
    data = src.read_bytes()
    frames = _frame_offsets(src)
    ends = [off for off, _, _ in frames[1:]] + [len(data)]
    spans = [(off, end, kind, n) for (off, kind, n), end in zip(frames, ends)]
    good = scan_journal(src).frames
    rng = np.random.default_rng(6)
    j = tmp_path / "run.journal"
    for _ in range(60):
        hits = sorted(int(x) for x in rng.integers(spans[0][0], len(data), int(rng.integers(1, 4))))
        buf = bytearray(data)
        for h in hits:
            buf[h] ^= 1 << int(rng.integers(0, 8))
        j.write_bytes(bytes(buf))
        scan = scan_journal(j)
        damaged = {i for i, (a, b, _, _) in enumerate(spans) if any(a <= h < b for h in hits)}
        want = [(s, k, n, bytes(p)) for i, (s, k, n, p) in enumerate(good) if i not in damaged]
        got = [(s, k, n, bytes(p)) for s, k, n, p in scan.frames]
        assert got == want, (hits, damaged, scan.gaps)
        runs: list[list[int]] = []  # consecutive damaged frames make one gap; a run reaching the end is the tail
        for i in sorted(damaged):
            if runs and runs[-1][-1] == i - 1:
                runs[-1].append(i)
            else:
                runs.append([i])
        tail = runs.pop() if runs and runs[-1][-1] == len(spans) - 1 else []
        assert [(g[0], g[1]) for g in scan.gaps] == [(spans[r[0]][0], spans[r[-1]][1] - spans[r[0]][0]) for r in runs]
        assert scan.tail_bytes == (len(data) - spans[tail[0]][0] if tail else 0)
