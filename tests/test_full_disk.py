"""A full data disk stops the run cleanly: first write refused before HDF5 can fail, instrument safe,
one clear reason, exit 1, a file that opens — and a run that resumes or closes once space is back.

Real `labrc` subprocesses. Where this machine lets us (root), the disk is a real 2 MiB tmpfs; everywhere
the same path is also driven by ``data.min_free_bytes`` set just below the free space of the test's disk.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np
import pytest

from labrc.store import RunReader

from helpers_proc import labrc

RUN = ["run", "volatile-endurance", "--cycles", "200000", "--no-progress", "--param", "stop_on_failure=false"]


@pytest.fixture
def tmpfs(tmp_path):
    mnt = tmp_path / "tmpfs"
    mnt.mkdir()
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a tmpfs needs root; the min_free_bytes variant covers this path")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def _check_stopped_cleanly(p: subprocess.CompletedProcess, data: os.PathLike) -> tuple[object, int]:
    assert p.returncode == 1, p.stderr
    assert "disk full" in p.stderr and "Traceback" not in p.stderr
    path = os.path.join(next(d.path for d in os.scandir(data) if d.is_dir()), "run.h5")
    with RunReader(path) as r:
        assert r.status == "failed" and "disk full" in r.reason
        assert r.safe_state["ok"]                              # the instrument was made safe, and verified
        c = r.stream("cycles")
    assert np.array_equal(c["seq"], np.arange(c["seq"].size))
    return path, c["seq"].size


def test_a_full_tmpfs_stops_the_run_cleanly_and_it_resumes_once_space_is_back(tmp_path, tmpfs):
    (tmp_path / "labrc.toml").write_text(f'[data]\ndir = "{tmpfs}"\nmin_free_bytes = 0\n')
    p = labrc(*RUN, cwd=tmp_path)
    path, n = _check_stopped_cleanly(p, tmpfs)
    assert n > 0
    ls = labrc("ls", cwd=tmp_path)
    assert "failed" in ls.stdout
    subprocess.run(["mount", "-o", "remount,size=256m", str(tmpfs)], check=True)
    res = labrc("resume", os.path.basename(os.path.dirname(path)), "--no-progress", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    with RunReader(path) as r:
        assert r.status == "completed"
        assert np.array_equal(r.stream("cycles")["seq"], np.arange(200_000))


def test_min_free_bytes_stops_the_run_before_the_disk_is_full_and_the_run_closes(tmp_path):
    """Any machine: a margin larger than the free space trips the guard at the first block (a margin a few
    MB below the free space would depend on what other processes write to the same disk meanwhile)."""
    data = tmp_path / "runs"
    data.mkdir()
    st = os.statvfs(data)
    free = st.f_bavail * st.f_frsize
    (tmp_path / "labrc.toml").write_text(f'[data]\ndir = "runs"\nmin_free_bytes = {free + (1 << 30)}\n')
    p = labrc(*RUN, cwd=tmp_path)
    path, n = _check_stopped_cleanly(p, data)
    assert n == 0
    c = labrc("close", os.path.basename(os.path.dirname(path)), cwd=tmp_path)
    assert c.returncode == 0, c.stderr
    import h5py
    with h5py.File(path, "r") as f:                             # any HDF5 reader opens it
        assert f["entry/cycles/seq"].shape[0] == n
