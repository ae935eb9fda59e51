"""Bad input and environment faults end in one line ``labrc: error: ...`` naming what to fix, exit 2,
before any instrument command, with nothing already on disk lost.

In-process through click's CliRunner where the process boundary does not matter; as a subprocess where
it does (a VISA implementation made unimportable, a real closed TCP port, a mid-run timeout).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from labrc.cli import main
from labrc.outcome import EXIT_BAD_INPUT, EXIT_RUN_FAILED

SWEEP = ("run", "iv-sweep", "--preset", "volatile", "--no-progress")


def cli(tmp_path: Path, *args: str) -> tuple[int, str]:
    """Run ``labrc ARGS`` in ``tmp_path`` (no labrc.toml there unless the test wrote one)."""
    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        res = CliRunner().invoke(main, list(args), env={"LABRC_CONFIG": None}, catch_exceptions=False)
    finally:
        os.chdir(old)
    return res.exit_code, res.stderr


def labrc_proc(tmp_path: Path, *args: str, prelude: str = "") -> subprocess.CompletedProcess:
    """The real console entry point in a fresh process; ``prelude`` runs first (to change the environment)."""
    code = f"{prelude}\nimport sys\nfrom labrc.entry import main\nsys.argv = ['labrc'] + {list(args)!r}\nmain()\n"
    env = dict(os.environ)
    env.pop("LABRC_CONFIG", None)
    return subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, env=env)


def one_error_line(stderr: str, *needles: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("labrc: error: "), stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])
    assert "Traceback" not in stderr
    return lines[0]


def no_run_in(folder: Path) -> None:
    assert not list(folder.rglob("run.h5")) and not list(folder.rglob("run.journal")), list(folder.rglob("*"))


# ---------------------------------------------------------------------------- environment
def test_data_dir_that_is_a_file(tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("keep me")
    code, err = cli(tmp_path, *SWEEP, "--set", f"data.dir={f}")
    assert code == EXIT_BAD_INPUT
    one_error_line(err, "data.dir=", "is a file")
    assert f.read_text() == "keep me"


@pytest.fixture
def read_only_dir(tmp_path):
    d = tmp_path / "ro"
    d.mkdir()
    (d / "older_run.txt").write_text("an earlier result")
    d.chmod(0o555)
    immutable = False
    if os.access(d, os.W_OK):                        # root ignores the mode bits: make it immutable
        immutable = subprocess.run(["chattr", "+i", str(d)], capture_output=True).returncode == 0
        if not immutable:
            d.chmod(0o755)
            pytest.skip("cannot make a read-only folder here (root without chattr)")
    yield d
    if immutable:
        subprocess.run(["chattr", "-i", str(d)], check=True)
    d.chmod(0o755)


def test_data_dir_that_is_read_only(tmp_path, read_only_dir):
    code, err = cli(tmp_path, *SWEEP, "--set", f"data.dir={read_only_dir}")
    assert code == EXIT_BAD_INPUT
    one_error_line(err, "data.dir=", "not writable")
    assert sorted(p.name for p in read_only_dir.iterdir()) == ["older_run.txt"]
    assert (read_only_dir / "older_run.txt").read_text() == "an earlier result"


def test_data_dir_with_a_name_too_long_for_the_file_system(tmp_path):
    code, err = cli(tmp_path, *SWEEP, "--set", f"data.dir={tmp_path / ('x' * 300)}")
    assert code == EXIT_BAD_INPUT
    one_error_line(err, "data.dir", "300 bytes", "255")


def test_listing_runs_in_a_data_dir_with_a_name_too_long(tmp_path):
    (tmp_path / "labrc.toml").write_text(f'[data]\ndir = "{"z" * 300}"\n')
    code, err = cli(tmp_path, "ls")
    assert code == EXIT_BAD_INPUT
    one_error_line(err, "data.dir=", "File name too long")


def test_a_labrc_toml_that_is_not_utf8(tmp_path):
    (tmp_path / "labrc.toml").write_bytes(b'[data]\ndir = "runs"  # caf\xe9\n')
    code, err = cli(tmp_path, "ls")
    assert code == EXIT_BAD_INPUT
    one_error_line(err, "labrc.toml", "not UTF-8", "0xe9")


def test_a_params_file_that_is_not_utf8(tmp_path):
    (tmp_path / "p.toml").write_bytes(b'repeats = 2  # \xff\xfe\n')
    code, err = cli(tmp_path, *SWEEP, "--params-file", "p.toml", "--set", "data.dir=runs")
    assert code == EXIT_BAD_INPUT
    one_error_line(err, "p.toml", "not UTF-8")
    assert not (tmp_path / "runs").exists()


def test_backend_visa_with_no_visa_implementation_installed(tmp_path):
    from pyvisa.ctwrapper import IVIVisaLibrary
    if IVIVisaLibrary.get_library_paths():
        pytest.skip("an IVI VISA library is installed on this machine")
    # pyvisa-py made unimportable in the child: exactly what pyvisa sees when it is not installed
    p = labrc_proc(tmp_path, *SWEEP, "--set", "data.dir=runs", "--set", "instrument.backend=visa",
                   "--set", "instrument.resource=TCPIP0::127.0.0.1::1225::SOCKET",
                   prelude="import sys; sys.modules['pyvisa_py'] = None")
    assert p.returncode == EXIT_BAD_INPUT, p.stderr
    one_error_line(p.stderr, "instrument.visa_library=", "no VISA implementation", "pyvisa-py")
    no_run_in(tmp_path)


@pytest.mark.parametrize("backend", [("instrument.backend=sim",),
                                     ("instrument.backend=visa", 'instrument.visa_library="@py"')])
def test_a_garbage_resource_string(tmp_path, backend):
    sets = [a for s in (*backend, "instrument.resource=garbage", "data.dir=runs") for a in ("--set", s)]
    code, err = cli(tmp_path, *SWEEP, *sets)
    assert code == EXIT_BAD_INPUT
    one_error_line(err, "instrument.resource='garbage'", "is not a VISA resource name", "::SOCKET")
    no_run_in(tmp_path)


def test_an_unreachable_instrument_closed_port(tmp_path):
    pytest.importorskip("pyvisa_py")
    with socket.socket() as s:                       # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = labrc_proc(tmp_path, *SWEEP, "--set", "data.dir=runs", "--set", "instrument.backend=visa",
                   "--set", 'instrument.visa_library="@py"', "--set", "instrument.timeout_s=2",
                   "--set", f"instrument.resource=TCPIP0::127.0.0.1::{port}::SOCKET")
    assert p.returncode == EXIT_BAD_INPUT, p.stderr
    one_error_line(p.stderr, f"instrument.resource='TCPIP0::127.0.0.1::{port}::SOCKET'", "cannot connect",
                   "KXCI")
    no_run_in(tmp_path)


# ---------------------------------------------------------------------------- plot and run references
def test_plot_on_a_file_that_is_not_a_run(tmp_path):
    (tmp_path / "notes.txt").write_text("not HDF5")
    code, err = cli(tmp_path, "plot", "notes.txt")
    assert code == EXIT_BAD_INPUT
    one_error_line(err, "notes.txt")
    assert (tmp_path / "notes.txt").read_text() == "not HDF5"


def test_plot_with_output_into_a_missing_folder(tmp_path):
    code, _ = cli(tmp_path, *SWEEP, "--set", "data.dir=runs")
    assert code == 0
    run_dir = next((tmp_path / "runs").iterdir())
    before = sorted(p.name for p in run_dir.iterdir())
    code, err = cli(tmp_path, "plot", str(run_dir), "-o", str(tmp_path / "nope" / "f.png"))
    assert code == EXIT_BAD_INPUT
    one_error_line(err, "-o/--output", "does not exist")
    assert sorted(p.name for p in run_dir.iterdir()) == before and not (tmp_path / "nope").exists()


def test_a_run_reference_over_255_characters(tmp_path):
    code, err = cli(tmp_path, "show", "r" * 300)
    assert code == EXIT_BAD_INPUT
    one_error_line(err, "run reference is 300 characters", "255")


# ---------------------------------------------------------------------------- accepted before, wrong
def test_top_on_an_smu_the_simulated_chassis_does_not_have(tmp_path):
    code, err = cli(tmp_path, *SWEEP, "--set", "data.dir=runs", "--set", "instrument.top=SMU5")
    assert code == EXIT_BAD_INPUT
    one_error_line(err, "instrument.top=SMU5", "no SMU5", "SMU1, SMU2, SMU3, SMU4")
    assert not (tmp_path / "runs").exists()


def test_top_on_an_smu_the_instrument_does_not_report(tmp_path):
    # backend "visa": the configuration cannot know the chassis; the *OPT? answer refuses SMU5 before any
    # voltage (the simulator reached through VISA as a real instrument, pyvisa's @labrc backend)
    code, err = cli(tmp_path, *SWEEP, "--set", "data.dir=runs", "--set", "instrument.backend=visa",
                    "--set", 'instrument.visa_library="@labrc"', "--set", "instrument.top=SMU5")
    assert code == EXIT_BAD_INPUT
    one_error_line(err, "instrument.top=SMU5", "the instrument has no SMU5", "installed SMUs: SMU1")
    no_run_in(tmp_path)


@pytest.mark.parametrize("load", ["resistor:0", "resistor:-5"])
def test_a_calibration_resistor_that_is_not_positive(tmp_path, load):
    code, err = cli(tmp_path, *SWEEP, "--set", "data.dir=runs", "--set", f"sim.load={load}")
    assert code == EXIT_BAD_INPUT
    one_error_line(err, "sim.load", "> 0 ohm", "resistor:1e6")


def test_a_boolean_parameter_that_is_neither_true_nor_false(tmp_path):
    code, err = cli(tmp_path, "run", "volatile-endurance", "--cycles", "100", "--dry-run",
                    "--param", "stop_on_failure=maybe")
    assert code == EXIT_BAD_INPUT
    one_error_line(err, "stop_on_failure='maybe'", "true/false, 1/0, yes/no or on/off")


@pytest.mark.parametrize("word, value", [("true", True), ("No", False), ("1", True), ("off", False)])
def test_the_accepted_boolean_spellings(word, value):
    from protocols import get_protocol
    proto = get_protocol("volatile-endurance").from_options(None, {"stop_on_failure": word})
    assert proto.params.stop_on_failure is value


@pytest.mark.parametrize("faults, needles", [
    ('{error={mtch="DV"}}', ("sim.faults.error.mtch", "unknown key")),
    ('{error={match="DV",after="x"}}', ("sim.faults.error.after", "integer", "'x'")),
    ('{device={kind="melt"}}', ("sim.faults.device.kind", "'short', 'open', 'stuck_on' or 'stuck_off'")),
    ('{meltdown={match="ME1"}}', ("sim.faults", "unknown fault ['meltdown']", "no_reply, error, drop, device")),
])
def test_fault_drill_typos_are_refused_before_the_run(tmp_path, faults, needles):
    code, err = cli(tmp_path, *SWEEP, "--set", "data.dir=runs", "--set", f"sim.faults={faults}")
    assert code == EXIT_BAD_INPUT
    one_error_line(err, *needles)
    assert not (tmp_path / "runs").exists()


def test_the_device_fault_kinds_are_the_simulators():
    from labrc.config import DEVICE_FAULT_KINDS
    from sim_backend.model import FAILURES
    assert set(DEVICE_FAULT_KINDS) == set(FAILURES)


def test_an_integer_out_of_range_prints_as_an_integer(tmp_path):
    code, err = cli(tmp_path, "run", "volatile-endurance", "--cycles", "10000001", "--dry-run")
    assert code == EXIT_BAD_INPUT
    line = one_error_line(err)
    assert line == "labrc: error: cycles=10000001 is outside the allowed range [1, 10000000]"


def test_a_no_reply_timeout_names_the_command(tmp_path):
    p = labrc_proc(tmp_path, *SWEEP, "--set", "data.dir=runs", "--set", "instrument.timeout_s=0.5",
                   "--set", 'sim.faults={no_reply={match="ME1"}}')
    assert p.returncode == EXIT_RUN_FAILED, p.stderr            # a fault during the run: the run failed
    assert "no reply to 'MD ME1' within 0.5 s" in p.stderr      # the message that carried ME1
    assert "Traceback" not in p.stderr


def test_no_reply_while_connecting_is_a_connection_error_naming_the_command(tmp_path):
    code, err = cli(tmp_path, *SWEEP, "--set", "data.dir=runs", "--set", "instrument.timeout_s=0.3",
                    "--set", 'sim.faults={no_reply={match="*OPT?"}}')
    assert code == EXIT_BAD_INPUT
    one_error_line(err, "instrument.resource=", "no reply to '*OPT?' within 0.3 s")
    no_run_in(tmp_path)
