"""Segment-Arb spot means (KXCI-E p. 7-39 … 7-58, example p. 7-58): a read / write / read sequence
looped 25 times, two spot-mean windows per pass, read back in 2048-point :PMU:DATA:GET blocks.

Resource: sys.argv[1], else $KXCI_RESOURCE, else the lab's address (socket-capable client).
"""
import os
import sys
import time

import pyvisa

RESOURCE = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("KXCI_RESOURCE", "TCPIP0::192.0.2.0::1225::SOCKET")
LOOPS = 25

rm = pyvisa.ResourceManager()
inst = rm.open_resource(RESOURCE, write_termination="\0", read_termination="\0", timeout=20000)
for cmd in (":ERROR:LAST:CLEAR", ":PMU:INIT 1", ":PMU:RPM:CONFIGURE PMU1-1, 0", ":PMU:SOURCE:RANGE 1, 10",
            ":PMU:MEASURE:RANGE 1, 2, 100e-6",
            # 0 -> 0.5 V read, 0.5 -> 2 V write, 2 V hold, back to 0.5 V read, down to 0 V
            ":PMU:SARB:SEQ:STARTV 1, 1, 0, 0.5, 0.5, 2, 2, 0.5, 0.5",
            ":PMU:SARB:SEQ:STOPV 1, 1, 0.5, 0.5, 2, 2, 0.5, 0.5, 0",
            ":PMU:SARB:SEQ:TIME 1, 1, 1e-6, 10e-6, 1e-6, 20e-6, 1e-6, 10e-6, 1e-6",
            ":PMU:SARB:SEQ:MEAS:TYPE 1, 1, 0, 1, 0, 1, 0, 1, 0",
            ":PMU:SARB:SEQ:MEAS:START 1, 1, 0, 2e-6, 0, 5e-6, 0, 2e-6, 0",
            ":PMU:SARB:SEQ:MEAS:STOP 1, 1, 0, 8e-6, 0, 15e-6, 0, 8e-6, 0",
            f":PMU:SARB:WFM:SEQ:LIST 1, 1, {LOOPS}", ":PMU:OUTPUT:STATE 1, 1", ":PMU:EXECUTE"):
    assert inst.query(cmd) == "ACK", (cmd, inst.query(":ERROR:LAST:GET"))
while int(inst.query(":PMU:TEST:STATUS?")) != 0:
    time.sleep(0.01)
n = int(inst.query(":PMU:DATA:COUNT? 1"))
points = []
while len(points) < n:
    block = inst.query(f":PMU:DATA:GET 1, {len(points)}, {min(2048, n - len(points))}")
    points += block.split(";")
assert inst.query(":PMU:OUTPUT:STATE 1, 0") == "ACK"
print("COUNT", n)
print("DATA", ";".join(points))
print("ERR", inst.query(":ERROR:LAST:GET"))
inst.close()
