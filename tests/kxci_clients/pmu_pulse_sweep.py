"""Pulse I-V amplitude sweep (Tektronix KXCI example "pulse IV sweep", KXCI-E p. 7-27): channel 1
pulses from 0 to 5 V in 0.1 V steps, 10 us period, 500 ns width, 20 ns edges, 10 pulses averaged per
step (:PMU:MEASURE:MODE 3); the default data of a point are VH,IH,TH,SH,VL,IL,TL,SL.

Resource: sys.argv[1], else $KXCI_RESOURCE, else the lab's address (socket-capable client).
"""
import os
import sys
import time

import pyvisa

RESOURCE = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("KXCI_RESOURCE", "TCPIP0::192.0.2.0::1225::SOCKET")

rm = pyvisa.ResourceManager()
inst = rm.open_resource(RESOURCE, write_termination="\0", read_termination="\0", timeout=20000)
for cmd in (":PMU:INIT 0", ":PMU:RPM:CONFIGURE PMU1-1, 0", ":PMU:CONNECTION:COMP 1, 1, 0", ":PMU:LOAD 1, 1e6",
            ":PMU:MEASURE:MODE 3", ":PMU:LLEC:CONFIGURE 1, 1", ":PMU:SWEEP:PULSE:AMPLITUDE 1, 0, 5, 0.1, 0, 0",
            ":PMU:PULSE:TIMES 1, 1e-5, 500e-9, 2e-8, 2e-8, 0", ":PMU:PULSE:TRAIN 2, 0, 0",
            ":PMU:MEASURE:RANGE 1, 2, 0.01", ":PMU:PULSE:BURST:COUNT 10", ":PMU:OUTPUT:STATE 1, 1", ":PMU:EXECUTE"):
    assert inst.query(cmd) == "ACK", (cmd, inst.query(":ERROR:LAST:GET"))
while int(inst.query(":PMU:TEST:STATUS?")) != 0:
    time.sleep(0.01)
print("COUNT", inst.query(":PMU:DATA:COUNT? 1"))
print("DATA", inst.query(":PMU:DATA:GET 1"))
assert inst.query(":PMU:OUTPUT:STATE 1, 0") == "ACK"
print("ERR", inst.query(":ERROR:LAST:GET"))
inst.close()
