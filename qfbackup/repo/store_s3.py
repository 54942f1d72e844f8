"""S3 backend (AWS S3 or any S3-compatible server: SeaweedFS, MinIO, Ceph RGW).

A repository at ``s3://bucket/prefix`` keeps object ``NAME`` under key ``prefix/NAME``. A single PUT, and the
completion of a multipart upload, are atomic in S3, which is all the Store contract asks for.

Two layers, so that retries happen in one place and never stack:

* ``S3Backend`` sends one request per call (the client has botocore's retries off: ``s3_client``) and turns
  every failure into a qfbackup error, ``StoreUnavailable`` for those worth another try (``s3_errors``). Its
  streams come from ``s3_transfer`` (multipart uploads, GETs that resume mid-object).
* ``S3Store``, what ``open_store`` returns for ``s3://``, is that backend behind ``store_retry.RetryingStore``:
  ``attempts`` tries per operation in all, waits from ``backoff`` doubling up to ``max_backoff``, never more.

The secret key is never stored on these objects and never put in a message or a log line.
"""

from __future__ import annotations

import io
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO, TypeVar

from botocore.exceptions import ClientError

from qfbackup.common.retry import RetryPolicy
from qfbackup.errors import ObjectMissing, QfError, UsageError
from qfbackup.repo.s3_client import make_client
from qfbackup.repo.s3_errors import S3_FAILURES, error_code, http_status, translate
from qfbackup.repo.s3_transfer import READ_BUFFER, ResumingReader, upload
from qfbackup.repo.store import ObjectInfo, validate_name
from qfbackup.repo.store_retry import RetryingStore

T = TypeVar("T")


