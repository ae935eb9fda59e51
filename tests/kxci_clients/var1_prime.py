"""VAR1' channels following VAR1 · ratio + offset (CH…,4; RT ratio, ch; FS offset, ch), read with DO
(Tek 'Multi-channel sweep'). Usage: python var1_prime.py [RESOURCE]   (or KXCI_RESOURCE=...)
"""
import os
import sys
import time

import pyvisa

RESOURCE = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("KXCI_RESOURCE", "TCPIP0::192.0.2.0::1225::SOCKET")

rm = pyvisa.ResourceManager()
inst = rm.open_resource(RESOURCE, write_termination="\0", read_termination="\0", timeout=20000)
for cmd in ("BC", "*RST", "DE", "CH1, 'V1', 'I1', 1, 1", "CH2, 'V2', 'I2', 1, 4", "CH3, 'V3', 'I3', 1, 4", "SS",
            "VR1, 0, 1, 0.1, 100e-3", "RT 0.5, 2", "FS -0.2, 2", "RT 1, 3", "HT 0", "DT 0.2", "IT1", "SM DM2",
            "LI 'I1','I2','I3','V1','V2','V3'", "MD", "ME1"):
    assert inst.query(cmd) == "ACK", cmd
while int(inst.query("SP")) not in (0, 1):
    time.sleep(0.05)
for name in ("V1", "I1", "V2", "I2", "V3"):
    print(name, inst.query(f"DO '{name}'"))
print("ERR", inst.query(":ERROR:LAST:GET"))
inst.close()
