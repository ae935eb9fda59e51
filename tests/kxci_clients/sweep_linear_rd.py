"""Linear VAR1 sweep read point by point with RD (KXCI-E §5 example; Tek 'Linear sweep', 'res2t').

*RST, then only the channels the test uses; ME1; SP polled until 0/1; RD 'name', k until "0".
Usage: python sweep_linear_rd.py [RESOURCE]   (or KXCI_RESOURCE=...; default an Ethernet socket)
"""
import os
import sys
import time

import pyvisa

RESOURCE = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("KXCI_RESOURCE", "TCPIP0::192.0.2.0::1225::SOCKET")

rm = pyvisa.ResourceManager()
inst = rm.open_resource(RESOURCE, write_termination="\0", read_termination="\0", timeout=20000)
for cmd in ("BC", "*RST", ":ERROR:LAST:CLEAR", "DE", "CH 1, 'AV', 'AI', 1, 1", "CH 2, 'BV', 'BI', 1, 3", "SS",
            "VR 1, -1, 1, 40e-3, 100e-3", "VC 2, 0, 100e-3", "HT 0", "DT 0", "IT2", "RS 5", "RG 1, 100e-9",
            "RG 2, 100e-9", "SM", "DM1", "XN 'AV', 1, -1, 1", "YA 'AI', 1, -100e-9, 100e-9", "MD", "ME 1"):
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


for name in ("AV", "AI", "BI"):
    print(name, ",".join(repr(x) for x in retrieve(name)))
print("ERR", inst.query(":ERROR:LAST:GET"))
inst.close()
