"""Does `labrc serve` slow the writer? The endurance benchmark with and without a live page open.

    python benchmarks/bench_serve.py [--cycles 200000] [--repeats 3]

Runs ``benchmarks/bench_endurance.py --cycles N`` (its own wall time, "in X s") in three settings, interleaved
so that a machine's drifting load hits all of them alike:

* ``bare``  — nothing else running;
* ``idle``  — ``labrc serve`` on the data directory and headless chromium open on about:blank;
* ``page``  — the same, with chromium on the live run's page from the moment the run appears (SSE push every
  second, Plotly redrawing the growing figure, the server reading the file through SWMR).

The benchmark writes into a TemporaryDirectory; pointing TMPDIR at the served folder puts the run there.
Reports each wall time, the medians and the ratios page/bare and page/idle (goal ≤ 1.05), and the CPU the
server and chromium used while the page was open (/proc/<pid>/stat; chromium with all its child processes):
on a short run the one-time page load (parsing the 4.8 MB plotly.min.js) dominates; the steady state is what
a days-long run pays.
Needs Debian's chromium + chromium-driver and selenium (the test extra).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
CPU_S: dict[str, list[float]] = {"server": [], "chromium": []}


def cpu_s(pids: list[int]) -> float:
    """User + system CPU seconds of these processes so far."""
    tick, tot = os.sysconf("SC_CLK_TCK"), 0.0
    for pid in pids:
        try:
            f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            tot += (int(f[11]) + int(f[12])) / tick
        except OSError:
            pass
    return tot


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (chromium runs as several processes)."""
    kids: dict[int, list[int]] = {}
    for line in subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True,
                               check=False).stdout.splitlines():
        if line.strip():
            a, b = map(int, line.split())
            kids.setdefault(b, []).append(a)
    out, todo = [], [pid]
    while todo:
        x = todo.pop()
        out.append(x)
        todo += kids.get(x, [])
    return out


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    o = webdriver.ChromeOptions()
    o.binary_location = "/usr/bin/chromium"
    for a in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync",
              f"--user-data-dir={tempfile.mkdtemp(prefix='labrc-bench-chromium-')}", "--window-size=1400,1000"):
        o.add_argument(a)
    return webdriver.Chrome(options=o, service=Service("/usr/bin/chromedriver"))


def serve(data: Path, cfg_home: Path) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "XDG_CONFIG_HOME": str(cfg_home)}
    p = subprocess.Popen([sys.executable, "-m", "labrc", "serve", "--data", str(data), "--port", "0"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    url = p.stdout.readline().split(" on ")[1].split()[0].rstrip("/")
    return p, url


def running_ref(url: str) -> str | None:
    with urllib.request.urlopen(url + "/api/runs", timeout=5) as r:
        runs = json.load(r)["runs"]
    return next((x["ref"] for x in runs if x["status"] == "running"), None)


def one(mode: str, cycles: int, drv, root: Path) -> float:
    data = Path(tempfile.mkdtemp(dir=root, prefix=f"{mode}-"))
    srv = url = None
    if mode != "bare":
        srv, url = serve(data, root / "config")
    bench = subprocess.Popen([sys.executable, str(HERE / "bench_endurance.py"), "--cycles", str(cycles)],
                             stdout=subprocess.PIPE, text=True, env={**os.environ, "TMPDIR": str(data)})
    c0 = s0 = 0.0
    try:
        if mode == "page":
            c0, s0 = cpu_s(tree(drv.service.process.pid)), cpu_s([srv.pid])
            ref = None
            while ref is None and bench.poll() is None:
                ref = running_ref(url)
                time.sleep(0.05)
            if ref is not None:
                drv.get(f"{url}/run/{ref}")
        out, _ = bench.communicate(timeout=1800)
        if mode == "page":
            CPU_S["chromium"].append(cpu_s(tree(drv.service.process.pid)) - c0)
            CPU_S["server"].append(cpu_s([srv.pid]) - s0)
    finally:
        if drv is not None:
            drv.get("about:blank")
        if srv is not None:
            srv.send_signal(signal.SIGINT)
            srv.wait(10)
    m = re.search(r" in ([0-9.]+) s ->", out)
    if not m:
        raise SystemExit(f"bench_endurance.py printed no wall time:\n{out}")
    return float(m.group(1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cycles", type=int, default=200_000)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    drv = browser()
    walls: dict[str, list[float]] = {"bare": [], "idle": [], "page": []}
    try:
        with tempfile.TemporaryDirectory(prefix="labrc-bench-serve-") as d:
            for i in range(a.repeats):
                for mode, got in walls.items():
                    got.append(one(mode, a.cycles, drv, Path(d)))
                    print(f"repeat {i + 1} {mode:<4} {got[-1]:6.2f} s", flush=True)
    finally:
        drv.quit()
    med = {k: statistics.median(v) for k, v in walls.items()}
    print(f"{a.cycles:,} cycles, median wall: bare {med['bare']:.2f} s, idle {med['idle']:.2f} s, "
          f"page {med['page']:.2f} s")
    print(f"ratio page/bare {med['page'] / med['bare']:.3f}, page/idle {med['page'] / med['idle']:.3f} (goal <= 1.05)")
    print(f"CPU while the page was open (median): server {statistics.median(CPU_S['server']):.2f} s, chromium "
          f"{statistics.median(CPU_S['chromium']):.2f} s, over a median page-mode wall of {med['page']:.2f} s")


if __name__ == "__main__":
    main()
