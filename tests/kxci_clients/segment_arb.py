"""Segment-Arb pulse from the manual's example (KXCI-E p. 7-58), read with :PMU:DATA:GET."""
import time

import pyvisa

rm = pyvisa.ResourceManager()
inst = rm.open_resource("TCPIP0::4200a.lab::1225::SOCKET", write_termination="\0", read_termination="\0")
for cmd in (":PMU:INIT 1", ":PMU:RPM:CONFIGURE PMU1-1, 0", ":PMU:MEASURE:RANGE 1, 2, 0.2",
            ":PMU:SARB:SEQ:STARTV 1, 1, 0, 1, 1, 1.5, 1.5, 0, 0",
            ":PMU:SARB:SEQ:STOPV 1, 1, 1, 1, 1.5, 1.5, 0, 0, 0",
            ":PMU:SARB:SEQ:TIME 1, 1, 50e-9, 100e-9, 20e-9, 150e-9, 50e-9, 500e-9, 130e-9",
            ":PMU:SARB:SEQ:MEAS:TYPE 1, 1, 0, 1, 0, 1, 0, 0, 0",
            ":PMU:SARB:SEQ:MEAS:START 1, 1, 0, 25e-9, 0, 50e-9, 0, 0, 0",
            ":PMU:SARB:SEQ:MEAS:STOP 1, 1, 0, 75e-9, 0, 100e-9, 0, 0, 0",
            ":PMU:SARB:WFM:SEQ:LIST 1, 1, 1", ":PMU:OUTPUT:STATE 1, 1", ":PMU:EXECUTE"):
    assert inst.query(cmd) == "ACK", (cmd, inst.query(":ERROR:LAST:GET"))
while inst.query(":PMU:TEST:STATUS?") != "0":
    time.sleep(0.01)
n = int(inst.query(":PMU:DATA:COUNT? 1"))
data = inst.query(f":PMU:DATA:GET 1, 0, {n}")
print("COUNT", n)
print("DATA", data)
assert inst.query(":PMU:OUTPUT:STATE 1, 0") == "ACK"
