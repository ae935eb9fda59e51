"""Notifications for unattended runs: a shell command and/or notification URLs, fired when a run ends
(completed, device failure, instrument fault, other failure, aborted), when its safe state was not
verified, and when it stalls (no new rows for ``[notify] stall_s`` while it says it is running).

Decisions (issue 15):

* **Never harms the run.** Every target runs in its own daemon thread, joined for at most
  ``[notify] timeout_s``; an exception, a non-zero exit, a refused URL or a timeout becomes one
  ``warning`` event in the run file ("notification ... failed: ..."), never an exception in the run loop.
  A successful one is an ``info`` event, so the file says who was told what and when.
* **URLs go through apprise** (one library for mail, chat services, ``json://`` web hooks, ...): no HTTP
  client of our own. It is imported only when a URL is configured.
* **The end hook runs before finalization** (labrc.runner._execute, after the safe shutdown, just before
  ``writer.close``): the status, the reason and the verified safe state are known and the events can still
  be written. Its cost is bounded by ``timeout_s`` (targets run in parallel); the journal already holds
  every row, so a kill during it loses nothing.
* **The stall watcher is a thread in the run process** (started by ``labrc run``), not in ``labrc serve``:
  an unattended run is watched whether or not anyone serves the data directory, and the server stays a
  pure reader. It reads only ``run.state.json`` (never the HDF5 file the process writes), whose row counts
  the writer refreshes about every second while rows arrive (labrc.store.writer.STATE_REFRESH_S); so
  ``stall_s`` must exceed ``data.flush_interval_s``. A thread is not the run loop: it cannot write the file
  safely while the main thread appends, so its outcomes are queued and written as events by the end hook
  (with the time of the stall in the message); the notification itself goes out at once.
* **The instrument fault** is a failure whose reason names an instrument error (KXCIError, KXCITimeout,
  a VISA I/O error such as a lost connection); any other failure is ``failed``.

The shell command gets the facts as environment variables (LABRC_EVENT, LABRC_STATUS, LABRC_RUN_DIR,
LABRC_RUN_ID, LABRC_MESSAGE, LABRC_REASON, LABRC_SAFE_OK), never spliced into the command text.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .config import Config, NotifySection

INSTRUMENT_ERRORS = ("KXCIError", "KXCITimeout", "VisaIOError", "InstrumentError", "VI_ERROR_")
TITLE = "labrc"


@dataclass
class Notice:
    """One thing to tell: the event kind, one line of text and the run's facts."""

    kind: str
    message: str
    run_dir: Path
    facts: dict = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        f = self.facts
        return {"LABRC_EVENT": self.kind, "LABRC_MESSAGE": self.message, "LABRC_RUN_DIR": str(self.run_dir),
                "LABRC_RUN_ID": str(f.get("run_id", "")), "LABRC_STATUS": str(f.get("status", "")),
                "LABRC_REASON": str(f.get("reason", "")), "LABRC_SAFE_OK": str(f.get("safe_ok", ""))}


def end_kinds(status: str, reason: str, safe_ok: bool | None) -> list[str]:
    """The event kinds of a run that ended so: the unverified safe state first (the operator must act)."""
    kinds = [] if safe_ok else ["safe_state_unverified"]
    if status == "failed":
        kinds.append("instrument_fault" if any(k in reason for k in INSTRUMENT_ERRORS) else "failed")
    elif status in ("completed", "device_failure", "aborted"):
        kinds.append(status)
    return kinds


