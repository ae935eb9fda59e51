"""Segment-Arb waveform capture (MEAS:TYPE 2, KXCI-E p. 7-52; sample rate p. 7-23): a 0 -> 1 V ramp
and a 1 V flat top sampled at the default 200 MS/s; then a 1 ms window, which the card samples at a
lowered rate so the test stays within 65 536 points.

Resource: sys.argv[1], else $KXCI_RESOURCE, else the lab's address (socket-capable client).
"""
import os
import sys
import time

import pyvisa

RESOURCE = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("KXCI_RESOURCE", "TCPIP0::192.0.2.0::1225::SOCKET")

rm = pyvisa.ResourceManager()
inst = rm.open_resource(RESOURCE, write_termination="\0", read_termination="\0", timeout=20000)


def run(flat_s: float) -> list[str]:
    for cmd in (":PMU:INIT 1", ":PMU:RPM:CONFIGURE PMU1-1, 0", ":PMU:MEASURE:RANGE 1, 2, 10e-6",
                ":PMU:SARB:SEQ:STARTV 1, 1, 0, 0, 1, 1, 0",
                ":PMU:SARB:SEQ:STOPV 1, 1, 0, 1, 1, 0, 0",
                f":PMU:SARB:SEQ:TIME 1, 1, 100e-9, 1e-6, {flat_s}, 1e-6, 100e-9",
                ":PMU:SARB:SEQ:MEAS:TYPE 1, 1, 0, 2, 2, 0, 0",
                ":PMU:SARB:SEQ:MEAS:START 1, 1, 0, 0, 0, 0, 0",
                f":PMU:SARB:SEQ:MEAS:STOP 1, 1, 0, 1e-6, {flat_s}, 0, 0",
                ":PMU:SARB:WFM:SEQ:LIST 1, 1, 1", ":PMU:OUTPUT:STATE 1, 1", ":PMU:EXECUTE"):
        assert inst.query(cmd) == "ACK", (cmd, inst.query(":ERROR:LAST:GET"))
    while int(inst.query(":PMU:TEST:STATUS?")) != 0:
        time.sleep(0.01)
    n = int(inst.query(":PMU:DATA:COUNT? 1"))
    points = []
    while len(points) < n:
        points += inst.query(f":PMU:DATA:GET 1, {len(points)}, {min(2048, n - len(points))}").split(";")
    assert inst.query(":PMU:OUTPUT:STATE 1, 0") == "ACK"
    return points


short = run(2e-6)
print("COUNT_SHORT", len(short))
print("DATA_SHORT", ";".join(short))
long = run(1e-3)
print("COUNT_LONG", len(long))
print("DATA_LONG", ";".join(long))
print("ERR", inst.query(":ERROR:LAST:GET"))
inst.close()
