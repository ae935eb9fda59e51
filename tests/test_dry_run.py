"""The dry run is the plan against the planning station: its command count is the real run's.

For every protocol the same plan is executed twice on the simulator: once through the engine on the
simulator station with the driver's transcript on (every command that went on the wire), once by
``labrc.runner.plan_run`` (the planning station: the driver's own code path in ``dry_run`` mode,
nothing sent). The counts must be equal, command for command. Then ``labrc run --dry-run`` prints
that count through the CLI.
"""

from __future__ import annotations

import pytest

from helpers import drive_plan
from helpers_proc import labrc
from instruments.transcript import read_transcript, sent_commands
from labrc.config import load_config
from labrc.runner import plan_run
from labrc.stations import connect
from protocols import get_protocol

CASES = [
    ("iv-sweep", "volatile", {"repeats": 2}),
    ("iv-sweep", "nonvolatile", {"repeats": 2, "step_v": 0.1}),
    ("retention", None, {"n_reads": 4, "t_max_s": 10.0}),
    ("icc-set", None, {"n_levels": 3, "repeats": 2}),
    ("reconfigure", None, {"n_volatile": 2, "n_levels": 2}),
    ("volatile-endurance", None, {"cycles": 1500, "burst_s": 2.0}),
    ("nonvolatile-endurance", None, {"cycles": 12}),
    ("spike-train", None, {"campaign": True, "devices": 2, "cycles": 2}),
    ("volatile-relaxation", None, {"devices": 3}),
]


def _proto(name: str, preset: str | None, params: dict):
    return get_protocol(name).from_options(preset, {k: str(v).lower() if isinstance(v, bool) else str(v)
                                                   for k, v in params.items()})


def _real_commands(cfg, proto, tmp_path) -> list[str]:
    """Every command the engine's run of ``proto`` put on the wire (the simulator station, transcript on)."""
    from labrc.engine.engine import RunEngine

    from helpers import MemorySink
    station = connect(cfg)
    path = tmp_path / "transcript.jsonl"
    station.instr.start_transcript(path)
    try:
        RunEngine(proto, station, MemorySink(), stop=lambda: False, log=lambda m, level="info": None).run()
    finally:
        station.instr.stop_transcript()
        station.instr.shutdown()
        station.close()
    return sent_commands(read_transcript(path))


@pytest.mark.parametrize("name,preset,params", CASES, ids=[f"{c[0]}-{c[1] or 'default'}" for c in CASES])
def test_dry_run_counts_exactly_the_commands_the_real_run_sends(name, preset, params, tmp_path):
    cfg = load_config(None, [])
    proto = _proto(name, preset, params)
    proto.validate(cfg.limits)
    planned = plan_run(cfg, proto)
    real = _real_commands(cfg, _proto(name, preset, params), tmp_path)
    assert planned.n_commands == len(real), (name, planned.n_commands, len(real))
    assert planned.n_blocks == len(proto.blocks())
    # a plan is more than one full setup: later lists send only what changed (driver held state)
    assert planned.n_sweeps >= 2


def test_the_dry_run_of_a_run_is_the_same_count_through_the_cli(tmp_path):
    cfg = load_config(None, [])
    proto = _proto("volatile-endurance", None, {"cycles": 1500, "burst_s": 2.0})
    want = plan_run(cfg, proto).n_commands
    p = labrc("run", "volatile-endurance", "--cycles", "1500", "--param", "burst_s=2", "--dry-run", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    line = next(ln for ln in p.stdout.splitlines() if ln.startswith("commands"))
    assert line.split()[1] == str(want), line
    assert not (tmp_path / "runs").exists()            # a dry run writes no file


def test_parameters_are_checked_against_the_smu_card_the_instrument_reports(tmp_path):
    """20 mA at 25 V: a 4200-SMU gives at most 10.5 mA above 21 V, a 4210 (HPSMU) 105 mA (KXCI-E p. 5-17).
    The same run is refused on the first and planned on the second — the card comes from *OPT?, not a guess."""
    args = ["run", "iv-sweep", "--param", "v_max_v=25", "--param", "icc_a=0.02", "--param", "step_v=0.5",
            "--set", "limits.v_max_v=30", "--dry-run"]
    p = labrc(*args, cwd=tmp_path)
    assert p.returncode == 2, p.stdout + p.stderr
    assert "icc_a" in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    p = labrc(*args, "--set", 'sim.cards=["HPSMU1", "SMU2", "SMU3", "SMU4"]', cwd=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    assert any(ln.startswith("commands") for ln in p.stdout.splitlines())
