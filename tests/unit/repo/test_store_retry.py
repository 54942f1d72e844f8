"""store_retry.RetryingStore: what is safe to repeat is repeated under the policy, what is not is tried once.

The backend below is a MemStore whose calls fail with StoreUnavailable a chosen number of times, after consuming
part of the stream they were given (as a connection that drops mid-upload does)."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from typing import Any

import pytest

from qfbackup.common.retry import RetryPolicy
from qfbackup.errors import ObjectMissing, StorageError, StoreUnavailable
from qfbackup.repo.store import ObjectInfo
from qfbackup.repo.store_mem import MemStore
from qfbackup.repo.store_retry import REPLAY_LIMIT, RetryingStore


class FlakyStore(MemStore):
    """``failures[op]`` calls of ``op`` fail before succeeding; each call is counted in ``calls``."""

    def __init__(self, failures: dict[str, int]) -> None:
        super().__init__()
        self.failures = dict(failures)
        self.calls: dict[str, int] = {}

    def _maybe_fail(self, op: str) -> None:
        self.calls[op] = self.calls.get(op, 0) + 1
        if self.failures.get(op, 0) > 0:
            self.failures[op] -= 1
            raise StoreUnavailable(f"{op}: 503 SlowDown")

    def put(self, name: str, data: Any) -> None:
        if not isinstance(data, bytes) and self.failures.get("put", 0) > 0:
            data.read(1000)  # the connection dropped after the first bytes went out
        self._maybe_fail("put")
        super().put(name, data)

    def get(self, name: str) -> bytes:
        self._maybe_fail("get")
        return super().get(name)

    def stat(self, name: str) -> ObjectInfo:
        self._maybe_fail("stat")
        return super().stat(name)


class Pipe(io.RawIOBase):
    """Non-seekable, short reads."""

    def __init__(self, data: bytes) -> None:
        self._src = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        chunk = self._src.read(min(len(b), 65536))
        b[: len(chunk)] = chunk
        return len(chunk)


def wrapped(failures: dict[str, int], attempts: int = 3) -> tuple[RetryingStore, FlakyStore, list[float]]:
    inner = FlakyStore(failures)
    sleeps: list[float] = []
    return RetryingStore(inner, RetryPolicy(attempts=attempts, max_delay=0.2, sleep=sleeps.append)), inner, sleeps


def test_bytes_put_and_reads_are_retried_up_to_the_attempts() -> None:
    store, inner, sleeps = wrapped({"put": 2, "get": 2, "stat": 3})
    store.put("a", b"payload")
    assert store.get("a") == b"payload"
    assert inner.calls == {"put": 3, "get": 3}
    assert len(sleeps) == 4 and all(s <= 0.2 for s in sleeps)
    with pytest.raises(StoreUnavailable, match="stat: 503"):
        store.stat("a")
    assert inner.calls["stat"] == 3  # exactly the attempts, then the last error


def test_permanent_errors_and_missing_objects_are_not_retried() -> None:
    store, inner, sleeps = wrapped({})
    with pytest.raises(ObjectMissing):
        store.get("nothing")
    assert inner.calls == {"get": 1} and sleeps == []

    class Refusing(MemStore):
        calls = 0

        def delete(self, name: str) -> None:
            Refusing.calls += 1
            raise StorageError("S3 refused to delete x (AccessDenied)")

    with pytest.raises(StorageError, match="refused"):
        RetryingStore(Refusing(), RetryPolicy(attempts=5, sleep=sleeps.append)).delete("x")
    assert Refusing.calls == 1 and sleeps == []


def test_a_seekable_put_is_rewound_to_where_it_stood() -> None:
    data = os.urandom(50_000)
    f = io.BytesIO(b"HEADER" + data)
    f.seek(6)
    store, inner, _ = wrapped({"put": 2})
    store.put("obj", f)
    assert inner.calls["put"] == 3 and inner.get("obj") == data


def test_a_short_pipe_is_buffered_and_retried() -> None:
    data = os.urandom(300_000)
    store, inner, _ = wrapped({"put": 2})
    store.put("obj", Pipe(data))  # type: ignore[arg-type]
    assert inner.calls["put"] == 3 and inner.get("obj") == data


def test_a_long_pipe_is_put_once_without_retry() -> None:
    data = os.urandom(REPLAY_LIMIT + 12345)
    store, inner, sleeps = wrapped({})
    store.put("big", Pipe(data))  # type: ignore[arg-type]
    assert inner.get("big") == data  # the head read for the decision is not lost
    store, inner, sleeps = wrapped({"put": 1})
    with pytest.raises(StoreUnavailable):
        store.put("big", Pipe(data))  # type: ignore[arg-type]
    assert inner.calls["put"] == 1 and sleeps == []  # its first bytes are gone: it cannot be replayed


class PagedStore(MemStore):
    """A listing that fails on chosen pages and, like S3's, keeps its place when a page fails."""

    def __init__(self, names: list[str], page: int, fail_pages: dict[int, int]) -> None:
        super().__init__()
        for n in names:
            super().put(n, b"x")
        self.page = page
        self.fail_pages = dict(fail_pages)
        self.fetches: list[int] = []

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        store = self
        items = sorted(super().list(prefix), key=lambda i: i.name)

        class Listing:
            pos = 0

            def __iter__(self) -> Listing:
                return self

            def __next__(self) -> ObjectInfo:
                if self.pos >= len(items):
                    raise StopIteration
                if self.pos % store.page == 0:
                    number = self.pos // store.page
                    store.fetches.append(number)
                    if store.fail_pages.get(number, 0) > 0:
                        store.fail_pages[number] -= 1
                        raise StoreUnavailable(f"page {number}: 500 InternalError")
                self.pos += 1
                return items[self.pos - 1]

        return Listing()


def test_a_listing_retries_the_failed_page_not_the_whole_listing() -> None:
    names = [f"data/{i:03d}" for i in range(10)]
    inner = PagedStore(names, page=3, fail_pages={1: 2, 3: 1})
    sleeps: list[float] = []
    store = RetryingStore(inner, RetryPolicy(attempts=3, sleep=sleeps.append))
    assert [i.name for i in store.list("data/")] == names  # nothing lost, nothing twice
    assert inner.fetches == [0, 1, 1, 1, 2, 3, 3]  # each page has its own attempts
    assert len(sleeps) == 3
    inner = PagedStore(names, page=3, fail_pages={2: 3})
    with pytest.raises(StoreUnavailable, match="page 2"):
        list(RetryingStore(inner, RetryPolicy(attempts=3, sleep=sleeps.append)).list())
