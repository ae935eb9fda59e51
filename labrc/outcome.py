"""How a run ends: the final status its file records and the exit code of the command that ran it.

One table for the CLI, the Python API, ``labrc ls``/``show`` and the README. The safe state is a
separate fact from the status: a run can complete and still leave the instrument unverified, and that
is what the operator must learn first, so an unverified safe state overrides every other exit code.

=====  ======================  ==================================================================
exit   status / condition      meaning
=====  ======================  ==================================================================
0      completed               the plan ran to its end; safe state verified
1      failed                  software, instrument or storage error ended the run (reason recorded)
2      (no run)                refused before any voltage: bad parameter, configuration or connection
3      device_failure          the device under test failed (a result: cycle and mode in the file)
4      safe state unverified   the outputs were not verified at 0 V / off: check the instrument now
130    aborted                 operator stop (Ctrl-C, SIGTERM, SIGHUP, a stop request)
=====  ======================  ==================================================================
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_RUN_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_DEVICE_FAILURE = 3
EXIT_SAFE_STATE_UNVERIFIED = 4
EXIT_ABORTED = 130

FINAL_STATUSES = ("completed", "device_failure", "aborted", "failed")

_BY_STATUS = {"completed": EXIT_OK, "device_failure": EXIT_DEVICE_FAILURE, "aborted": EXIT_ABORTED,
              "failed": EXIT_RUN_FAILED}


def exit_code(status: str, safe_ok: bool | None) -> int:
    """Exit code of a run that ended with ``status``; ``safe_ok`` False (or None: not known) wins."""
    if not safe_ok:
        return EXIT_SAFE_STATE_UNVERIFIED
    return _BY_STATUS.get(status, EXIT_RUN_FAILED)
