"""Where the lake's files live: a local folder or S3-compatible object storage.

Files are immutable and written atomically: a local file is written under ``_tmp/``,
flushed to disk and renamed into place; an object is uploaded in one PUT, which S3 makes
visible whole or not at all. File names carry the SHA-256 of their content, so writing
the same data twice yields the same name and never a second copy.
"""

from __future__ import annotations

import hashlib
import os
import urllib.parse
import uuid
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

TIMESERIES_DIR = "timeseries"
STREAM_DIR = "stream"
CATALOG_DIR = "catalog"
TMP_DIR = "_tmp"

#: Parquet writer settings for time series: files sorted by tag then time, so row-group
#: statistics let a reader skip every tag it does not ask for.
PARQUET_OPTIONS = {
    "compression": "zstd",
    "compression_level": 1,
    "use_dictionary": ["batch_id", "tag"],
    "row_group_size": 64 * 1024,
    "write_statistics": True,
}


def path_segment(text: str) -> str:
    """A folder name safe on every filesystem and object store (percent-encoded)."""
    return urllib.parse.quote(text, safe="") or "%00"


@dataclass(frozen=True)
class WrittenFile:
    """A file now in place: its path relative to the root, SHA-256 and size [bytes]."""

    path: str
    sha256: str
    size_bytes: int


class Storage:
    """The lake root: a local folder, or ``s3://bucket/prefix`` on object storage.

    Parameters
    ----------
    root : str or path
        Local folder, or an ``s3://`` URI; pyarrow's URI options apply, e.g.
        ``s3://bucket/lake?endpoint_override=127.0.0.1:9000&scheme=http``. Credentials come
        from the usual ``AWS_*`` environment variables.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        text = str(root)
        self.is_local = "://" not in text
        if self.is_local:
            self.fs: pafs.FileSystem = pafs.LocalFileSystem()
            self.base = str(Path(text).resolve())
        else:
            self.fs, base = pafs.FileSystem.from_uri(text)
            self.base = base.rstrip("/")
        self.uri = text

    def full(self, relpath: str) -> str:
        """The filesystem path of ``relpath``."""
        return f"{self.base}/{relpath}"

    def write_bytes(self, relpath: str, data: bytes) -> None:
        """Write ``data`` at ``relpath`` atomically (temp file + rename, or a single PUT)."""
        if self.is_local:
            final = Path(self.full(relpath))
            tmp_dir = Path(self.full(TMP_DIR))
            tmp_dir.mkdir(parents=True, exist_ok=True)
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp = tmp_dir / f"{uuid.uuid4().hex}.part"
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, final)
            _fsync_dir(final.parent)
        else:
            with self.fs.open_output_stream(self.full(relpath)) as out:
                out.write(data)

    def write_parquet(self, table: pa.Table, folder: str, *, prefix: str = "part") -> WrittenFile:
        """Write ``table`` as an immutable, content-addressed Parquet file under ``folder``."""
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, **PARQUET_OPTIONS)
        data = sink.getvalue().to_pybytes()
        sha = hashlib.sha256(data).hexdigest()
        relpath = f"{folder}/{prefix}-{sha[:24]}.parquet"
        self.write_bytes(relpath, data)
        return WrittenFile(relpath, sha, len(data))

    def write_table(self, table: pa.Table, relpath: str) -> None:
        """Write ``table`` as Parquet at a fixed ``relpath`` (replacing it atomically)."""
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression="zstd")
        self.write_bytes(relpath, sink.getvalue().to_pybytes())

    def list_files(self, folder: str) -> list[str]:
        """Every file under ``folder`` (recursively), relative to the root."""
        selector = pafs.FileSelector(self.full(folder), recursive=True, allow_not_found=True)
        prefix = self.base + "/"
        return sorted(
            info.path[len(prefix):] if info.path.startswith(prefix) else info.path
            for info in self.fs.get_file_info(selector)
            if info.type == pafs.FileType.File
        )

    def delete(self, relpath: str) -> None:
        """Delete a file (no error if it is already gone)."""
        try:
            self.fs.delete_file(self.full(relpath))
        except FileNotFoundError:
            pass

    def sha256(self, relpath: str) -> str:
        """SHA-256 (hex) of a stored file."""
        h = hashlib.sha256()
        with self.fs.open_input_stream(self.full(relpath)) as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
        return h.hexdigest()


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
