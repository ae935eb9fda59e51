"""The KXCI number codecs, ns per value: before (the e55dde1 code, kept below) vs now.

    python benchmarks/bench_codec.py [--repeat 15]

- DO reply text: ``sci_list`` (simulator, 7 digits with status letters) and ``parse_readings`` (driver),
  random lognormal currents of both signs;
- VL list text: ``fmt_list`` (driver) and the simulator's list parse (``sim_backend.list_text.list_values``,
  without the pages' last-text cache), a pulse train of two levels (0 V and 1.2 V), as the spike campaign sends.

At 30, 300 and 4095 values. Each figure is the best of ``--repeat`` batches of CPU time
(``time.process_time``), old and new interleaved, so a loaded machine slows both alike.
"""

from __future__ import annotations

import argparse
import sys
import time
import types
from pathlib import Path

import numpy as np

from instruments.kxci_data import INVALID_SENTINEL, parse_readings
from instruments.limits import fmt_list, fmt_num
from sim_backend.replies import sci_list
from sim_backend.list_text import list_values

SIZES = (30, 300, 4095)


# --- the e55dde1 implementations ---------------------------------------------------------------------
# the formatter is the one tests/test_codec.py keeps as the byte reference (one copy of the old code)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from test_codec import reference_sci_list as old_sci_list  # noqa: E402


_OLD_DIGITS = np.array([1, 3, 4, 5, 6, 7, 8])
_OLD_SCALE = 10.0 ** -np.arange(7)
_OLD_PARSE_POW10 = 10.0 ** np.arange(-300, 300, dtype=np.float64)
_OLD_IS_LETTER = np.zeros(256, bool)
_OLD_IS_LETTER[[ord(c) for c in "LVXCTN"]] = True


def old_parse_fixed_width(text: str):
    """instruments.kxci_data._parse_fixed_width as of e55dde1 (two roundings: not exactly float())."""
    raw = np.frombuffer(text.encode("ascii", "replace"), dtype=np.uint8)
    for width, lettered in ((15, True), (14, False)):
        if (raw.size + 1) % width:
            continue
        n = (raw.size + 1) // width
        rows = np.empty(n * width, np.uint8)
        rows[:-1], rows[-1] = raw, ord(",")
        rows = rows.reshape(n, width)
        body = rows[:, 1:] if lettered else rows
        if not (np.all(rows[:, -1] == ord(",")) and np.all(body[:, 2] == ord(".")) and np.all(body[:, 9] == ord("E"))
                and np.all((body[:, 0] == ord("+")) | (body[:, 0] == ord("-")))):
            continue
        d = body[:, _OLD_DIGITS].astype(np.int64) - ord("0")
        ex = (body[:, 11].astype(np.int64) - ord("0")) * 10 + body[:, 12] - ord("0")
        if d.min() < 0 or d.max() > 9 or ex.min() < 0 or ex.max() > 99:
            continue
        ex = np.where(body[:, 10] == ord("-"), -ex, ex)
        values = (d @ _OLD_SCALE) * _OLD_PARSE_POW10[ex + 300] * np.where(body[:, 0] == ord("-"), -1.0, 1.0)
        if lettered:
            if not _OLD_IS_LETTER[rows[:, 0]].all():
                continue
            status = rows[:, 0].astype(np.uint32).view("<U1")
        else:
            status = np.full(n, "N", "<U1")
        values[(np.abs(values) >= INVALID_SENTINEL) | (values == 1e22)] = np.nan
        return values, status
    return None


def old_parse_readings(reply: str):
    return old_parse_fixed_width(reply.strip())


_OLD_FMT_TEXT: dict[float, str] = {}


def old_fmt_list(values: np.ndarray, name: str = "values") -> str:
    points = np.asarray(values, dtype=np.float64).tolist()
    try:
        return ",".join([_OLD_FMT_TEXT[x] for x in points])
    except KeyError:
        pass
    for x in set(points):
        if x not in _OLD_FMT_TEXT:
            _OLD_FMT_TEXT[x] = fmt_num(x, name)
    return ",".join([_OLD_FMT_TEXT[x] for x in points])


def old_list_values(text: str) -> np.ndarray:
    """SystemPages._list_values as of e55dde1, on a fresh object (its last-text cache misses)."""
    self = types.SimpleNamespace()
    last = getattr(self, "_last_list", None)
    if last is not None and last[0] == text:
        return last[1].copy()
    fields = text.split(",")
    table = {f: float(f) for f in set(fields)}
    values = np.fromiter(map(table.__getitem__, fields), np.float64, len(fields))
    self._last_list = (text, values)
    return values.copy()


def new_list_values(text: str) -> np.ndarray:
    return list_values(text)                  # the parse alone, without the pages' last-text cache


# --- measuring ------------------------------------------------------------------------------------------
def best_ns(fn, arg, batch: int, repeat: int) -> float:
    """Best CPU time of ``repeat`` batches of ``batch`` calls, in ns per call."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        for _ in range(batch):
            fn(*arg)
        best = min(best, time.process_time() - t0)
    return best / batch * 1e9


def compare(old, new, arg, n: int, repeat: int) -> tuple[float, float]:
    """(old, new) ns per value, measured interleaved in rounds."""
    batch = max(20, 1_000_000 // (n * 20))
    o = w = float("inf")
    for _ in range(3):
        o = min(o, best_ns(old, arg, batch, max(repeat // 3, 1)))
        w = min(w, best_ns(new, arg, batch, max(repeat // 3, 1)))
    return o / n, w / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=15)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    print(f"{'codec':34s} {'n':>5s} {'before ns/v':>12s} {'now ns/v':>10s} {'speed-up':>9s}")
    for n in SIZES:
        x = rng.lognormal(np.log(1e-7), 3.0, n) * rng.choice([-1.0, 1.0], n)
        letters = rng.choice(list("NC"), n)
        text = sci_list(x, 7, letters)
        assert text == old_sci_list(x, letters)
        v = np.where(rng.random(n) < 0.1, 1.2, 0.0)
        vl = fmt_list(v)
        assert vl == old_fmt_list(v) and np.array_equal(new_list_values(vl), old_list_values(vl))
        rows = [
            ("DO text: sci_list (sim)", old_sci_list, lambda x, l: sci_list(x, 7, l), (x, letters)),
            ("DO text: parse_readings (driver)", old_parse_readings, parse_readings, (text,)),
            ("VL text: fmt_list (driver)", old_fmt_list, fmt_list, (v,)),
            ("VL text: list parse (sim)", old_list_values, new_list_values, (vl,)),
        ]
        for label, old, new, arg in rows:
            o, w = compare(old, new, arg, n, a.repeat)
            print(f"{label:34s} {n:5d} {o:12.1f} {w:10.1f} {o / w:8.1f}x")


if __name__ == "__main__":
    main()
