"""Notifications for unattended runs (issue 15): every event kind reaches a local receiver — a loopback HTTP
endpoint (through apprise's json:// URL) and a shell command writing a file — and a notification that fails
never changes how the run ends; it is an event in the run file."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from helpers_proc import labrc, start, wait_until

from labrc.notify import end_kinds
from labrc.store import RunReader, list_runs

COMMAND = 'printf "%s|%s|%s\\n" "$LABRC_EVENT" "$LABRC_STATUS" "$LABRC_RUN_DIR" >> "$OUT"'


class Receiver:
    """A loopback HTTP endpoint recording every JSON body posted to it."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", 0))
                outer.bodies.append(json.loads(self.rfile.read(n) or b"{}"))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"json://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def titles(self) -> list[str]:
        return [b.get("title", "") for b in self.bodies]


@pytest.fixture(scope="module")
def receiver():
    r = Receiver()
    yield r
    r.httpd.shutdown()


def notify_run(tmp_path: Path, receiver: Receiver, protocol: str, *args: str, expect: int):
    """`labrc run` with --notify to the loopback endpoint and to a command; returns (file lines, run reader events)."""
    out = tmp_path / "told.txt"
    p = labrc("run", protocol, "--no-progress", "--set", f'data.dir="{tmp_path / "data"}"', "--notify", receiver.url,
              "--notify", COMMAND.replace("$OUT", str(out)), *args, cwd=tmp_path, timeout=120)
    assert p.returncode == expect, p.stderr[-1500:]
    run = list_runs(tmp_path / "data")[-1]
    with RunReader(run["path"]) as r:
        events = [e["message"] for e in r.events()]
    lines = out.read_text().splitlines() if out.exists() else []
    return [ln.split("|") for ln in lines], events, run


def kinds(lines) -> list[str]:
    return [ln[0] for ln in lines]


def test_a_completed_run_tells_the_command_and_the_url(tmp_path, receiver):
    n0 = len(receiver.bodies)
    lines, events, run = notify_run(tmp_path, receiver, "iv-sweep", "--preset", "volatile", expect=0)
    assert kinds(lines) == ["completed"] and lines[0][1] == "completed" and lines[0][2] == str(run["run_dir"])
    assert receiver.titles()[n0:] == ["labrc: completed"]
    assert "notification completed sent to command" in events and "notification completed sent to url 1 (json)" in events


def test_a_device_failure_is_told_as_such(tmp_path, receiver):
    lines, _events, _ = notify_run(tmp_path, receiver, "volatile-endurance", "--cycles", "5000", "--set",
                                  'sim.faults={device={kind="short",at_execute=4}}', expect=3)
    assert kinds(lines) == ["device_failure"]
    assert receiver.bodies[-1]["title"] == "labrc: device_failure" and "stuck ON" in receiver.bodies[-1]["message"]


def test_an_instrument_error_is_an_instrument_fault(tmp_path, receiver):
    lines, _, _ = notify_run(tmp_path, receiver, "iv-sweep", "--preset", "volatile", "--param", "repeats=3", "--set",
                             'sim.faults={error={match="ME1",code=-966,after=1}}', expect=1)
    assert kinds(lines) == ["instrument_fault"]          # the connection is fine: the safe state was verified


def test_a_lost_connection_tells_first_that_the_safe_state_is_not_verified(tmp_path, receiver):
    lines, events, _ = notify_run(tmp_path, receiver, "iv-sweep", "--preset", "volatile", "--param", "repeats=6",
                                  "--set", 'sim.faults={drop={match="ME1",after=3}}', expect=4)
    assert kinds(lines) == ["safe_state_unverified", "instrument_fault"]
    assert [t for t in receiver.titles()[-2:]] == ["labrc: safe_state_unverified", "labrc: instrument_fault"]
    assert any(e.startswith("notification safe_state_unverified sent to url") for e in events)


def test_an_instrument_that_stops_answering_is_a_stall_before_it_is_a_fault(tmp_path, receiver):
    # ME1 after the third burst gets no reply: no new rows for > stall_s while the state says running, then
    # the VISA timeout fails the run
    lines, events, _ = notify_run(tmp_path, receiver, "volatile-endurance", "--cycles", "3000", "--set",
                                  'sim.faults={no_reply={match="ME1",after=3}}', "--set", "instrument.timeout_s=4",
                                  "--set", "notify.stall_s=1.5", expect=1)
    assert kinds(lines) == ["stall", "instrument_fault"]
    assert receiver.titles()[-2:] == ["labrc: stall", "labrc: instrument_fault"]
    assert any(e.startswith("stall: ") and "wrote no new rows" in e for e in events)
    assert any(e.startswith("notification stall sent to command") for e in events)


def test_an_operator_stop_is_told_as_aborted(tmp_path, receiver):
    out = tmp_path / "told.txt"
    p = start(tmp_path, "run", "volatile-endurance", "--cycles", "2000000", "--no-progress", "--set",
              f'data.dir="{tmp_path / "data"}"', "--notify", COMMAND.replace("$OUT", str(out)))
    wait_until(lambda: any(r["n_rows"].get("cycles", 0) > 0 for r in list_runs(tmp_path / "data")),
               "the first cycles on disk", proc=p)
    p.send_signal(2)
    assert p.wait(60) == 130
    assert kinds([ln.split("|") for ln in out.read_text().splitlines()]) == ["aborted"]


def test_a_notification_that_fails_never_harms_the_run_and_is_an_event(tmp_path):
    dead = "json://127.0.0.1:9/nobody"      # the discard port: nothing listens on the loopback there
    p = labrc("run", "iv-sweep", "--preset", "volatile", "--no-progress", "--set", f'data.dir="{tmp_path / "d"}"',
              "--notify", dead, "--notify", "echo broken >&2; exit 7", cwd=tmp_path, timeout=120)
    assert p.returncode == 0, p.stderr[-1500:]                  # completed, exit 0, as without notifications
    run = list_runs(tmp_path / "d")[-1]
    assert run["status"] == "completed" and run["safe_ok"] is True
    with RunReader(run["path"]) as r:
        bad = [e for e in r.events() if e["message"].startswith("notification completed to")]
    assert {e["level"] for e in bad} == {"warning"} and len(bad) == 2
    assert any("command failed: exit 7: broken" in e["message"] for e in bad)
    assert any("url 1 (json) failed" in e["message"] for e in bad)
    assert "nobody" not in " ".join(e["message"] for e in bad)    # a URL may carry a secret: only its scheme is shown


def test_the_kinds_of_an_ending():
    assert end_kinds("completed", "", True) == ["completed"]
    assert end_kinds("failed", "StoreError: disk full", True) == ["failed"]
    assert end_kinds("failed", "VisaIOError: VI_ERROR_CONN_LOST (-1073807194)", False) == [
        "safe_state_unverified", "instrument_fault"]
    assert end_kinds("aborted", "SIGINT (operator stop)", None) == ["safe_state_unverified", "aborted"]
