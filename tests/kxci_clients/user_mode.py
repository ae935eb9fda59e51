"""User-mode source/measure exchange from the manual (KXCI-E p. 5-45): US, IT1 BC DR1, DV, TI, DV off."""
import pyvisa

rm = pyvisa.ResourceManager()
inst = rm.open_resource("TCPIP0::10.1.1.5::1225::SOCKET", write_termination="\0", read_termination="\0")
for cmd in ("US", "IT1 BC DR1", "DV1,1, 1.5, 1E-3", "DV2,1,0,1E-3"):
    assert inst.query(cmd) == "ACK", cmd
print("TI1", inst.query("TI1"))
print("TV1", inst.query("TV1"))
assert inst.query("DV1;DV2") == "ACK"
print("ERR", inst.query(":ERROR:LAST:GET"))
