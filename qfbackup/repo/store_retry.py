"""Any Store behind the one retry policy (``common/retry.py``), as restic wraps every backend in its retry backend.

The backend below makes exactly one request per call and marks the failures worth another try
(``StoreUnavailable``: a 5xx, throttling, a dropped connection); this wrapper alone decides how often and how long
to try again, so retries never stack (S3's client is configured to send each request once).

What is safe to repeat: every call but ``put`` from a stream, ``open`` (the stream it returns is the backend's to
resume, see ``s3_backend``) and each step of ``list``:

* ``put`` of bytes is repeated as it is; a seekable file is rewound to where it stood; a non-seekable stream (a
  pipe) cannot be rewound, so up to ``REPLAY_LIMIT`` bytes of it are read first: a stream that ends within them
  is put as bytes and retried like any other, a longer one is put once, without retry (the error then names
  the object and the run fails: the repository itself only ever puts bytes, packs included).
* ``list`` retries each step of the listing, not the whole of it (a failure on page 40 must not start again
  at page 1): the backend's listing iterator keeps its place (S3: the continuation token), so ``next()`` after
  a failed page asks for that page again. A backend whose listing can raise a retryable error must therefore
  not be a generator, which an error finishes.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO, TypeVar

from qfbackup.common.retry import RetryPolicy, retry, retryable
from qfbackup.repo.store import ObjectInfo, Store

T = TypeVar("T")

MiB = 1024 * 1024
REPLAY_LIMIT = 16 * MiB  # what a non-seekable put may hold in memory to be repeatable (S3's multipart threshold)


class Prepended(io.RawIOBase):
    """Bytes already read from a stream followed by the rest of it (so its head can be inspected first)."""

    def __init__(self, head: bytes, rest: Any) -> None:
        self._head = memoryview(head)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        if self._head:
            n = min(len(b), len(self._head))
            b[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._rest.read(len(b))
        b[: len(data)] = data
        return len(data)


def read_up_to(f: Any, n: int) -> bytes:
    """Read until ``n`` bytes or EOF (a single read() may return less)."""
    parts = []
    got = 0
    while got < n:
        chunk = f.read(n - got)
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def seekable(f: Any) -> bool:
    try:
        return bool(f.seekable())
    except (AttributeError, OSError, ValueError):
        return False


class RetryingStore:
    """``inner`` with every safe call tried again under ``policy`` while it fails with a retryable error."""

    def __init__(self, inner: Store, policy: RetryPolicy) -> None:
        self.inner = inner
        self.url = inner.url
        self.policy = policy

    def __repr__(self) -> str:
        return f"RetryingStore({self.inner!r})"

    def close(self) -> None:
        """Release the backend's pooled connections, where it has any."""
        close = getattr(self.inner, "close", None)
        if close is not None:
            close()

    def _retry(self, fn: Callable[[], T]) -> T:
        # the error names the operation and the object; the warning adds where and how many tries are left
        return retry(fn, self.policy, transient=retryable, what=self.url)

    def put(self, name: str, data: bytes | BinaryIO) -> None:
        if isinstance(data, bytes | bytearray | memoryview):
            self._retry(lambda: self.inner.put(name, data))
            return
        if seekable(data):
            start = data.tell()

            def from_start() -> None:
                data.seek(start)
                self.inner.put(name, data)

            self._retry(from_start)
            return
        head = read_up_to(data, REPLAY_LIMIT)
        if len(head) < REPLAY_LIMIT:
            self._retry(lambda: self.inner.put(name, head))
            return
        self.inner.put(name, Prepended(head, data))  # type: ignore[arg-type]  # not repeatable: one attempt

    def get(self, name: str) -> bytes:
        return self._retry(lambda: self.inner.get(name))

    def get_range(self, name: str, offset: int, length: int) -> bytes:
        return self._retry(lambda: self.inner.get_range(name, offset, length))

    def open(self, name: str) -> BinaryIO:
        return self._retry(lambda: self.inner.open(name))

    def stat(self, name: str) -> ObjectInfo:
        return self._retry(lambda: self.inner.stat(name))

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        listing = iter(self.inner.list(prefix))
        end = ObjectInfo("", -1)
        while (item := self._retry(lambda: next(listing, end))) is not end:
            yield item

    def delete(self, name: str) -> None:
        self._retry(lambda: self.inner.delete(name))

    def exists(self, name: str) -> bool:
        return self._retry(lambda: self.inner.exists(name))
