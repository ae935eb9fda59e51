"""A stream's blocks of rows on the way into a run: what ``RunWriter.append`` checks a block against
(``_Spec``, resolved once at open), how it validates and converts one (``_columns_fast``, ``_columns``,
``_contiguous``), where it stages rows until a flush (``_Buf``), and how many staged rows a flush writes
so the file ends on a chunk boundary (``_aligned_rows``). No I/O here: the writer journals and writes."""
from __future__ import annotations

import math

import h5py
import numpy as np

from .schema import StoreError, Stream, _castable, _seq_prefix


class _Buf:
    """Fixed-capacity per-column staging buffers of one stream (memory bounded by flush_rows)."""

    def __init__(self, st: Stream, cap: int) -> None:
        self.cap, self.n = cap, 0
        self.cols = {c.name: np.empty((cap, *c.shape), c.np_dtype) for c in st.columns}
        self.arrays = [self.cols[c.name] for c in st.columns]   # schema order, for the append hot path


class _Spec:
    """What ``append`` checks and writes for one stream, resolved once at open (the hot path runs once per
    block: 3,425 times for a 2×10⁶-cycle endurance run), plus the stream's HDF5 datasets in write order."""

    def __init__(self, sid: int, st: Stream, group: h5py.Group, order: list[str], cap: int) -> None:
        self.sid = sid
        self.names = tuple(c.name for c in st.columns)
        self.dtypes = tuple(c.np_dtype for c in st.columns)
        self.tails = tuple(tuple(c.shape) for c in st.columns)
        self.ndims = tuple(1 + len(c.shape) for c in st.columns)
        self.seq_i = self.names.index(st.seq_col) if st.seq_col else None
        self.row_bytes = sum(dt.itemsize * int(np.prod(t, dtype=np.int64)) for dt, t in zip(self.dtypes, self.tails))
        self.order_i = [self.names.index(k) for k in order]          # seq column last (crash validator)
        self.dsets = [group[self.names[i]] for i in self.order_i]    # h5py lookups are ~50 µs each (review, 2026-12-02): once
        self.chunk_rows = [d.chunks[0] for d in self.dsets]
        self.zeros = [(0,) * (d.ndim - 1) for d in self.dsets]
        # whole chunks are stored as they are only where the file applies no filter (run.h5 while streaming)
        self.direct = [d.id.get_create_plist().get_nfilters() == 0 for d in self.dsets]
        self.align = math.lcm(*self.chunk_rows)    # rows after which every column ends on a chunk boundary
        self.chunk_bytes = sum(d.chunks[0] * d.dtype.itemsize * int(np.prod(d.shape[1:], dtype=np.int64))
                               for d in self.dsets)  # one partial chunk per column: what a write may allocate extra
        # a block of <= cap rows is contiguous iff seq - seq[0] == 0, 1, 2 ... (same test as _seq_prefix)
        self.ramp = np.arange(cap, dtype=self.dtypes[self.seq_i]) if self.seq_i is not None else None


def _columns_fast(sp: _Spec, block: dict) -> tuple[list | None, int]:
    """The block's columns when every one is already what the file stores (a C-contiguous ndarray of the
    column's dtype and row shape, equal lengths, no other keys): no conversion, no copy. Otherwise
    (None, 0) and ``_columns`` converts or says what is wrong."""
    if len(block) != len(sp.names):
        return None, 0
    cols, n = [], -1
    for name, dt, nd, tail in zip(sp.names, sp.dtypes, sp.ndims, sp.tails):
        a = block.get(name)
        if (type(a) is not np.ndarray or a.dtype != dt or a.ndim != nd or not a.flags.c_contiguous
                or (nd > 1 and a.shape[1:] != tail)):
            return None, 0
        if n < 0:
            n = a.shape[0]
        elif a.shape[0] != n:
            return None, 0
        cols.append(a)
    return cols, n


def _columns(stream: str, st: Stream, block: dict) -> tuple[list[np.ndarray], int]:
    """Validate and convert a block column by column (castable dtypes, array-likes); one clear error."""
    names = {c.name for c in st.columns}
    extra = set(block) - names
    if extra:
        raise StoreError(f"stream {stream!r}: unexpected column(s) {sorted(extra)}")
    cols, n = [], None
    for c in st.columns:
        if c.name not in block:
            raise StoreError(f"stream {stream!r}: missing column {c.name!r}")
        a = np.asarray(block[c.name])
        if a.dtype != c.np_dtype and not _castable(a, c.np_dtype):
            raise StoreError(f"stream {stream!r} column {c.name!r}: dtype {a.dtype} not castable to {c.dtype}")
        if a.ndim == 0 or a.shape[1:] != c.shape:
            raise StoreError(f"stream {stream!r} column {c.name!r}: shape {a.shape}, expected (n, *{c.shape})")
        if n is None:
            n = a.shape[0]
        elif a.shape[0] != n:
            raise StoreError(f"stream {stream!r} column {c.name!r}: length {a.shape[0]} != {n}")
        cols.append(np.ascontiguousarray(a, dtype=c.np_dtype))
    return cols, n or 0


def _contiguous(sp: _Spec, seq: np.ndarray, n: int) -> bool:
    """seq[i] == seq[0] + i for every row (``_seq_prefix(seq) == n``, without building a ramp per block)."""
    if n > len(sp.ramp):
        return _seq_prefix(seq) == n
    return bool(((seq - seq[0]) == sp.ramp[:n]).all())


def _aligned_rows(sp: _Spec, n_file: int, n_buf: int, room: int) -> int:
    """How many of n_buf buffered rows to write so that the file ends on a chunk boundary of every
    column: all of them when no boundary is reached or the rest would leave less than ``room`` rows
    free in the buffer (the block about to be buffered)."""
    m = (n_file + n_buf) // sp.align * sp.align - n_file
    return m if m > 0 and n_buf - m <= room else n_buf