class Notifier:
    """Sends a :class:`Notice` to the configured command and URLs; returns one result line per target."""

    def __init__(self, cfg: NotifySection) -> None:
        self.cfg = cfg

    def wants(self, kind: str) -> bool:
        return self.cfg.enabled and kind in self.cfg.events

    def send(self, notice: Notice) -> list[tuple[str, str]]:
        """[(level, text)] for the run's event log: "info" when a target took it, "warning" when not."""
        targets: list[tuple[str, Callable[[], str]]] = []
        if self.cfg.command:
            targets.append(("command", lambda: self._command(notice)))
        for i, url in enumerate(self.cfg.urls):
            targets.append((f"url {i + 1} ({_scheme(url)})", lambda u=url: self._url(u, notice)))
        results: dict[str, str | None] = {name: None for name, _ in targets}

        def run(name: str, fn: Callable[[], str]) -> None:
            try:
                results[name] = fn()
            except Exception as exc:  # noqa: BLE001 - a failing notification never reaches the run
                results[name] = f"{type(exc).__name__}: {exc}"

        threads = [threading.Thread(target=run, args=t, daemon=True, name=f"labrc-notify-{t[0]}") for t in targets]
        for t in threads:
            t.start()
        deadline = time.monotonic() + self.cfg.timeout_s
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        out = []
        for name, err in results.items():
            if err is None and any(t.is_alive() and t.name.endswith(name) for t in threads):
                err = f"no answer within {self.cfg.timeout_s:g} s (notify.timeout_s); abandoned"
            if err:
                out.append(("warning", f"notification {notice.kind} to {name} failed: {err}"))
            else:
                out.append(("info", f"notification {notice.kind} sent to {name}"))
        return out

    def _command(self, notice: Notice) -> str:
        p = subprocess.run(self.cfg.command, shell=True, env={**os.environ, **notice.env()}, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=self.cfg.timeout_s, check=False)
        if p.returncode:
            return f"exit {p.returncode}: {(p.stderr or p.stdout).strip()[-200:]}"
        return ""

    def _url(self, url: str, notice: Notice) -> str:
        import apprise
        a = apprise.Apprise()
        if not a.add(url):
            return "not a notification URL apprise knows (see the apprise documentation for the forms)"
        with apprise.LogCapture(level=apprise.logging.WARNING, fmt="%(message)s") as log:
            ok = a.notify(title=f"{TITLE}: {notice.kind}", body=notice.message)
        if not ok:
            lines = [ln for ln in log.getvalue().splitlines() if ln.strip()]
            return lines[-1][-200:] if lines else "the service refused it"
        return ""


def _scheme(url: str) -> str:
    """The service part of a URL only: a URL may hold a password or a token, which no event log shows."""
    return url.split("://", 1)[0] if "://" in url else "?"


# --------------------------------------------------------------------------- the stall watcher
class StallWatch:
    """Watches the run this process writes: "stall" when its rows stop growing for ``stall_s`` while its state
    says running (once per stall; armed again when rows arrive). Outcomes wait in ``records`` for the end hook."""

    def __init__(self, cfg: Config, pid: int | None = None, poll_s: float | None = None) -> None:
        self.cfg, self.data_dir, self.pid = cfg, cfg.data_dir, pid or os.getpid()
        self.notifier = Notifier(cfg.notify)
        self.poll_s = poll_s or min(1.0, cfg.notify.stall_s / 4)
        self.records: list[tuple[str, str]] = []
        self.run_dir: Path | None = None
        self._seen: set[str] = set()
        self._stop = threading.Event()
        self._t0 = time.time()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="labrc-stall-watch")

    @classmethod
    def start(cls, cfg: Config) -> StallWatch | None:
        """Start watching (None when no target wants stalls)."""
        if not Notifier(cfg.notify).wants("stall"):
            return None
        w = cls(cfg)
        _WATCHES.append(w)
        w._thread.start()
        return w

    def stop(self) -> None:
        self._stop.set()
        if self in _WATCHES:
            _WATCHES.remove(self)

    def _find_run(self) -> Path | None:
        """The run directory this process created: a new folder of data.dir whose state names our pid."""
        try:
            names = [e.name for e in os.scandir(self.data_dir) if e.is_dir(follow_symlinks=False)]
        except OSError:
            return None
        for name in names:
            if name in self._seen:
                continue
            st = _state(self.data_dir / name)
            if st is None:
                continue               # maybe mid-creation: look again next time
            self._seen.add(name)
            if st.get("pid") == self.pid and st.get("status") == "running":
                return self.data_dir / name
        return None

    def _loop(self) -> None:
        last_rows, last_change, stalled = None, time.monotonic(), False
        while not self._stop.wait(self.poll_s):
            if self.run_dir is None:
                self.run_dir = self._find_run()
                last_change = time.monotonic()
                continue
            st = _state(self.run_dir)
            if st is None:
                continue
            if st.get("status") != "running":
                return
            rows = sum((st.get("n_rows") or {}).values())
            now = time.monotonic()
            if rows != last_rows:
                last_rows, last_change, stalled = rows, now, False
            elif not stalled and now - last_change >= self.cfg.notify.stall_s:
                stalled = True
                self._fire(st, rows, now - last_change)

    def _fire(self, st: dict, rows: int, idle_s: float) -> None:
        msg = (f"stall: {self.run_dir.name} says running but wrote no new rows for {idle_s:.0f} s "
               f"(notify.stall_s={self.cfg.notify.stall_s:g}; {rows:,} rows on disk)")
        when = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime())
        self.records.append(("warning", f"{msg} [at {when}]"))
        notice = Notice("stall", msg, self.run_dir, {"run_id": st.get("run_id", ""), "status": "running"})
        self.records += [(lv, f"{text} [at {when}]") for lv, text in self.notifier.send(notice)]


