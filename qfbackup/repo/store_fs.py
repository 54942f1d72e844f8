"""Local filesystem backend.

Writes go to a temporary file in the target directory, are fsynced, renamed into place and the directory is
fsynced, so a crash or power loss leaves either the old state or the whole new object. Temporary files of a
killed writer are named ``*.tmp-*`` and removed by ``cleanup_temp``.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from qfbackup.errors import StorageError
from qfbackup.repo.store import ObjectInfo, ObjectMissing, validate_name

TEMP_MARK = ".tmp-"
COPY_BUF = 1 << 20


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
            tmp = path.with_name(f"{path.name}{TEMP_MARK}{os.getpid()}-{time.monotonic_ns()}")
            with open(tmp, "wb") as f:
                if isinstance(data, bytes | bytearray | memoryview):
                    f.write(data)
                else:
                    shutil.copyfileobj(data, f, COPY_BUF)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
            fsync_dir(path.parent)
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

    def cleanup_temp(self, older_than: float = 0.0) -> int:
        """Remove temporary files left by killed writers; returns how many were removed."""
        removed = 0
        cutoff = time.time() - older_than
        for dirpath, _dirs, files in os.walk(self.root):
            for fn in files:
                full = os.path.join(dirpath, fn)
                if TEMP_MARK in fn and os.stat(full).st_mtime <= cutoff:
                    os.unlink(full)
                    removed += 1
        return removed
