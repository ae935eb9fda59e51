"""Commands for before a run: ``init`` an example labrc.toml, ``check`` the configured instrument, list the
``protocols`` with their parameters.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..config import EXAMPLE_TOML, ConfigError
from ..humanize import param_value as _param_value
from ..outcome import EXIT_SAFE_STATE_UNVERIFIED
from .common import fail, get_config, main


@main.command()
@click.argument("path", type=click.Path(dir_okay=False), default="labrc.toml")
def init(path):
    """Write an example labrc.toml (refuses to overwrite)."""
    p = Path(path)
    if p.exists():
        fail(f"{p} exists; not overwriting")
    p.write_text(EXAMPLE_TOML)
    click.echo(f"wrote {p}")


@main.command()
@click.option("--set", "sets", multiple=True, metavar="SECTION.KEY=VALUE", help="Override a labrc.toml key.")
@click.pass_context
def check(ctx, sets):
    """Check the configured instrument before a run: identity (*IDN?), cards (*OPT?), the top/bottom
    wiring and the error queue (:ERROR:LAST:GET). Applies nothing but 0 V: it ends with the verified
    safe shutdown (every SMU to 0 V, read back, off; PMU outputs off). Exit 0 ok, 2 cannot connect or
    wiring wrong, 4 safe state not verified."""
    from ..config import connect_error
    from ..runner import connect
    cfg = get_config(ctx, sets)
    inst = cfg.instrument
    where = "simulator (embedded)" if inst.backend == "sim" else f"VISA {inst.visa_library or '(system library)'}"
    try:
        station = connect(cfg)          # opening errors: one ConnectError line naming the key to fix
    except ConfigError as exc:
        fail(" ".join(str(exc).split()))
    click.echo(f"instrument  {inst.resource}  via {where}")
    instr = station.instr
    failure = None
    try:
        click.echo(f"identity    {instr.idn}")
        click.echo(f"cards       {', '.join(instr.options) or '(none reported)'}")
        smus = ", ".join(f"SMU{n}{' (preamp)' if lim.preamp else ''}" for n, lim in sorted(instr.smu_limits.items()))
        click.echo(f"SMUs        {smus or 'none'}")
        click.echo(f"wiring      top = {inst.top} (Ag top electrode), bottom = {inst.bottom} "
                   f"(ITO bottom electrode, {'ground unit' if inst.bottom == 'GNDU' else 'held at 0 V'})")
        err = instr.last_error()
        click.echo("error queue empty" if err is None else
                   f"error queue {err} (stored before this check; cleared by the shutdown below)")
    except Exception as exc:  # noqa: BLE001 - the link failed after opening: one line, still the safe shutdown
        failure = " ".join(str(connect_error(exc, inst)).split())
    safe = instr.shutdown()
    try:
        instr.adapter.close()
    except Exception:  # noqa: BLE001
        pass
    if safe.get("ok"):
        done = ", ".join(f"SMU{n} {e['v_readback_v']:g} V off" if e.get("v_readback_v") is not None else f"SMU{n} off"
                         for n, e in sorted(safe["smu"].items()))
        pmus = ", ".join(f"{k} {v}" for k, v in safe.get("pmu", {}).items())
        click.echo(f"safe state  verified: {done}" + (f"; {pmus}" if pmus else ""))
    else:
        click.echo(f"safe state  NOT verified: {'; '.join(safe.get('errors') or ['unknown'])}", err=True)
    if failure:
        fail(failure)
    if not safe.get("ok"):
        sys.exit(EXIT_SAFE_STATE_UNVERIFIED)
    click.echo("check       ok")


@main.command()
def protocols():
    """List protocols with their parameters, units, defaults, limits and presets."""
    from protocols import PROTOCOLS
    from protocols.base import describe_params
    for name, cls in PROTOCOLS.items():
        click.echo(f"{name}: {cls.description}")
        if cls.presets:
            click.echo(f"  presets: {', '.join(cls.presets)}")
        rows = describe_params(cls.Params)
        w = max(len(p["name"]) for p in rows) + 1
        for p in rows:
            if p["choices"]:
                rng = "{" + "|".join(_param_value(c, p["unit"], p["type"]) for c in p["choices"]) + "}"
            elif p["lo"] is not None:
                hi = _param_value(float("inf") if p["hi"] is None else p["hi"], p["unit"], p["type"])
                rng = f"[{_param_value(p['lo'], p['unit'], p['type'])}, {hi}" + (")" if hi == "∞" else "]")
            else:
                rng = ""
            default = _param_value(p["default"], p["unit"], p["type"])
            click.echo(f"  {p['name']:<{w}} {p['type']:<5} default {default:<10} {rng:<22} {p['help']}")
