"""User mode: DV steps with TI readings, then DI with a TV reading, outputs off (KXCI-E p. 5-45;
Tek 'Source voltage and measure current', 'Source current and measure voltage').
Usage: python user_mode_iv.py [RESOURCE]   (or KXCI_RESOURCE=...)
"""
import os
import sys

import pyvisa

RESOURCE = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("KXCI_RESOURCE", "TCPIP0::192.0.2.0::1225::SOCKET")

rm = pyvisa.ResourceManager()
inst = rm.open_resource(RESOURCE, write_termination="\0", read_termination="\0", timeout=20000)
for cmd in ("BC", "*RST", "US", "IT1 BC DR1", "DV2, 1, 0, 1E-3"):
    assert inst.query(cmd) == "ACK", cmd
volts, amps = [], []
for v in (0.2, 0.4, 0.6, 0.8, 1.0):
    assert inst.query(f"DV1, 1, {v}, 1E-3") == "ACK"
    r = inst.query("TI1")
    volts.append(v)
    amps.append(float(r[3:]))
    print("READING", r)
print("V", ",".join(repr(x) for x in volts))
print("I", ",".join(repr(x) for x in amps))
assert inst.query("DI1, 0, 2E-6, 10") == "ACK"
print("TV1", inst.query("TV1"))
print("SP", inst.query("SP"))
assert inst.query("DV1;DV2") == "ACK"
print("ERR", inst.query(":ERROR:LAST:GET"))
inst.close()
