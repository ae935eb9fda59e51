"""Voltage source and voltmeter channels: SMUs mapped with MP to VS1 / VM1; a system-mode VS sweep
monitored by the VM (VS, VM, SC on the pages), then user mode DS + TV (Tek 'Source voltage from
voltage source'). Usage: python voltage_source_monitor.py [RESOURCE]   (or KXCI_RESOURCE=...)
"""
import os
import sys
import time

import pyvisa

RESOURCE = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("KXCI_RESOURCE", "TCPIP0::192.0.2.0::1225::SOCKET")

rm = pyvisa.ResourceManager()
inst = rm.open_resource(RESOURCE, write_termination="\0", read_termination="\0", timeout=20000)
for cmd in ("BC", "*RST", "MP 1, VS1", "MP 2, VM1", "DE", "VS1, 'VSRC', 1", "VM1, 'VMON'", "SS",
            "VR1, 0, 2, 0.5", "SM DM2", "LI 'VSRC','VMON'", "MD", "ME1"):
    assert inst.query(cmd) == "ACK", cmd
while int(inst.query("SP")) not in (0, 1):
    time.sleep(0.05)
for name in ("VSRC", "VMON"):
    print(name, inst.query(f"DO '{name}'"))
for cmd in ("US", "DS1, 1.5"):
    assert inst.query(cmd) == "ACK", cmd
print("TV1", inst.query("TV1"))          # the SMU mapped to VS1
print("TV5", inst.query("TV5"))          # VM1
assert inst.query("DS1") == "ACK"
print("ERR", inst.query(":ERROR:LAST:GET"))
inst.close()
