"""The tables of ``labrc.toml`` other than ``[sim]``: instrument and wiring, operator limits, data, run
identity, notifications, the web server. Each refuses an unknown key and a non-finite number.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    @field_validator("*", mode="after")
    @classmethod
    def _finite(cls, v: Any, info):  # NaN/inf are never a sane setting
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError(f"must be a finite number, got {v}")
        return v


class InstrumentSection(_Section):
    backend: Literal["sim", "visa"] = "sim"
    resource: str = "TCPIP0::k4200.sim::1225::SOCKET"
    visa_library: str = ""              # backend "visa": "" = system VISA (IVI), "@py" = pyvisa-py
    timeout_s: float = Field(20.0, gt=0, le=600)
    transcript: bool = False            # record every command and reply (run dir + /entry/attachments/transcript)
    top: str = Field("SMU1", pattern=r"^SMU[1-9]$")           # terminal on the Ag top electrode
    bottom: str = Field("SMU2", pattern=r"^(SMU[1-9]|GNDU)$")  # ITO bottom electrode: SMU at 0 V or ground unit

    @model_validator(mode="after")
    def _distinct(self):
        if self.top == self.bottom:
            raise ValueError("instrument.top and instrument.bottom must be different terminals")
        return self

    @property
    def top_smu(self) -> int:
        return int(self.top[3:])

    @property
    def ground_smu(self) -> int | None:
        return None if self.bottom == "GNDU" else int(self.bottom[3:])


class LimitsSection(_Section):
    """Operator limits: no protocol may exceed them (tighter than the instrument's own)."""

    v_max_v: float = Field(8.0, ge=0, le=210)     # most positive voltage on the top electrode
    v_min_v: float = Field(-8.0, ge=-210, le=0)   # most negative voltage
    icc_max_a: float = Field(2e-2, gt=0, le=0.105)  # largest current compliance a protocol may set
    cycles_max: int = Field(10_000_000, ge=1)


class DataSection(_Section):
    dir: str = "data"
    flush_interval_s: float = Field(1.0, gt=0, le=60)
    flush_rows: int = Field(65_536, ge=1)
    compact: bool = True                # after a verified finish: gzip copy of run.h5, journal removed (labrc.store.compact)
    # a run stops cleanly (status failed, instrument safe, journal complete) before the data disk has less
    # than this free: HDF5 does not survive a full disk inside a flush
    min_free_bytes: int = Field(8 << 20, ge=0)


# --- run identity ([run], --sample/--device/...): what was measured on which device, by whom. Stored as
# metadata["run"] in the run file; sample and device also name the run directory (labrc.runner).
RUN_FIELDS = ("sample", "device", "operator", "note", "die_position")
_RUN_MAX_CHARS = {"sample": 40, "device": 40, "operator": 64, "note": 500, "die_position": 32}
RUN_UNNAMED_DEVICE = "unnamed"      # hardware run without a device name (a warning says to give --device)


class RunSection(_Section):
    """Identity of a run: strings, "" = not given. On the simulator ``device`` defaults to the die index
    ("D00"); on hardware to "unnamed" with a warning (:func:`run_identity`)."""

    sample: str = ""                    # the chip / wafer piece, e.g. "OGB-Ag-2026-11-03-A"
    device: str = ""                    # the device on it, e.g. "D07" or "r3c5"
    operator: str = ""
    note: str = ""                      # one line, free text
    die_position: str = ""              # where a prober gives one, e.g. "x=3,y=5"

    @field_validator(*RUN_FIELDS, mode="before")
    @classmethod
    def _text(cls, v: Any, info) -> Any:
        if isinstance(v, int) and not isinstance(v, bool):   # device = 17 in TOML or --set: a name, not a number
            v = str(v)
        if not isinstance(v, str):
            raise ValueError(f"must be text (a quoted TOML string), got {type(v).__name__}")
        v = v.strip()
        bad = [c for c in v if ord(c) < 32 or ord(c) == 127]
        if bad:
            raise ValueError(f"must be one line of printable text (found control character {bad[0]!r})")
        limit = _RUN_MAX_CHARS[info.field_name]
        if len(v) > limit:
            raise ValueError(f"is {len(v)} characters; at most {limit}")
        return v


# --- notifications for unattended runs ([notify], --notify on `labrc run`; labrc.notify fires them)
NOTIFY_EVENTS = ("completed", "device_failure", "instrument_fault", "safe_state_unverified", "stall", "aborted",
                 "failed")


class NotifySection(_Section):
    """Who is told when a run ends or stalls: a shell command and/or notification URLs (apprise syntax,
    e.g. "mailto://user:pass@example.com", "json://host:port/path"). Never stored in a run file: URLs
    may carry credentials (Config.notify is excluded from ``to_dict``)."""

    command: str = ""                   # run by /bin/sh with LABRC_EVENT, LABRC_RUN_DIR, LABRC_MESSAGE, ...
    urls: list[str] = Field(default_factory=list)
    events: list[Literal["completed", "device_failure", "instrument_fault", "safe_state_unverified", "stall",
                         "aborted", "failed"]] = Field(default_factory=lambda: list(NOTIFY_EVENTS))
    stall_s: float = Field(600.0, gt=0, le=7 * 86400)   # no new rows for this long while running = a stall
    timeout_s: float = Field(10.0, gt=0, le=120)         # per target; a slower one is abandoned and logged

    @property
    def enabled(self) -> bool:
        return bool(self.command or self.urls)


class ServeSection(_Section):
    """``labrc serve``: where it listens and its access token ("" = the stored one, labrc.web.security)."""

    host: str = "127.0.0.1"
    port: int = Field(8765, ge=0, le=65535)
    token: str = Field("", pattern=r"^([A-Za-z0-9_-]{16,128})?$")   # never stored in a run file
