"""List sweep read with DO, several commands per message (KXCI-E p. 2-11, 5-44 style), over GPIB."""
import time

import pyvisa

rm = pyvisa.ResourceManager()
inst = rm.open_resource("GPIB0::17::INSTR", write_termination="\n", read_termination="\n", timeout=20000)
print(inst.query("ID"))
inst.write("BC;DE;CH1, 'VD', 'ID', 1, 1;CH2, 'VS', 'IS', 1, 3;CH3;CH4")
inst.write("SS;VL1, 1, 0.01, 0, 0.25, 0.5, 0.25, 0;VC2, 0, 0.1;DT 0.01")
inst.write("SM;DM2;LI 'VD','ID';MD;ME1")
while inst.read_stb() & 16:
    time.sleep(0.01)
reply = inst.query("DO 'ID'")
print("ID", reply)
print("N", len(reply.split(",")))
