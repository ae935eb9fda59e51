"""VAR1 linear sweep read back point by point with RD (after Tektronix 'Linear sweep without plotting.py').

Plain pyvisa, nothing from labrc: run with PYVISA_LIBRARY=@labrc to use the simulated 4200.
"""
import time

import pyvisa

rm = pyvisa.ResourceManager()
inst = rm.open_resource("TCPIP0::192.168.0.2::1225::SOCKET", write_termination="\0", read_termination="\0",
                        timeout=20000)
print(inst.query("*IDN?"))
for cmd in ("BC", ":ERROR:LAST:CLEAR", "DE", "CH1, 'V1', 'I1', 1, 1", "CH2, 'V2', 'I2', 1, 3", "CH3", "CH4",
            "SS VR1, 0, 1, 0.1, 1E-3", "VC2, 0, 0.1", "SM", "DM2", "LI 'V1','I1'", "MD", "ME1"):
    assert inst.query(cmd) == "ACK", cmd
while int(inst.query("SP")) not in (0, 1):
    time.sleep(0.01)
k, currents = 1, []
while True:
    r = inst.query(f"RD 'I1', {k}")
    if r == "0":
        break
    currents.append(float(r))
    k += 1
print("POINTS", len(currents))
print("LAST", currents[-1])
inst.close()
