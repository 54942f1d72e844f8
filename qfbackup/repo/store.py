"""The storage backend interface: a flat namespace of immutable, named objects.

The repository above it only ever writes whole objects under new names (content-addressed), reads them whole,
by byte range or as a stream, lists by prefix and deletes. Keeping the interface this small is what lets the
same repository code, and the same conformance tests, run on a local disk and on S3.

Names are slash-separated relative paths such as ``data/3f/3f0a...``; a backend maps them onto its own space.
``put`` must be atomic: a reader sees the whole object or nothing, never a prefix.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from qfbackup.errors import UsageError


@dataclass(frozen=True)
class ObjectInfo:
    name: str
    size: int


class Store(Protocol):
    """What every backend provides. Implementations: fs.FsStore, s3.S3Store, mem.MemStore."""

    url: str

    def put(self, name: str, data: bytes | BinaryIO) -> None:
        """Store an object atomically and durably. ``data`` may be a file object read to its end."""

    def get(self, name: str) -> bytes:
        """Read a whole (small) object. Raises ObjectMissing."""

    def get_range(self, name: str, offset: int, length: int) -> bytes:
        """Read ``length`` bytes at ``offset``. Raises ObjectMissing."""

    def open(self, name: str) -> BinaryIO:
        """Stream an object (for large ones: packs during verify and copy)."""

    def stat(self, name: str) -> ObjectInfo:
        """Size of an object. Raises ObjectMissing."""

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Objects whose names start with ``prefix``, in no particular order."""

    def delete(self, name: str) -> None:
        """Remove an object; removing a missing one is not an error."""

    def exists(self, name: str) -> bool:
        """Whether the object exists."""


def validate_name(name: str) -> str:
    """Refuse names that could escape the repository (absolute, '..', empty parts)."""
    parts = name.split("/")
    if not name or name.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise UsageError(f"invalid object name {name!r}")
    return name


def open_store(url: str, *, s3_options: dict | None = None) -> Store:
    """Open the backend for a repository URL: a local path, ``file://PATH``, ``s3://bucket/prefix`` or ``mem://``.
    An S3 store comes behind the retry wrapper (``store_s3.S3Store``); a local disk has no transient failures."""
    if url.startswith("s3://"):
        from qfbackup.repo.store_s3 import S3Store

        return S3Store.from_url(url, **(s3_options or {}))
    if url.startswith("mem://"):
        from qfbackup.repo.store_mem import MemStore

        return MemStore(url)
    from qfbackup.repo.store_fs import FsStore

    return FsStore(url.removeprefix("file://"))
