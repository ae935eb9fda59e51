"""Dual list sweep 0 → 1 → 0 V (VL master list) read whole with DO, status letters kept, and the
timestamps DO 'CH1T' (reference §2.8). Usage: python sweep_list_do.py [RESOURCE]   (or KXCI_RESOURCE=...)
"""
import os
import sys
import time

import pyvisa

RESOURCE = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("KXCI_RESOURCE", "TCPIP0::192.0.2.0::1225::SOCKET")
LEVELS = [round(0.1 * k, 1) for k in range(11)] + [round(0.1 * k, 1) for k in range(9, -1, -1)]

rm = pyvisa.ResourceManager()
inst = rm.open_resource(RESOURCE, write_termination="\0", read_termination="\0", timeout=20000)
for cmd in ("BC", "*RST", "DE", "CH1, 'VD', 'ID', 1, 1", "CH2, 'VS', 'IS', 1, 3", "SS",
            "VL1, 1, 1E-3, " + ", ".join(str(v) for v in LEVELS), "VC2, 0, 1E-3", "HT 0", "DT 0.01", "SR 1, 2",
            "IT2", "RS 7", "SM", "DM2", "LI 'VD','ID'", "MD", "ME1"):
    assert inst.query(cmd) == "ACK", cmd
while int(inst.query("SP")) not in (0, 1):
    time.sleep(0.05)
for name in ("ID", "VD", "CH1T"):
    print(name, inst.query(f"DO '{name}'"))
print("ERR", inst.query(":ERROR:LAST:GET"))
inst.close()
