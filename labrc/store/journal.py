"""The run journal: an append-only, CRC-framed binary log of every append, event and segment (source of truth)."""
from __future__ import annotations

import json
import os
import struct
import threading
import zlib
from pathlib import Path

import numpy as np

from .schema import StoreError, Stream

_J_MAGIC, _F_MAGIC = b"LABRCJ01", 0x4A43524C
_FRAME = struct.Struct("<IHHIII")
_K_ROWS, _K_EVENT, _K_SEGMENT = 0, 1, 2

class _Journal:
    """Append-only CRC-framed journal; frames go straight to the OS (one writev per call), a
    background thread fsyncs every ``fsync_s`` seconds (fsync releases the GIL, so appends never wait)."""

    def __init__(self, path: Path, header: dict | None, fsync_s: float = 1.0) -> None:
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_BINARY", 0)
        self.fd = os.open(path, flags, 0o644)
        if header is not None:
            h = json.dumps(header).encode()
            os.write(self.fd, _J_MAGIC + struct.pack("<I", len(h)) + h)
            os.fsync(self.fd)
        self._stop = threading.Event()
        self._dirty = False
        self._thread = threading.Thread(target=self._syncer, args=(fsync_s,), daemon=True, name="labrc-journal-fsync")
        self._thread.start()

    def _syncer(self, every: float) -> None:
        while not self._stop.wait(every):
            if self._dirty:
                self._dirty = False
                try:
                    os.fsync(self.fd)
                except OSError:
                    return

    def frame(self, stream: int, kind: int, n: int, bufs: list) -> None:
        views = [memoryview(b).cast("B") for b in bufs]
        size = sum(v.nbytes for v in views)
        head = _FRAME.pack(_F_MAGIC, stream, kind, n, size, 0)[:16]
        crc = zlib.crc32(head)
        for v in views:
            crc = zlib.crc32(v, crc)
        out = [head + struct.pack("<I", crc), *views]
        total = 20 + size
        done = os.writev(self.fd, out)
        if done < total:  # short write (rare, huge frames): finish with a plain write
            rest = b"".join(bytes(v) for v in out)[done:]
            while rest:
                rest = rest[os.write(self.fd, rest):]
        self._dirty = True

    def close(self) -> None:
        if self.fd < 0:
            return
        self._stop.set()
        self._thread.join()
        os.fsync(self.fd)
        os.close(self.fd)
        self.fd = -1


def read_journal(path: Path) -> tuple[dict, list[tuple[int, int, int, bytes]], int]:
    """Parse a journal: (header, [(stream, kind, n, payload)], byte offset of the valid end)."""
    data = Path(path).read_bytes()
    if data[:8] != _J_MAGIC:
        raise StoreError(f"{path}: not a labrc journal")
    (hl,) = struct.unpack_from("<I", data, 8)
    header = json.loads(data[12:12 + hl])
    pos, frames = 12 + hl, []
    while pos + 20 <= len(data):
        magic, st, kind, n, size, crc = _FRAME.unpack_from(data, pos)
        end = pos + 20 + size
        if magic != _F_MAGIC or end > len(data):
            break
        payload = data[pos + 20:end]
        if zlib.crc32(payload, zlib.crc32(data[pos:pos + 16])) != crc:
            break
        frames.append((st, kind, n, payload))
        pos = end
    return header, frames, pos


def _decode_rows(stream: Stream, n: int, payload: bytes) -> dict[str, np.ndarray]:
    out, off = {}, 0
    for c in stream.columns:
        cnt = n * int(np.prod(c.shape, dtype=np.int64))
        a = np.frombuffer(payload, dtype=c.np_dtype, count=cnt, offset=off).reshape((n, *c.shape))
        out[c.name] = a
        off += a.nbytes
    return out


