"""Run store: one crash-safe, live-readable HDF5 file (+ journal) per measurement run.

Design follows ``reference/hdf5-streaming.md`` §6: a run is a directory on a *local* disk::

    <data_dir>/<YYYYmmddTHHMMSSZ>_<run_type>_<device>_<uuid8>/
        run.h5          SWMR-written (uncompressed) HDF5; becomes the analysis file at finalization
        run.journal     append-only CRC-framed binary journal of every append/event (source of truth)
        run.state.json  {"status", "pid", "host", "n_rows", "last_seq", ...}; atomic tmp+fsync+replace

Versioned layout ``labrc.run/1`` (NeXus-flavoured, netCDF/xarray readable once closed)::

    /                         @layout="labrc.run/1" @creator="labrc <ver>" @file_time @file_name
                              @HDF5_Version @h5py_version @default="entry" [@file_update_time at finalization]
    /entry                    @NX_class="NXentry" @default=<first stream with a signal>
                              @run_id @run_type @device @start_time @protocol @backend_kind @seed
        run_id, run_type, device, start_time, status("running")      scalar str datasets (up front)
        end_time, reason, safe_state_json, status(final)             written at finalization (r+, no SWMR)
        metadata_json                                                the whole metadata dict as JSON
        layout_json                                                  the schema (streams/columns/dtypes/units)
        /config       @NX_class="NXcollection"  <key>_json for each top-level metadata key
        /instrument   @NX_class="NXinstrument"
            /smu      @NX_class="NXcollection" @idn @options @resource
        /sample       @NX_class="NXsample" name=<device>
        /<stream>     @NX_class="NXdata" @signal @axes @<axis>_indices=0 [@n_rows at finalization]
            <column>  (N,) or (N, *shape), chunked, maxshape=(None, ...), uncompressed, @units;
                      the ``seq`` column (Stream.seq) is a dimension scale attached to the others
        /events       t f8 (s since start), level S16, message S256 -- appendable log incl. faults
        /segments     t f8 (s), wall_time S32 (ISO), reason S32, start_<stream> i8 (row offset per stream)

Rules: every object exists before ``swmr_mode=True``; only column datasets are appended during the run;
columns of a stream may differ by one flush, so readers clip to the common length and keep the longest
prefix where ``seq[i] == seq[0] + i``. Stream names ``config instrument sample events segments`` are
reserved. ``t`` columns are the caller's (seconds since start by convention).

Journal (``run.journal``): ``b"LABRCJ01"``, u32 header length, JSON header (layout, metadata, run identity),
then frames ``<IHHIII`` = magic, stream index, kind (0 rows, 1 event, 2 segment), n rows, payload bytes,
crc32(header[:16] + payload) followed by the payload. Row payloads are column-major (each column's bytes
in schema order, little-endian). Reading resynchronises on the next valid frame after damage (the gap is
reported); the torn tail is cut. It is fsynced about
every second by a background thread, so a power cut loses ~1 s; a kill -9 loses nothing already appended.

Modules: ``schema`` (streams, columns, constants), ``journal``, ``state`` (state file, writer liveness),
``layout`` (HDF5 skeleton, appends, finalization), ``blocks`` (a block's validation and staging), ``space``
(the writer's free-space guard), ``writer``, ``reader``, ``salvage`` (reading a crashed run.h5), ``recovery``.
"""
from .compact import compact_run, is_compacted
from .journal import JournalScan, read_journal, scan_journal
from .reader import RunReader, list_runs
from .recovery import close_run, recover
from .schema import H5_NAME, JOURNAL_NAME, LAYOUT_VERSION, STATE_NAME, STATUSES, Column, StoreError, Stream
from .writer import RunWriter

__all__ = ["Column", "Stream", "StoreError", "RunWriter", "RunReader", "list_runs", "recover", "read_journal",
           "scan_journal", "JournalScan", "close_run", "compact_run", "is_compacted",
           "LAYOUT_VERSION", "STATUSES", "H5_NAME", "JOURNAL_NAME", "STATE_NAME"]
