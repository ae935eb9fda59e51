"""The example ``labrc.toml`` that ``labrc init`` writes."""

from __future__ import annotations

EXAMPLE_TOML = """\
# labrc.toml — configuration of the probe station (SI units: V, A, s)
[instrument]
backend = "sim"                              # "sim" = embedded simulated 4200, "visa" = real instrument
resource = "TCPIP0::k4200.sim::1225::SOCKET" # real: "TCPIP0::<ip>::1225::SOCKET" or "GPIB0::17::INSTR"
visa_library = ""                            # real: "" = system VISA, "@py" = pyvisa-py
timeout_s = 20.0
transcript = false                           # true: every command and reply, timestamped, into the run file
top = "SMU1"                                 # SMU on the Ag top electrode
bottom = "SMU2"                              # SMU (held at 0 V) or "GNDU" on the ITO bottom electrode

[limits]                                     # operator limits; no protocol may exceed them
v_max_v = 8.0
v_min_v = -8.0
icc_max_a = 2e-2
cycles_max = 10000000

[data]
dir = "data"
flush_interval_s = 1.0                       # at most this much measured data is at risk
compact = true                               # compress run.h5 and drop the journal once verified

[sim]
preset = "OGB-Ag"                            # OGB-Ag, DDAB-Ag, OGB-Au, DDAB-Au
seed = 0
n_devices = 25
device = 0                                   # device under test on the simulated die
realtime_factor = 0.0                        # 0 = as fast as possible

[run]                                        # identity of the runs (or --sample, --device, ... on labrc run)
sample = ""                                  # chip / wafer piece; names the run directory with the device
device = ""                                  # "" = the simulated die index (D00); on hardware give one
operator = ""
note = ""
die_position = ""                            # where a prober gives one

[notify]                                     # unattended runs: told on the end or a stall (labrc.notify)
command = ""                                 # e.g. "notify-send labrc \"$LABRC_MESSAGE\""
urls = []                                    # apprise URLs, e.g. ["mailto://user:pass@example.com"]
stall_s = 600.0                              # no new rows for this long while running = a stall

[serve]                                      # labrc serve: 127.0.0.1 by default; elsewhere a token
host = "127.0.0.1"
port = 8765
token = ""                                   # "" = generated once, kept 0600 in ~/.config/labrc/serve.token
"""
