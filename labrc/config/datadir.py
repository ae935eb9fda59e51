"""``data.dir`` checked before any instrument command: a folder, writable, names and path short enough
for a run directory inside it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import ConfigError

# bytes a run adds below data.dir: "/<UTC time 16>_<type ≤ 16>_<sample ≤ 40>_<device ≤ 40>_<id 8>" (≤ 125)
# + "/run.h5.compact.tmp" (19), rounded up
RUN_DIR_RESERVE = 160


def _exists(p: Path) -> bool:
    try:
        return p.exists()
    except OSError:          # ENAMETOOLONG and the like: not a usable path either way
        return False


def _name_max(path: Path) -> int:
    """The longest file name the file system under ``path`` allows (255 when it cannot be asked)."""
    p = path
    while not _exists(p) and p != p.parent:
        p = p.parent
    try:
        return int(os.pathconf(p, "PC_NAME_MAX"))
    except (OSError, ValueError):
        return 255


def check_data_dir(path: Path) -> Path:
    """See :meth:`Config.check_data_dir`; returns the (created) folder."""
    p = Path(path).absolute()
    name_max = _name_max(p)
    for part in p.parts[1:]:
        if len(os.fsencode(part)) > name_max:
            raise ConfigError(f"data.dir: the name {part[:24]}... is {len(os.fsencode(part))} bytes; this file system "
                              f"allows {name_max} per name: choose a shorter data.dir")
    if len(os.fsencode(str(p))) + RUN_DIR_RESERVE > 4096:
        raise ConfigError(f"data.dir is {len(os.fsencode(str(p)))} bytes long; with a run folder inside it exceeds "
                          "the 4096-byte path limit: choose a shorter data.dir")
    for a in (p, *p.parents):
        if _exists(a):
            if not a.is_dir():
                what = "is a file" if a == p else f"cannot be created: {a} is a file"
                raise ConfigError(f"data.dir={str(path)!r} {what}, not a folder: choose a folder for the run files")
            break
    try:
        p.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".labrc-write-check-", dir=p)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ConfigError(f"data.dir={str(path)!r} is not writable ({exc.strerror or exc}): choose a folder "
                          "you can write to, or fix its permissions") from None
    return p
