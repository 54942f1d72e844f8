"""Local filesystem backend.

Writes go through ``common/atomic.py`` (temporary file, fsync, rename, fsync of the directory), so a crash or power
loss leaves either the old state or the whole new object. Temporary files of a killed writer carry
``TEMP_MARK`` in their name and are removed by ``cleanup_temp``: at once when their writer is known dead, else once
older than ``TEMP_GRACE``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from qfbackup.common.atomic import TEMP_MARK, temp_writer_gone, write_atomic
from qfbackup.errors import ObjectMissing, StorageError
from qfbackup.repo.store import ObjectInfo, validate_name

TEMP_GRACE = 600.0  # another host's lock-free writer (key add, a lock) may be mid-write; a killed one's are older


class FsStore:
    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root).absolute()
        self.url = str(self.root)

    def _path(self, name: str) -> Path:
        return self.root / validate_name(name)

    def put(self, name: str, data: bytes | BinaryIO) -> None:
        path = self._path(name)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, data)
        except OSError as e:
            raise StorageError(f"cannot write {path}: {e.strerror}") from e

    def get(self, name: str) -> bytes:
        try:
            return self._path(name).read_bytes()
        except FileNotFoundError:
            raise ObjectMissing(name) from None
        except OSError as e:
            raise StorageError(f"cannot read {name}: {e.strerror}") from e

    def get_range(self, name: str, offset: int, length: int) -> bytes:
        try:
            with open(self._path(name), "rb") as f:
                f.seek(offset)
                return f.read(length)
        except FileNotFoundError:
            raise ObjectMissing(name) from None
        except OSError as e:
            raise StorageError(f"cannot read {name}: {e.strerror}") from e

    def open(self, name: str) -> BinaryIO:
        try:
            return open(self._path(name), "rb")
        except FileNotFoundError:
            raise ObjectMissing(name) from None

    def stat(self, name: str) -> ObjectInfo:
        try:
            return ObjectInfo(name, self._path(name).stat().st_size)
        except FileNotFoundError:
            raise ObjectMissing(name) from None

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        base = self.root / prefix.rsplit("/", 1)[0] if "/" in prefix else self.root
        if not base.is_dir():
            return
        for dirpath, _dirs, files in os.walk(base):
            for fn in files:
                if TEMP_MARK in fn:
                    continue
                full = os.path.join(dirpath, fn)
                name = os.path.relpath(full, self.root)
                if name.startswith(prefix):
                    try:
                        yield ObjectInfo(name, os.stat(full).st_size)
                    except FileNotFoundError:
                        continue

    def delete(self, name: str) -> None:
        try:
            self._path(name).unlink()
        except FileNotFoundError:
            pass

    def exists(self, name: str) -> bool:
        return self._path(name).exists()

    def cleanup_temp(self, prefix: str = "", older_than: float = TEMP_GRACE) -> int:
        """Remove temporary files under ``prefix`` left by killed writers; returns how many were removed."""
        removed = 0
        cutoff = time.time() - older_than
        for dirpath, _dirs, files in os.walk(self.root / prefix):
            for fn in files:
                full = os.path.join(dirpath, fn)
                if TEMP_MARK not in fn:
                    continue
                try:
                    if temp_writer_gone(fn) or os.stat(full).st_mtime <= cutoff:
                        os.unlink(full)
                        removed += 1
                except FileNotFoundError:  # its writer renamed it, or another cleaner was first
                    continue
        return removed
