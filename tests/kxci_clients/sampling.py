"""Sampling (time-domain) test: every channel constant, NR readings IN apart after WT, read with RD
including the timestamps 'CH1T' (Tek '2 SMUs 0V'; KXCI-E p. 5-24). Usage: python sampling.py [RESOURCE]
"""
import os
import sys
import time

import pyvisa

RESOURCE = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("KXCI_RESOURCE", "TCPIP0::192.0.2.0::1225::SOCKET")

rm = pyvisa.ResourceManager()
inst = rm.open_resource(RESOURCE, write_termination="\0", read_termination="\0", timeout=20000)
for cmd in ("BC", "*RST", "DE", "CH2, 'VS', 'IS', 1, 3", "CH1, 'VD', 'ID', 1, 3", "SS", "VC1, 0.3, 100e-3",
            "VC2, 0, 100e-3", "HT 0", "IT1", "RS 5", "SM", "NR 20", "IN 0.05", "WT 0.5", "DM1", "XT 0, 2",
            "YA 'ID', 1, 0, 1e-6", "YB 'IS', 1, -1e-6, 0", "MD", "ME1"):
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


for name in ("ID", "IS", "CH1T"):
    print(name, ",".join(repr(x) for x in retrieve(name)))
print("ERR", inst.query(":ERROR:LAST:GET"))
inst.close()