_WATCHES: list[StallWatch] = []


def _state(run_dir: Path) -> dict | None:
    try:
        return json.loads((run_dir / "run.state.json").read_text())
    except (OSError, ValueError):
        return None


# --------------------------------------------------------------------------- the end hook
def notify_run_end(cfg: Config, run_dir: Path, status: str, reason: str, safe: dict, failure: dict | None,
                   log: Callable[[str, str], None]) -> None:
    """Called by the run loop once the status and the safe state are known, before the file is finalized:
    writes the stall watcher's records and sends the end notifications; every outcome is an event. Never
    raises (a notification must not change how the run ends)."""
    try:
        for w in [w for w in _WATCHES if w.run_dir in (None, run_dir)]:
            w.stop()
            for level, text in w.records:
                log(text, level)
        notifier = Notifier(cfg.notify)
        safe_ok = safe.get("ok")
        facts = {"status": status, "reason": reason, "safe_ok": safe_ok, "run_id": _run_id(run_dir)}
        for kind in end_kinds(status, reason, safe_ok):
            if notifier.wants(kind):
                for level, text in notifier.send(Notice(kind, _end_message(kind, run_dir, status, reason, safe,
                                                                           failure), run_dir, facts)):
                    log(text, level)
    except Exception as exc:  # noqa: BLE001 - the run's outcome is already decided; say it and go on
        try:
            log(f"notifications failed: {type(exc).__name__}: {exc}", "warning")
        except Exception:  # noqa: BLE001, S110 - not even the log takes it: the run must still end as decided
            pass


def _run_id(run_dir: Path) -> str:
    return str((_state(run_dir) or {}).get("run_id", ""))


def _end_message(kind: str, run_dir: Path, status: str, reason: str, safe: dict, failure: dict | None) -> str:
    name = run_dir.name
    if kind == "safe_state_unverified":
        return (f"SAFE STATE NOT VERIFIED: {name} ended {status}; check the instrument now "
                f"({'; '.join(map(str, safe.get('errors') or [])) or 'no read-back'})")
    if kind == "device_failure" and failure:
        return f"device failure: {name} ({failure.get('mode', '?')} at cycle {failure.get('cycle', '?')}): {reason}"
    if kind == "instrument_fault":
        return f"instrument fault: {name} failed: {reason}"
    return f"{status}: {name}" + (f": {reason}" if reason else "")
