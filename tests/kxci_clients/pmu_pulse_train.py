"""Standard pulse train (KXCI-E p. 7-20, the manual's example): 0 -> 5 V pulses, 100 us period,
50 us width, 5 us edges, 10 uA RPM range; first waveform capture (:PMU:MEASURE:MODE 2), then spot
means of a 20-pulse burst (mode 1, pulse I-V high and low).

Resource: sys.argv[1], else $KXCI_RESOURCE, else the lab's address (socket-capable client).
"""
import os
import sys
import time

import pyvisa

RESOURCE = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("KXCI_RESOURCE", "TCPIP0::192.0.2.0::1225::SOCKET")

rm = pyvisa.ResourceManager()
inst = rm.open_resource(RESOURCE, write_termination="\0", read_termination="\0", timeout=20000)


def run(mode: int, burst: int) -> list[str]:
    for cmd in (":PMU:INIT 0", ":PMU:RPM:CONFIGURE PMU1-1, 0", ":PMU:MEASURE:RANGE 1, 2, 10e-6",
                f":PMU:MEASURE:MODE {mode}", ":PMU:PULSE:TRAIN 1, 0.0, 5.0",
                ":PMU:PULSE:TIMES 1, 100e-6, 50e-6, 5e-6, 5e-6", f":PMU:PULSE:BURST:COUNT {burst}",
                ":PMU:OUTPUT:STATE 1, 1", ":PMU:EXECUTE"):
        assert inst.query(cmd) == "ACK", (cmd, inst.query(":ERROR:LAST:GET"))
    while int(inst.query(":PMU:TEST:STATUS?")) != 0:
        time.sleep(0.01)
    n = int(inst.query(":PMU:DATA:COUNT? 1"))
    points = []
    while len(points) < n:
        points += inst.query(f":PMU:DATA:GET 1, {len(points)}, {min(2048, n - len(points))}").split(";")
    assert inst.query(":PMU:OUTPUT:STATE 1, 0") == "ACK"
    return points


wave = run(2, 1)
print("WAVE_COUNT", len(wave))
print("WAVE", ";".join(wave))
spot = run(1, 20)
print("SPOT_COUNT", len(spot))
print("SPOT", ";".join(spot))
print("ERR", inst.query(":ERROR:LAST:GET"))
inst.close()