class S3Backend:
    """Store on an S3 bucket under a key prefix, one request per call. ``policy`` only paces the resumption of
    a broken GET body inside ``open()``'s stream (which no wrapper can repeat); whole calls are the wrapper's."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        client: Any,
        policy: RetryPolicy,
        endpoint: str | None = None,
        access_key: str | None = None,
        page_size: int = 1000,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self.endpoint = endpoint
        self.access_key = access_key  # an identifier, shown in messages; the secret is only inside the client
        self.url = f"s3://{bucket}/{prefix.rstrip('/')}".rstrip("/")
        self.page_size = page_size
        self._client = client
        self._policy = policy
        self._bucket_checked = False

    def __repr__(self) -> str:
        return f"S3Backend({self.url!r}, endpoint={self.endpoint!r})"

    def close(self) -> None:
        """Release pooled connections."""
        close = getattr(self._client, "close", None)
        if close is not None:
            close()

    def _key(self, name: str) -> str:
        return self.prefix + validate_name(name)

    def _where(self) -> str:
        return f"bucket {self.bucket!r}" + (f" at {self.endpoint}" if self.endpoint else "")

    def _fail(self, e: BaseException, op: str, name: str) -> QfError:
        return translate(e, op, name, url=self.url, where=self._where(), access_key=self.access_key)

    def _call(self, op: str, name: str, fn: Callable[[], T]) -> T:
        """Run ``fn`` (one request); its failure becomes a qfbackup error."""
        try:
            return fn()
        except S3_FAILURES as e:
            raise self._fail(e, op, name) from e

    def put(self, name: str, data: bytes | BinaryIO) -> None:
        key = self._key(name)
        if isinstance(data, bytes | bytearray | memoryview):
            body = bytes(data)
            self._call("write", name, lambda: self._client.put_object(Bucket=self.bucket, Key=key, Body=body))
        else:
            self._call("write", name, lambda: upload(self._client, self.bucket, key, data))

    def get(self, name: str) -> bytes:
        key = self._key(name)
        # the body is read inside the call: a connection that drops mid-body fails the call, which is repeatable
        return self._call("read", name, lambda: self._client.get_object(Bucket=self.bucket, Key=key)["Body"].read())

    def get_range(self, name: str, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0:
            raise UsageError(f"invalid range offset={offset} length={length}")
        key = self._key(name)
        if length == 0:
            self.stat(name)  # still ObjectMissing for a missing object, like the other backends
            return b""

        def fetch() -> bytes:
            try:
                resp = self._client.get_object(
                    Bucket=self.bucket, Key=key, Range=f"bytes={offset}-{offset + length - 1}"
                )
            except ClientError as e:
                if error_code(e) == "InvalidRange" or http_status(e) == 416:
                    return b""  # offset at or past the end: nothing there, as reading a file there
                raise
            return resp["Body"].read()

        return self._call("read", name, fetch)

    def open(self, name: str) -> BinaryIO:
        key = self._key(name)
        resp = self._call("read", name, lambda: self._client.get_object(Bucket=self.bucket, Key=key))
        reader = ResumingReader(
            self._client, self.bucket, key, resp, policy=self._policy, what=f"S3 read of {name}",
            fail=lambda e: self._fail(e, "read", name),
        )  # fmt: skip
        return io.BufferedReader(reader, buffer_size=READ_BUFFER)  # type: ignore[return-value]

    def stat(self, name: str) -> ObjectInfo:
        key = self._key(name)
        try:
            resp = self._call("stat", name, lambda: self._client.head_object(Bucket=self.bucket, Key=key))
        except ObjectMissing:
            self._check_bucket()  # HEAD has no body: a missing bucket also looks like a plain 404
            raise
        return ObjectInfo(name, int(resp["ContentLength"]))

    def _check_bucket(self) -> None:
        """Once per store: turn "404 because the bucket is missing" into a clear StorageError."""
        if self._bucket_checked:
            return
        self._call("check", "", lambda: self._client.head_bucket(Bucket=self.bucket))
        self._bucket_checked = True

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        return _Listing(self, prefix)

    def delete(self, name: str) -> None:
        key = self._key(name)
        # S3 answers 204 for a missing key, so deleting twice is not an error
        self._call("delete", name, lambda: self._client.delete_object(Bucket=self.bucket, Key=key))

    def exists(self, name: str) -> bool:
        try:
            self.stat(name)
        except ObjectMissing:
            return False
        return True


class _Listing:
    """ListObjectsV2 page by page with the continuation token (what boto3's paginator does). A page that fails
    leaves the iterator where it was, so the next ``next()`` asks for that page again: RetryingStore retries a
    transient error on page 40 without restarting the listing or losing it."""

    def __init__(self, backend: S3Backend, prefix: str) -> None:
        self._backend = backend
        self._prefix = prefix
        self._items: deque[ObjectInfo] = deque()
        self._token: str | None = None
        self._done = False

    def __iter__(self) -> _Listing:
        return self

    def __next__(self) -> ObjectInfo:
        while not self._items:
            if self._done:
                raise StopIteration
            self._fetch_page()
        return self._items.popleft()

    def _fetch_page(self) -> None:
        b = self._backend
        kw: dict[str, Any] = {"Bucket": b.bucket, "Prefix": b.prefix + self._prefix, "MaxKeys": b.page_size}
        if self._token:
            kw["ContinuationToken"] = self._token
        page = b._call("list", self._prefix, lambda: b._client.list_objects_v2(**kw))
        cut = len(b.prefix)
        self._items.extend(ObjectInfo(obj["Key"][cut:], int(obj["Size"])) for obj in page.get("Contents", ()))
        self._token = page.get("NextContinuationToken")
        self._done = not page.get("IsTruncated") or not self._token


class S3Store(RetryingStore):
    """The S3 repository store: ``S3Backend`` behind the one retry policy. Build it with ``from_url``; the
    constructor takes a ready client (tests inject a stubbed one) and the policy's numbers."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        client: Any,
        endpoint: str | None = None,
        access_key: str | None = None,
        attempts: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        page_size: int = 1000,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        # full jitter down to half: many workers failing together must not hammer a struggling server in step
        policy = RetryPolicy(attempts=attempts, initial_delay=backoff, max_delay=max_backoff, jitter=0.5, sleep=sleep)
        backend = S3Backend(
            bucket, prefix, client=client, policy=policy, endpoint=endpoint, access_key=access_key,
            page_size=page_size,
        )  # fmt: skip
        super().__init__(backend, policy)
        self.endpoint = endpoint

    def __repr__(self) -> str:
        return f"S3Store({self.url!r}, endpoint={self.endpoint!r})"

    @property
    def attempts(self) -> int:
        """Tries per operation, the first included."""
        return self.policy.attempts

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        attempts: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        page_size: int = 1000,
        sleep: Callable[[float], None] = time.sleep,
        **client_options: Any,
    ) -> S3Store:
        """Open ``s3://bucket/prefix``: ``client_options`` go to ``s3_client.make_client`` (endpoint, region,
        credentials, timeouts), the rest to the constructor."""
        c = make_client(url, **client_options)
        return cls(
            c.bucket, c.prefix, client=c.client, endpoint=c.endpoint, access_key=c.access_key, attempts=attempts,
            backoff=backoff, max_backoff=max_backoff, page_size=page_size, sleep=sleep,
        )  # fmt: skip
