"""``instrument.top``/``bottom`` against the SMUs a chassis has (simulated: from the configuration; real:
from its ``*OPT?``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import ConfigError

if TYPE_CHECKING:
    from .model import Config
    from .sections import InstrumentSection


def _sim_smus(cfg: Config) -> list[int]:
    """SMU numbers of the simulated chassis this configuration builds."""
    sc = cfg.sim_config(with_preset_file=False)
    if hasattr(sc, "installed"):
        return sorted(sc.installed("SMU"))
    return list(range(1, sc.n_smus + 1))


def check_wiring(inst: InstrumentSection, installed, where: str = "the instrument") -> None:
    """Refuse ``instrument.top``/``bottom`` naming an SMU that ``where`` does not have (before any voltage)."""
    have = sorted(int(n) for n in installed)
    for key, n in (("top", inst.top_smu), ("bottom", inst.ground_smu)):
        if n is not None and n not in have:
            names = ", ".join(f"SMU{k}" for k in have) or "none"
            raise ConfigError(f"instrument.{key}={getattr(inst, key)}: {where} has no SMU{n} "
                              f"(installed SMUs: {names}); wire instrument.{key} to one of them")
