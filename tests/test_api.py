"""The Python API as a notebook or a script uses it: ``labrc.run`` with typed values, ``labrc.open_run``,
from the main thread and from a worker thread, and ``import labrc`` staying light."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import labrc
from labrc.config import ConfigError
from labrc.signals import StopFlag
from protocols.base import ParameterError


def test_import_labrc_imports_nothing_heavy():
    code = ("import sys, labrc; heavy = [m for m in ('numpy', 'h5py', 'pymeasure', 'pyvisa', 'pydantic') "
            "if m in sys.modules]; print(heavy)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.stdout.strip() == "[]", p.stdout + p.stderr


def test_run_with_typed_values_returns_the_result_and_open_run_gives_the_data(tmp_path: Path):
    r = labrc.run("iv-sweep", preset="volatile", params={"repeats": 2, "step_v": 0.05}, data_dir=tmp_path / "d",
                  sample="W12", device="D03", echo=lambda m: None)
    assert (r.status, r.reason, r.exit_code, r.failure) == ("completed", "", 0, None)
    assert r.path.is_file() and r.path.parent.parent == tmp_path / "d" and "_iv_W12_D03_" in r.run_dir.name
    with labrc.open_run(r.path) as rd:
        df = rd.to_pandas("points")
        assert rd.metadata["run"]["sample"] == "W12" and rd.metadata["parameters"]["repeats"] == 2
    assert len(df) == 2 * 81 and set(df["sweep"]) == {0, 1} and df.attrs["units"]["i_meas"] == "A"


def test_config_as_a_dict_and_a_device_failure_is_a_result_not_an_exception(tmp_path: Path):
    cfg = {"sim": {"preset": "DDAB-Ag"}, "data": {"dir": str(tmp_path / "runs")}}
    r = labrc.run("volatile-endurance", params={"cycles": 1000}, config=cfg, echo=lambda m: None)
    assert r.status == "device_failure" and r.exit_code == 3 and r.failure["mode"] == "stuck ON"
    with r.open() as rd:
        assert rd.failure == r.failure


def test_a_labrc_toml_path_works_as_config(tmp_path: Path):
    (tmp_path / "lab.toml").write_text('[data]\ndir = "here"\n[run]\noperator = "nb"\n')
    r = labrc.run("iv-sweep", preset="volatile", config=tmp_path / "lab.toml", echo=lambda m: None)
    assert r.status == "completed" and r.path.parent.parent == tmp_path / "here"
    with labrc.open_run(r.run_dir) as rd:
        assert rd.metadata["run"]["operator"] == "nb"


@pytest.mark.parametrize("kw, error, text", [
    ({"params": {"cycles": "100"}}, ParameterError, "cycles must be an integer"),      # typed: no strings
    ({"params": {"cycels": 100}}, ParameterError, "unknown parameter 'cycels'"),
    ({"params": {"v_write_v": 9.0}}, ParameterError, "limits.v_min_v..v_max_v"),
    ({"config": {"limits": {"icc_max_a": 1.0}}}, ConfigError, "limits.icc_max_a"),
    ({"note": "a\nb"}, ConfigError, "run.note"),
    ({"colour": "red"}, TypeError, "run identity fields are"),
])
def test_bad_input_raises_before_any_run_file(tmp_path: Path, kw, error, text):
    with pytest.raises(error, match=text.replace(".", r"\.").replace("(", r"\(")):
        labrc.run("volatile-endurance", data_dir=tmp_path, **kw)
    assert not list(tmp_path.rglob("run.h5"))


def test_from_a_worker_thread_no_signal_handler_is_touched_and_a_stop_flag_stops_it(tmp_path: Path):
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    seen: dict = {}
    stop = StopFlag()
    messages: list[str] = []

    def echo(m: str) -> None:
        messages.append(m)
        seen.setdefault("handlers", {s: signal.getsignal(s) for s in before})
        if m.startswith("ETA"):                  # the run file exists: ask it to stop at the next block
            stop.set("notebook stop")

    def work() -> None:
        seen["result"] = labrc.run("volatile-endurance", params={"cycles": 200_000}, data_dir=tmp_path,
                                   stop=stop, echo=echo)

    t = threading.Thread(target=work)
    t.start()
    t.join(timeout=120)
    assert not t.is_alive()
    r = seen["result"]
    assert r.status == "aborted" and r.reason == "notebook stop" and r.exit_code == 130
    assert seen["handlers"] == before and {s: signal.getsignal(s) for s in before} == before
    with labrc.open_run(r.path) as rd:
        n = rd.n_rows("cycles")
        assert n < 200_000 and rd.safe_state["ok"]            # stopped at a block boundary, safe state verified
        assert np.array_equal(rd.stream("cycles")["seq"], np.arange(n))
