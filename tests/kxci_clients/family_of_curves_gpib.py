"""Family of curves over GPIB: VAR1 drain sweep stepped by a VAR2 stepper (VP), DR1 then
wait_for_srq(), the serial poll byte, RD readback (Tek 'family_of_curves data retrival GPIB').
Usage: python family_of_curves_gpib.py [RESOURCE]   (or KXCI_RESOURCE=...; default GPIB0::17::INSTR)
"""
import os
import sys

import pyvisa

RESOURCE = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("KXCI_RESOURCE", "GPIB0::17::INSTR")

rm = pyvisa.ResourceManager()
inst = rm.open_resource(RESOURCE, write_termination="\n", read_termination="\n", timeout=20000)
inst.write("BC")
inst.write("*RST")
inst.write("DR1")
for cmd in ("DE", "CH 1, 'VD', 'ID', 1, 1", "CH 2, 'VG', 'IG', 1, 2", "SS", "VR 1, 0, 1, 0.1, 10e-3",
            "VP 0, -0.25, 4, 10e-3", "HT 0", "DT 0.001", "IT2", "RS 5", "SM", "DM1", "XN 'VD', 1, 0, 1",
            "YA 'ID', 1, 0, 2e-6", "MD", "ME 1"):
    inst.write(cmd)
inst.wait_for_srq(20000)
print("STB_AFTER", inst.read_stb())      # the serial poll inside wait_for_srq cleared B0 and B6


def retrieve(name):
    k, out = 1, []
    while True:
        r = inst.query(f"RD '{name}', {k}")
        if r == "0":
            return out
        out.append(float(r))
        k += 1


for name in ("ID", "VD", "VG"):
    print(name, ",".join(repr(x) for x in retrieve(name)))
print("ERR", inst.query(":ERROR:LAST:GET"))
inst.close()
