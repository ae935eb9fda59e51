"""Current sweep: IR VAR1 current source with voltage compliance, the other electrode a 0 V constant,
read with RD (Tek 'Current sweep'). Usage: python current_sweep.py [RESOURCE]   (or KXCI_RESOURCE=...)
"""
import os
import sys
import time

import pyvisa

RESOURCE = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("KXCI_RESOURCE", "TCPIP0::192.0.2.0::1225::SOCKET")

rm = pyvisa.ResourceManager()
inst = rm.open_resource(RESOURCE, write_termination="\0", read_termination="\0", timeout=20000)
for cmd in ("BC", "*RST", "DE", "CH1, 'V1', 'I1', 2, 1", "CH2, 'V2', 'I2', 1, 3", "SS",
            "IR1, 1e-7, 3e-6, 1e-7, 1.95", "VC2, 0, 100e-3", "DT 0.2", "IT1", "SM DM2", "LI 'I1','I2','V1','V2'",
            "MD", "ME1"):
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


for name in ("I1", "V1", "I2"):
    print(name, ",".join(repr(x) for x in retrieve(name)))
print("S1", inst.query("DO 'V1'"))       # status letters: C where the 1.95 V compliance holds the source
print("ERR", inst.query(":ERROR:LAST:GET"))
inst.close()
