"""Segment-Arb building blocks: the paper's read / write / read cycle as PMU segments.

A cycle for :meth:`instruments.pmu.PMU.plan_segment_arb` (looped ``n`` times by
``:PMU:SARB:WFM:SEQ:LIST ch, 1, n``, KXCI-E p. 7-55). The PMU has no current compliance (reference
§4.3): a write through it is not an Icc-limited SET, so the paper's protocols use the SMU; these
segments serve the PMU's own measurements (fast reads, the driver's Segment-Arb tests, the benchmark).
"""

from __future__ import annotations

from .pmu import Segment

__all__ = ["read_write_read_segments"]


def read_write_read_segments(v_read: float = 0.1, read_s: float = 10e-6, v_write: float = 2.0,
                             write_s: float = 10e-6, edge_s: float = 1e-6, gap_s: float = 2e-6) -> list[Segment]:
    """A read / write / read cycle as Segment-Arb segments (0 V at both ends, seamless, spot-mean reads
    over the middle 50 % of each read plateau)."""
    w0, w1 = 0.25 * read_s, 0.75 * read_s
    return [
        Segment(0.0, v_read, edge_s), Segment(v_read, v_read, read_s, 1, w0, w1), Segment(v_read, 0.0, edge_s),
        Segment(0.0, 0.0, gap_s),
        Segment(0.0, v_write, edge_s), Segment(v_write, v_write, write_s), Segment(v_write, 0.0, edge_s),
        Segment(0.0, 0.0, gap_s),
        Segment(0.0, v_read, edge_s), Segment(v_read, v_read, read_s, 1, w0, w1), Segment(v_read, 0.0, edge_s),
        Segment(0.0, 0.0, gap_s),
    ]
