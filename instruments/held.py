"""What the 4200A holds between list sweeps, when that knowledge ends, and the dry-run transport.

What persists, and why (``shared/reference/keithley4200-kxci.md``; KXCI-E Rev. E pages)
---------------------------------------------------------------------------------------------
* System mode is the 4145B's page model (§2.1, p. 5-1 … 5-4): a program selects a page (``DE``
  channels, ``SS`` sources, ``SM`` measurement, ``MD`` control) and sends that page's commands; a
  test (``ME``) runs what the pages define. The pages are a stored setup, not a per-test message:
  at start-up they already hold the 4145B set-up and a program must *remove* unused channels (§1.7,
  p. 5-5); ``ME3`` runs the same setup again and appends (§2.4, p. 5-27); ``SV``/``GT`` save and recall
  it as a program (§2.4). [inference from these three: a page entry keeps its value until it is sent
  again, ``*RST`` or DCL/SDC.] So after a sweep the channel definitions (``CH``), the ``SS`` entries
  (the ``VL`` list, the ground ``VC``, ``HT``, ``DT``), the ``SM`` entries (``DM2``, ``LI``) and the
  modeless integration time ``IT`` (§2.6, p. 5-40) are what this driver last sent, and the
  instrument is on the ``MD`` page.
* ``ME1`` is a single run that clears the buffer (§2.4), so the ``BC`` before it is needed once only;
  the stored error is cleared once (``:ERROR:LAST:CLEAR``, §1.6) and after that any error ends the
  held state (below), so the next sweep starts with the full setup and its clear again.
* The ``VL`` list is an ``SS`` page entry like the others, so it is sent only when it differs from
  the list held: an endurance run tiles one cycle into every burst, and its bursts are then
  ``MD ME1``, ``SP``, ``DO 'I1'`` — the trigger, the poll and the data request. No stale list can
  run: the list held is the one the last completed sweep sent and was accepted (its error check
  passed and its data were read); anything that could have changed it ends the held state (below),
  and a sweep that sends no command before ``ME1`` has nothing that could be refused, so it needs no
  error check before the trigger either.

What ends it (the driver then sends the full setup again)
---------------------------------------------------------
* ``*RST`` resets the SMUs (§1.7, p. 4-5); GPIB DCL/SDC returns them to power-on defaults (p. 5-4);
  ``BC`` clears the buffer (p. 5-37; its effect on nothing else is documented, and the brief for this
  design asks that a ``BC`` sent by anyone end the held state).
* Anything the reference does not say leaves the pages intact: user mode (``US``, ``DV``, ``DI``,
  ``TV``, ``TI`` — the safe state uses them), user libraries (``UL``/``EX``), ``:PMU:`` commands
  (whether they interleave with the SMU pages is open, §10 item 10), ``MP``, ``EC``, ``RS``, ... In
  short: every command sent outside :meth:`list_sweep` ends the held state, except the few that only
  read (:func:`is_setup_neutral`).
* Any error, refused command, exception, timeout or abort (``ME4``) — the held state is cleared when
  a sweep starts and set again only after its data were read, so a sweep that does not finish leaves
  nothing held.
* A new connection (the VISA session changed) and the end of a dry run.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

__all__ = ["PAGES", "DryRun", "DryRunError", "HeldSetup", "is_setup_neutral", "list_digest", "zero_readings"]

# the system-mode pages a list-only or delta setup selects, each sent with its first command in one
# message (``SS VL1, …``; instruments.smu_sweep._with_pages)
PAGES = frozenset({"SS", "SM", "MD"})

# commands that read and change no setup: identification (§1.4), the status byte (§1.6: SP clears only
# B0/B1/RQS), the stored error (non-destructive GET, CLEAR of the error store only; §1.6) and reading
# data back (DO/RD, §2.6: the start of a data transfer clears B0, nothing else)
_NEUTRAL = frozenset({"SP", "*IDN?", "ID", "*OPT?", ":ERROR:LAST:GET", ":ERROR:LAST:CLEAR"})
_NEUTRAL_DATA = re.compile(r"^(DO|RD)\s*'")


def is_setup_neutral(command: str) -> bool:
    """True for a command documented to change nothing of the system-mode setup (see the module text)."""
    return command in _NEUTRAL or _NEUTRAL_DATA.match(command) is not None


@dataclass(frozen=True)
class HeldSetup:
    """The setup a list sweep left on the instrument, as the command texts that made it.

    ``link`` identifies the VISA session it was sent on (a reconnect is a new session). ``channels``
    is the whole ``DE`` block; a different block means a full setup (a redefined channel may drop its
    source setup — not documented either way — so nothing of ``SS``/``SM`` is kept across it).
    """

    link: tuple
    integration: str                 # "IT2"
    channels: tuple[str, ...]        # "CH1, 'V1', 'I1', 1, 1", "CH2, ...", "CH3", ...
    ground: str | None               # "VC2, 0, 0.105" or None (ground unit)
    hold: str                        # "HT 0"
    delay: str                       # "DT 0.01"
    measure: tuple[str, ...]         # ("DM2", "LI 'V1','I1'")
    vl: str | None = None            # the whole "VL1, 1, 1e-06, ..." command last sent (None: see vl_sha256)
    vl_sha256: str | None = None     # a restored checkpoint knows the list by its digest only

    def holds_list(self, vl: str) -> bool:
        """True when ``vl`` (a whole ``VL`` command text) is the list the instrument holds."""
        if self.vl is not None:
            return self.vl == vl         # the driver's cached text: usually the same object (O(1))
        return self.vl_sha256 is not None and self.vl_sha256 == list_digest(vl)


def list_digest(vl: str) -> str:
    """The SHA-256 of a ``VL`` command text: how a checkpoint records the held list (not its 40 kB)."""
    return hashlib.sha256(vl.encode("ascii", "replace")).hexdigest()


def zero_readings(n: int) -> str:
    """``n`` readings of 0 in the 7-digit ``DO`` form without status letter (KXCI-E p. 5-38)."""
    return ",".join(["+0.000000E+00"] * n)


class DryRunError(RuntimeError):
    """A dry run met a query it has no documented reply to synthesize for."""


@dataclass
class DryRun:
    """Every command a dry run would have put on the wire, with synthesized replies.

    Replies are those the instrument documents: ``ACK`` to a set command on Ethernet (none on GPIB;
    §1.3), ``SP`` → ``0`` (idle, no error: the test is done at the first poll), ``DO`` → as many zero
    readings as the last ``VL`` list has points, without status letter (p. 5-38), ``RD`` → ``0``,
    ``:ERROR:LAST:GET`` → ``No error. (0)`` (code 0 = nothing stored; the text is the simulator's, the
    manual gives none, §10). A query with no documented reply raises :class:`DryRunError`.
    """

    framing: str = "ethernet"
    commands: list[str] = field(default_factory=list)
    n_replies: int = 0
    _n_points: int = 0
    _last: str = ""

    @property
    def n_commands(self) -> int:
        return len(self.commands)

    def write(self, command: str) -> None:
        self._reply_for(command)            # refuse an unknown query at once, before it is counted
        self.commands.append(command)
        self._last = command
        page, _, rest = command.partition(" ")
        body = rest if page in PAGES else command          # a page and its first command in one message
        if body.startswith(("VL", "IL")):
            self._n_points = body.count(",") - 2

    def holding(self, vl: str) -> None:
        """Start from a list the instrument already holds (its ``DO`` replies have that many points)."""
        self._n_points = vl.count(",") - 2

    def read(self) -> str:
        self.n_replies += 1
        return self._reply_for(self._last)

    def _reply_for(self, command: str) -> str:
        if command == "SP" or command.startswith("RD"):
            return "0"
        if command.startswith("DO"):
            return zero_readings(self._n_points)
        if command == ":ERROR:LAST:GET":
            return "No error. (0)"
        if command.endswith("?") or command == "ID":
            raise DryRunError(f"dry run: no reply is synthesized for {command!r}; query it outside the dry run")
        return "ACK"
