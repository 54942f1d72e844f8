"""A local read-through cache for the immutable, content-named objects every command reads: indexes, snapshots.

Listing snapshots means reading every one of them; from S3 that is one GET each, every run. Indexes and
snapshots never change once written and are named by the hash of their bytes, so a local copy is valid
forever and checked on every read (a damaged cache entry is dropped and fetched again, never trusted). The
cached bytes are the encrypted objects: the cache holds nothing a thief could read. ``verify`` never uses the
cache: it must look at the repository itself.
"""

from __future__ import annotations

from pathlib import Path

from qfbackup.common.atomic import write_atomic
from qfbackup.repo.crypto import content_hash
from qfbackup.repo.store import Store

CACHED_PREFIXES = ("index/", "snapshots/")


class CachingStore:
    def __init__(self, inner: Store, cache_dir: Path) -> None:
        self.inner = inner
        self.url = inner.url
        self.dir = Path(cache_dir)

    def __getattr__(self, name: str):
        return getattr(self.inner, name)  # put, get_range, open, stat, list, delete, exists

    def get(self, name: str) -> bytes:
        if not name.startswith(CACHED_PREFIXES):
            return self.inner.get(name)
        path = self.dir / name
        try:
            data = path.read_bytes()
            if content_hash(data) == name.rsplit("/", 1)[1]:
                return data
        except OSError:
            pass
        data = self.inner.get(name)
        if content_hash(data) == name.rsplit("/", 1)[1]:  # only good copies are kept
            try:
                path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                write_atomic(path, data, mode=0o600, durable=False)  # hash-checked on read: no fsync needed
            except OSError:
                pass  # a cache we cannot write (another user, full disk) only costs speed
        return data
