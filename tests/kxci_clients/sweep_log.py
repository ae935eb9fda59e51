"""Log VAR1 sweep (VR4 = 50 points per decade, no step, no compliance), list display mode, RD readback
(Tek 'Log sweep'). Usage: python sweep_log.py [RESOURCE]   (or KXCI_RESOURCE=...)
"""
import os
import sys
import time

import pyvisa

RESOURCE = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("KXCI_RESOURCE", "TCPIP0::192.0.2.0::1225::SOCKET")

rm = pyvisa.ResourceManager()
inst = rm.open_resource(RESOURCE, write_termination="\0", read_termination="\0", timeout=20000)
for cmd in ("BC", "*RST", "DE", "CH1, 'V1', 'I1', 1, 1", "CH2, 'V2', 'I2', 1, 3", "SS", "VC2, 0, 100e-3",
            "VR4, 10e-3, 1", "HT 0", "DT 0.2", "IT1", "SM DM2", "LI 'I1','I2','V1','V2'", "MD", "ME1"):
    assert inst.query(cmd) == "ACK", cmd
while int(inst.query("SP")) not in (0, 1):
    time.sleep(0.05)


def retrieve(name):
    k, out = 1, []
    while True:
        r = inst.query(f"RD '{name}', {k}")
        if r == "0":
            return out
        out.append(float(r))
        k += 1


for name in ("I1", "V1", "I2", "V2"):
    print(name, ",".join(repr(x) for x in retrieve(name)))
print("ERR", inst.query(":ERROR:LAST:GET"))
inst.close()
