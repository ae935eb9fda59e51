"""What was measured on which device, and how it ended, at a glance (issue 14): run identity in the
directory name, the file, ``ls``/``show``; ``latest``; the start and end lines; the progress bar; ``watch``.

Every run goes through the console entry point on the embedded simulator into real run files.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import termios
from pathlib import Path

import pytest

from labrc.cli import RateMeter
from labrc.config import load_config, run_identity
from labrc.humanize import format_duration
from labrc.store import RunReader
from test_cli import labrc, run_file


@pytest.fixture
def station(tmp_path: Path) -> Path:
    (tmp_path / "labrc.toml").write_text('[data]\ndir = "runs"\n[run]\noperator = "A. Demirag"\nsample = "OGB-3"\n')
    return tmp_path


def test_the_sample_and_device_name_the_run_directory_and_every_field_is_in_the_file_exactly(station):
    p = labrc("run", "iv-sweep", "--preset", "volatile", "--no-progress", "--sample", "W12 / é", "--device", "r3c5",
              "--note", "after anneal, 80 °C", "--die-position", "x=3,y=5", cwd=station)
    assert p.returncode == 0, p.stderr
    f = run_file(station)
    assert "_iv_W12_r3c5_" in f.parent.name                    # sanitised: ASCII letters, digits, ._- only
    with RunReader(f) as r:
        assert r.metadata["run"] == {"sample": "W12 / é", "device": "r3c5", "operator": "A. Demirag",
                                     "note": "after anneal, 80 °C", "die_position": "x=3,y=5"}
    info = json.loads(labrc("show", "latest", "--json", cwd=station).stdout)
    assert info["run"]["sample"] == "W12 / é" and info["run"]["die_position"] == "x=3,y=5"


def test_on_the_simulator_the_device_defaults_to_its_die_index_and_labrc_toml_gives_the_rest(station):
    p = labrc("run", "iv-sweep", "--preset", "volatile", "--no-progress", "--set", "sim.device=7", cwd=station)
    assert p.returncode == 0, p.stderr
    with RunReader(run_file(station)) as r:
        assert r.metadata["run"] == {"sample": "OGB-3", "device": "D07", "operator": "A. Demirag", "note": "",
                                     "die_position": ""}
        assert r.device == "OGB-3_D07" and "_iv_OGB-3_D07_" in r.run_dir.name


def test_on_hardware_a_run_without_a_device_name_is_unnamed_and_the_operator_is_told():
    ident, warning = run_identity(load_config(None, ['instrument.backend="visa"']))
    assert ident["device"] == "unnamed" and "--device" in warning
    ident, warning = run_identity(load_config(None, ['instrument.backend="visa"', 'run.device="D3"']))
    assert ident["device"] == "D3" and warning == ""


@pytest.mark.parametrize("args, key", [(["--note", "two\nlines"], "run.note"), (["--device", "x" * 41], "run.device")])
def test_bad_identity_text_is_one_line_exit_2_and_no_run(station, args, key):
    p = labrc("run", "iv-sweep", "--preset", "volatile", *args, cwd=station)
    assert p.returncode == 2 and key in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert not (station / "runs").exists() or not list((station / "runs").rglob("run.h5"))


def test_ls_names_the_protocol_filters_and_speaks_json_and_latest_is_the_newest_run(station):
    for args in (["iv-sweep", "--preset", "volatile", "--sample", "S1"], ["volatile-endurance", "--cycles", "40"],
                 ["nonvolatile-endurance", "--cycles", "8", "--sample", "S1"]):
        assert labrc("run", *args, "--no-progress", cwd=station).returncode == 0
    ls = labrc("ls", cwd=station)
    lines = ls.stdout.splitlines()
    assert lines[0].split() == ["run", "outcome", "protocol", "sample", "device", "rows", "started"]
    assert "volatile-endurance" in lines[2] and "nonvolatile-endurance" in lines[3] and "40 cycles" in lines[2]
    assert len({ln.index("completed") for ln in lines[1:]}) == 1                     # columns aligned
    rows = json.loads(labrc("ls", "--json", cwd=station).stdout)
    assert [r["protocol"] for r in rows] == ["iv-sweep", "volatile-endurance", "nonvolatile-endurance"]
    assert rows[1]["rows"] == {"cycles": 40, "detail": rows[1]["rows"]["detail"]} and rows[1]["unit"] == "cycles"
    s1 = json.loads(labrc("ls", "--json", "--sample", "S1", cwd=station).stdout)
    assert [r["protocol"] for r in s1] == ["iv-sweep", "nonvolatile-endurance"]
    nv = json.loads(labrc("ls", "--json", "--protocol", "nonvolatile-endurance", "--status", "completed",
                          cwd=station).stdout)
    assert len(nv) == 1 and nv[0]["sample"] == "S1"
    assert json.loads(labrc("ls", "--json", "--status", "aborted", cwd=station).stdout) == []
    bad = labrc("ls", "--protocol", "endurance", cwd=station)
    assert bad.returncode == 2 and "volatile-endurance" in bad.stderr
    assert json.loads(labrc("show", "latest", "--json", cwd=station).stdout)["path"] == rows[-1]["path"]


def test_latest_in_an_empty_data_directory_is_one_line(station):
    p = labrc("plot", "latest", cwd=station)
    assert p.returncode == 2 and "no runs in" in p.stderr and "latest" in p.stderr


def test_a_run_says_where_it_writes_and_its_eta_first_and_ends_with_one_result_line(station):
    p = labrc("run", "volatile-endurance", "--cycles", "300", "--no-progress", cwd=station)
    assert p.returncode == 0, p.stderr
    err = p.stderr.splitlines()
    assert err[0].startswith("run: ") and Path(err[0][5:]) == run_file(station).parent
    assert re.fullmatch(r"ETA \d+(\.\d)? s \(instrument time\): 300 cycles in \d+ blocks", err[1]), err[1]
    result = [ln for ln in err if ln.startswith("result: ")]
    assert len(result) == 1 and result[0] == err[-1]
    assert re.fullmatch(r"result: completed \| 300 cycles \| ON/OFF median [\d.e+]+ \| failing cycles 0 \| exit 0 "
                        r"\(the plan ran to its end; safe state verified\)", result[0]), result[0]
    assert "\r" not in p.stderr                                   # stderr is not a terminal: no bar


def test_a_device_failure_result_names_the_mode_the_cycle_and_exit_3(tmp_path):
    (tmp_path / "labrc.toml").write_text('[data]\ndir = "runs"\n[sim]\npreset = "DDAB-Ag"\n')
    p = labrc("run", "volatile-endurance", "--cycles", "1000", "--no-progress", cwd=tmp_path)
    assert p.returncode == 3, p.stderr
    line = next(ln for ln in p.stderr.splitlines() if ln.startswith("result: "))
    with RunReader(run_file(tmp_path)) as r:
        cycle = r.failure["cycle"]
    assert line.startswith("result: device_failure | ") and f"stuck ON from cycle {cycle} | exit 3 (" in line, line


def test_the_dry_run_eta_is_in_hours_and_minutes(station):
    p = labrc("run", "volatile-endurance", "--cycles", "500000", "--dry-run", cwd=station)
    eta = next(ln for ln in p.stdout.splitlines() if ln.startswith("ETA"))
    assert re.fullmatch(r"ETA +\d+ h \d\d min \(instrument time\)", eta), eta
    assert "unit       cycles" in p.stdout


@pytest.mark.parametrize("s, text", [(0.0, "< 0.1 s"), (4.24, "4.2 s"), (59.6, "1 min 00 s"), (750, "12 min 30 s"),
                                     (21_900, "6 h 05 min"), (3 * 86400 + 4 * 3600, "3 d 04 h")])
def test_durations_read_like_a_clock(s, text):
    assert format_duration(s) == text


def _on_a_terminal(args: list[str], cwd: Path) -> tuple[int, str]:
    """Run labrc with stdout and stderr on a pseudo-terminal; everything it wrote there, and its exit code."""
    import shutil
    import sys
    exe = shutil.which("labrc")
    cmd = [exe] if exe else [sys.executable, "-m", "labrc"]
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 160, 0, 0))   # a 160-column terminal
    env = {k: v for k, v in os.environ.items() if k != "LABRC_CONFIG"}
    proc = subprocess.Popen(cmd + args, cwd=cwd, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:                 # EIO: the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    return proc.wait(timeout=120), out.decode("utf-8", "replace")


def test_on_a_terminal_the_bar_counts_cycles_shows_on_off_and_its_last_line_stays(station):
    # the bar appears after 1 s (tqdm delay): the simulator keeps each test busy for 3e-4 of its instrument
    # time (100,000 cycles x 49 ms = 4,900 s -> >= 1.5 s on any machine), so the run lasts long enough
    code, out = _on_a_terminal(["run", "volatile-endurance", "--cycles", "100000", "--set", "data.compact=false",
                                "--set", "sim.realtime_factor=0.0003"], station)
    assert code == 0, out
    assert "cycles/s" in out and "pt/s" not in out
    assert re.search(r"ON/OFF [\d.e+]+, failing \d+", out), out[-2000:]
    final = [seg for seg in re.split(r"[\r\n]", out) if "100000/100000" in seg]
    assert final, out[-2000:]                                 # the bar's final state is left on screen
    assert out.rstrip().splitlines()[-1].startswith("completed: ")


def test_watch_refreshes_in_place_on_a_terminal_and_prints_lines_otherwise(station):
    assert labrc("run", "volatile-endurance", "--cycles", "200", "--no-progress", cwd=station).returncode == 0
    code, out = _on_a_terminal(["watch", "latest", "--once"], station)
    assert code == 0 and out.startswith("\r") and "\x1b[K" in out, repr(out)
    assert "100.0 %" in out and "200/200 cycles" in out
    plain = labrc("watch", "latest", "--once", cwd=station)
    assert "\r" not in plain.stdout and "\x1b" not in plain.stdout and "cycles=200" in plain.stdout


def test_the_watch_rate_is_the_true_rate_not_the_flush_steps():
    """A run doing 1,850 cycles/s, flushed once a second, refreshed every 0.5 s: the difference of two
    refreshes alternates 0 and 1,850 x 2 (what watch showed before); the meter gives 1,850 throughout."""
    meter = RateMeter(window_s=4.0, stall_s=3.5)
    rates = []
    for k in range(40):
        t = 0.5 * k + 0.25
        meter.add(t, 1850 * int(t))              # the file grows once per flush
        rates.append(meter.rate(t))
    steady = rates[4:]
    assert all(abs(r - 1850) / 1850 < 0.01 for r in steady), steady
    meter.add(25.0, 1850 * 19)                   # no new rows for 5 s: stalled
    assert meter.rate(25.0) == 0.0
