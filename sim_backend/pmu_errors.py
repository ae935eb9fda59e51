"""The 4225-PMU's KXCI error codes and texts (KXCI-E p. 2-12, 2-13; reference §1.6)."""

from __future__ import annotations

E_UNSUPPORTED, E_DURING_TEST, E_NO_PULSE_CARD = -986, -980, -978
E_PMU_ARG, E_THERMAL, E_PULSE_CONFIG, E_ABORTED, E_MODE = -969, -968, -967, -966, -965
E_MAX_V, E_MAX_SAMPLES, E_SEGMENT, E_UNKNOWN_SEQ, E_MAX_SEQ = -964, -963, -962, -961, -960
E_SLEW, E_MIN_SEGMENTS, E_MEAS_TIME, E_SEAMLESS, E_SSR_RPM, E_MAX_SEGMENTS = -959, -958, -957, -956, -955, -954
E_STEP_NO_SWEEP, E_RATE_PULSE, E_RATE_SARB, E_POWER, E_PIV_POINTS = -953, -952, -951, -950, -949
E_STEP_COUNTS, E_PIV_ACQUIRE = -948, -947

PMU_ERROR_TEXT = {
    E_NO_PULSE_CARD: "VPU not present.",
    E_PMU_ARG: "Invalid PMU argument.", E_PULSE_CONFIG: "Invalid pulse parameter configuration.",
    E_ABORTED: "Execution aborted.", E_MODE: "Command not valid in present pulse mode.",
    E_MAX_V: "Max source voltage reached.",
    E_MAX_SAMPLES: "Max samples per channel exceeded.", E_SEGMENT: "Invalid segment.",
    E_UNKNOWN_SEQ: "Unknown sequence.", E_MAX_SEQ: "Max sequences exceeded.",
    E_SLEW: "Segment-Arb start/stop values violate minimum slew rate.",
    E_MIN_SEGMENTS: "At least 3 segments per sequence.", E_MEAS_TIME: "Sequence time too short for measurement.",
    E_SEAMLESS: "Segment start value does not match previous segment stop value.",
    E_SSR_RPM: "SSR cannot be opened when using RPM ranges.",
    E_MAX_SEGMENTS: "Max segments per PMU channel exceeded.",
    E_STEP_NO_SWEEP: "PMU stepper without sweeper.",
    E_RATE_PULSE: "Cannot adjust PMU sample rate (pulse).", E_RATE_SARB: "Cannot adjust PMU sample rate (SARB).",
    E_POWER: "System power limit exceeded.", E_PIV_POINTS: "Max measure points for pulse I-V exceeded.",
    E_STEP_COUNTS: "Sweeping channels have different step counts.",
    E_PIV_ACQUIRE: "Pulse I-V needs Acquire High or Low enabled.",
}
