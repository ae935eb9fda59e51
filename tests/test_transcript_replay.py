"""A recorded session served back as an instrument (sim_backend.transcript_replay, ``path@labrc``).

tests/transcripts/<protocol>.jsonl were recorded from the simulator (``instrument.transcript = true``) with
the small runs in CASES; ``python tests/test_transcript_replay.py --record`` records them again (do that
when a driver or protocol change is *meant* to change the commands, and say so in the commit).
Each protocol, run through the real stack (driver → pyvisa → the replay library) against its transcript,
must send exactly the recorded commands; a deliberately changed command is caught and named.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import pyvisa

from instruments.keithley4200 import Keithley4200
from labrc.config import load_config
from labrc.runner import run_protocol
from labrc.store import LAYOUT_VERSION, RunReader
from protocols import get_protocol
from sim_backend.library import LabrcSimLibrary
from sim_backend.transcript_replay import (
    RUN_LAYOUT,
    TranscriptError,
    TranscriptMismatch,
    TranscriptReplayLibrary,
    load_transcript,
)

# small runs of every protocol (retention: host-time waits on replay, so its times are short)
CASES: dict[str, dict] = {
    "iv-sweep": {"v_max_v": 5.0, "v_min_v": -7.0, "step_v": 0.5, "icc_a": 1e-3, "repeats": 2},
    "volatile-endurance": {"cycles": 40, "n_detail": 3},
    "nonvolatile-endurance": {"cycles": 8, "n_detail": 3},
    "icc-set": {"n_levels": 3, "repeats": 1, "step_v": 0.25, "rest_s": 0.005, "n_read": 2},
    "spike-train": {"pattern_class": "bursting", "cycles": 1, "n_nodes": 6},
    "retention": {"t_min_s": 0.005, "t_max_s": 0.05, "n_reads": 3, "step_v": 0.25, "n_read": 2},
    "reconfigure": {"n_volatile": 2, "n_levels": 1, "step_v": 0.25, "rest_s": 0.005},
}
RESOURCE = "TCPIP0::k4200.sim::1225::SOCKET"
HERE = Path(__file__).parent
TRANSCRIPTS = HERE / "transcripts"


def record(name: str, data_dir: Path) -> Path:
    """Run CASES[name] on the simulator with the transcript on; returns the run file."""
    cfg = load_config(None, [f'data.dir="{data_dir}"', "instrument.transcript=true", "data.compact=false"])
    proto = get_protocol(name).from_options(None, {k: str(v) for k, v in CASES[name].items()})
    out = run_protocol(cfg, proto, progress=False, echo=lambda m: None)
    assert out.status == "completed", out.reason
    return out.path


def replay(name: str, lib_path: Path, data_dir: Path):
    """Run CASES[name] against a transcript through the visa backend, as an operator would configure it."""
    cfg = load_config(None, [f'data.dir="{data_dir}"', 'instrument.backend="visa"',
                             f'instrument.visa_library="{lib_path}@labrc"', f'instrument.resource="{RESOURCE}"',
                             "data.compact=false"])
    proto = get_protocol(name).from_options(None, {k: str(v) for k, v in CASES[name].items()})
    return run_protocol(cfg, proto, progress=False, echo=lambda m: None)


def _served(lib_path: Path) -> TranscriptReplayLibrary:
    """The library pyvisa used for ``lib_path`` (pyvisa keeps one per path)."""
    lib = LabrcSimLibrary(str(lib_path))
    assert isinstance(lib, TranscriptReplayLibrary)
    return lib


@pytest.mark.parametrize("name", list(CASES))
def test_each_protocol_sends_exactly_its_recorded_commands(tmp_path, name):
    path = TRANSCRIPTS / f"{name}.jsonl"
    out = replay(name, path, tmp_path)
    assert out.status == "completed", out.reason
    assert out.safe_state["ok"], out.safe_state
    assert _served(path).remaining == 0 and _served(path).failure is None


def test_the_shipped_transcripts_are_small_and_recorded_by_the_run_loop():
    files = sorted(TRANSCRIPTS.glob("*.jsonl"))
    assert {f.stem for f in files} == set(CASES)
    assert sum(f.stat().st_size for f in files) < 1_000_000
    assert RUN_LAYOUT == LAYOUT_VERSION
    for f in files:
        t = load_transcript(f)
        assert [r.text for r in t.records[:4:2]] == ["*OPT?", "*IDN?"]    # recorded from the connection on
        assert t.records[3].text.startswith("KEITHLEY INSTRUMENTS") and t.records[-1].dir == "r"


def test_a_changed_compliance_is_caught_and_named(tmp_path, monkeypatch):
    path = TRANSCRIPTS / "iv-sweep.jsonl"
    original = Keithley4200.list_sweep

    def wrong_compliance(self, smu, v, icc_a, *a, **kw):        # a driver that doubles the SET compliance
        return original(self, smu, v, icc_a * 2 if icc_a == 1e-3 else icc_a, *a, **kw)

    monkeypatch.setattr(Keithley4200, "list_sweep", wrong_compliance)
    out = replay("iv-sweep", path, tmp_path)
    assert out.status == "failed"
    lib = _served(path)
    first = next(r for r in load_transcript(path).records if r.dir == "w" and r.text.startswith("VL1, 1, 0.001,"))
    assert out.reason.startswith("TranscriptMismatch: transcript replay: iv-sweep.jsonl line ")
    assert f"line {first.line} expects {first.text!r}, the client sent {first.text.replace('0.001', '0.002')!r}" \
        in out.reason
    assert lib.failure is not None and lib.remaining > 0


def test_the_recordings_hold_list_only_bursts_and_a_driver_resending_the_setup_is_caught(tmp_path, monkeypatch):
    path = TRANSCRIPTS / "volatile-endurance.jsonl"
    sent = [r.text for r in load_transcript(path).records if r.dir == "w"]
    runs = [i for i, c in enumerate(sent) if c == "MD ME1"]
    assert len(runs) >= 3 and sent.count("BC") == 1              # the setup once, then only the lists
    assert sent[runs[1] - 1] == "SP" and sent[runs[1] - 2].startswith("SS VL1, ")    # a new list, check, run
    assert sent[runs[2] - 1] == "DO 'I1'" and sent[runs[2]:runs[2] + 3] == ["MD ME1", "SP", "DO 'I1'"]  # the list held
    monkeypatch.setattr(Keithley4200, "held", property(lambda self: None))    # a driver that forgets the setup
    out = replay("volatile-endurance", path, tmp_path)
    assert out.status == "failed" and "expects 'SS VL1, " in out.reason and "the client sent 'BC'" in out.reason


def test_a_different_parameter_is_caught_at_its_first_command(tmp_path):
    path = TRANSCRIPTS / "icc-set.jsonl"
    cfg = load_config(None, [f'data.dir="{tmp_path}"', 'instrument.backend="visa"',
                             f'instrument.visa_library="{path}@labrc"', f'instrument.resource="{RESOURCE}"'])
    proto = get_protocol("icc-set").from_options(None, {**{k: str(v) for k, v in CASES["icc-set"].items()},
                                                        "v_set_v": "2.5"})
    out = run_protocol(cfg, proto, progress=False, echo=lambda m: None)
    assert out.status == "failed" and "expects" in out.reason and "the client sent" in out.reason


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> Path:
    """An icc-set run recorded now, with transcript.jsonl beside its run.h5 (as the run loop leaves them)."""
    return record("icc-set", tmp_path_factory.mktemp("rec"))


def test_the_run_file_attachment_replays_like_the_jsonl(tmp_path, recorded):
    run = recorded                                         # replayed from /entry/attachments/transcript
    out = replay("icc-set", run, tmp_path / "rep")
    assert out.status == "completed", out.reason
    assert _served(run).remaining == 0
    raw = run.parent / "transcript.jsonl"                 # no handshake in it: answered from run.h5 beside it
    assert load_transcript(raw).records[0].text != "*OPT?" and load_transcript(raw).identity is not None
    assert replay("icc-set", raw, tmp_path / "rep2").status == "completed"
    assert _served(raw).remaining == 0
    with RunReader(run) as a, RunReader(out.path) as b:     # same replies, same data
        for col in ("g_lrs", "g_hrs", "i_set_peak", "v_set"):
            assert np.array_equal(a.stream("levels")[col], b.stream("levels")[col])


def test_pyvisa_library_environment_variable_serves_a_plain_pyvisa_client(tmp_path):
    """A script that knows nothing of labrc: PYVISA_LIBRARY=path@labrc and pyvisa.ResourceManager()."""
    path = TRANSCRIPTS / "retention.jsonl"
    recs = load_transcript(path).records
    sent = [r.text for r in recs if r.dir == "w"][:2]           # *OPT?, *IDN? (the recorded handshake)
    code = (
        "import pyvisa\n"
        "rm = pyvisa.ResourceManager()\n"
        f"k = rm.open_resource({RESOURCE!r}, write_termination='\\0', read_termination='\\0')\n"
        f"print(k.query({sent[0]!r})); print(k.query({sent[1]!r}))\n"
        "k.write('XX')\n")
    env = {"PYVISA_LIBRARY": f"{path}@labrc", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(HERE.parent)}
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60,
                       check=False)
    assert r.stdout.splitlines() == [recs[1].text, recs[3].text], r.stderr
    assert recs[3].text.startswith("KEITHLEY INSTRUMENTS")
    assert "TranscriptMismatch" in r.stderr and "expects" in r.stderr and "the client sent 'XX'" in r.stderr


def test_a_read_where_the_recording_writes_and_the_end_of_the_recording_are_named():
    path = TRANSCRIPTS / "spike-train.jsonl"
    recs = load_transcript(path).records
    k = pyvisa.ResourceManager(f"{path}@labrc").open_resource(RESOURCE, write_termination="\0", read_termination="\0")
    assert k.query("*OPT?") == recs[1].text
    with pytest.raises(TranscriptMismatch, match=r"spike-train.jsonl line 3 expects the client to send '\*IDN\?', "
                                                 "the client reads a reply instead"):
        k.read()
    with pytest.raises(TranscriptMismatch, match=r"stopped at the first difference \(spike-train.jsonl line 3\)"):
        k.query("*IDN?")
    k.close()
    k = pyvisa.ResourceManager(f"{path}@labrc").open_resource(RESOURCE, write_termination="\0", read_termination="\0")
    for r in recs:                                  # a new session replays from the start, to the end
        if r.dir == "w":
            k.write(r.text)
        else:
            assert k.read() == r.text
    with pytest.raises(TranscriptMismatch, match=f"the transcript ended \\(all {len(recs)} records served\\)"):
        k.write("*RST")


def _bad_files(tmp_path: Path, run: Path) -> dict[str, Path]:
    good = TRANSCRIPTS / "iv-sweep.jsonl"
    text = good.read_text()
    out = {"truncated": tmp_path / "cut.jsonl", "not a transcript": tmp_path / "other.jsonl",
           "empty": tmp_path / "empty.jsonl", "shortened reply": tmp_path / "short.jsonl",
           "newer run layout": tmp_path / "newer.h5", "not a labrc h5": tmp_path / "foreign.h5",
           "truncated run file": tmp_path / "cut.h5"}
    out["truncated"].write_text(text[: len(text) // 2 + 7])
    out["not a transcript"].write_text('{"a": 1}\n')
    out["empty"].write_text("")
    rec = json.loads(text.splitlines()[3])
    out["shortened reply"].write_text(json.dumps({**rec, "n_chars": 9999}) + "\n")
    shutil.copy(run, out["newer run layout"])
    with h5py.File(out["newer run layout"], "r+") as f:
        f.attrs["layout"] = "labrc.run/2"
    with h5py.File(out["not a labrc h5"], "w") as f:
        f["x"] = np.arange(2)
    out["truncated run file"].write_bytes(run.read_bytes()[:3000])
    return out


def test_bad_transcripts_are_one_line_at_open(tmp_path, recorded):
    for what, path in _bad_files(tmp_path, recorded).items():
        with pytest.raises(TranscriptError) as e:
            load_transcript(path)
        msg = str(e.value)
        assert "\n" not in msg and str(path) in msg, (what, msg)
    # through labrc: the connection is refused with one line, exit 2, and no run file
    (tmp_path / "labrc.toml").write_text(
        f'[instrument]\nbackend = "visa"\nvisa_library = "{tmp_path / "cut.jsonl"}@labrc"\n'
        f'resource = "{RESOURCE}"\n[data]\ndir = "{tmp_path / "data"}"\n')
    r = subprocess.run([sys.executable, "-m", "labrc", "--config", str(tmp_path / "labrc.toml"), "run", "iv-sweep",
                        "--no-progress"], capture_output=True, text=True, timeout=60, check=False, cwd=HERE.parent)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "truncated" in lines[0] and "Traceback" not in r.stderr
    assert not (tmp_path / "data").exists() or not any((tmp_path / "data").iterdir())


def prologue(run: Path) -> list[dict]:
    """The connection handshake the run loop sends before it starts recording (the driver's ``*OPT?``, then
    ``*IDN?`` and ``*OPT?`` for the run's metadata), with the answers the run file recorded for them."""
    with RunReader(run) as r:
        inst = r.metadata["instrument"]
    opt = ",".join(inst["options"])
    pairs = (("*OPT?", opt), ("*IDN?", inst["idn"]), ("*OPT?", opt))
    return [{"seq": -1, "dir": d, "text": t, "src": "metadata"} for q, a in pairs for d, t in (("w", q), ("r", a))]


def _record_all() -> None:
    """Record tests/transcripts/ again from the simulator (small runs of CASES), handshake first."""
    import tempfile
    TRANSCRIPTS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as d:
        for name in CASES:
            run = record(name, Path(d) / name)
            body = (run.parent / "transcript.jsonl").read_text()
            head = "".join(json.dumps(x, separators=(",", ":")) + "\n" for x in prologue(run))
            (TRANSCRIPTS / f"{name}.jsonl").write_text(head + body)
            print(name, (TRANSCRIPTS / f"{name}.jsonl").stat().st_size, "bytes")


if __name__ == "__main__":
    if "--record" in sys.argv:
        _record_all()
