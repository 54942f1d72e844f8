"""Streaming to and from S3 with bounded memory: multipart uploads of file objects, and a GET that resumes.

Uploads of file objects go through boto3's managed transfer: one PUT under ``MULTIPART_THRESHOLD``, else parts
of ``MULTIPART_CHUNK`` with at most ``MAX_IN_MEMORY_PARTS`` buffered. A GET body that breaks mid-object continues
with a ranged GET from the current offset, pinned with If-Match to the same object version (objects are
immutable, so a mismatch means something is very wrong and is reported), under the store's retry policy.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import IncompleteReadError

from qfbackup.common.retry import RetryPolicy, retry
from qfbackup.errors import QfError
from qfbackup.repo.s3_errors import S3_FAILURES, is_transient
from qfbackup.repo.store_retry import Prepended, seekable

MiB = 1024 * 1024
MULTIPART_THRESHOLD = 16 * MiB
MULTIPART_CHUNK = 16 * MiB
MAX_CONCURRENCY = 4
MAX_IN_MEMORY_PARTS = 4  # with 16 MiB parts: at most ~64 MiB of an upload buffered at once
READ_BUFFER = 1 * MiB

TRANSFER_CONFIG = TransferConfig(
    multipart_threshold=MULTIPART_THRESHOLD,
    multipart_chunksize=MULTIPART_CHUNK,
    max_concurrency=MAX_CONCURRENCY,
    use_threads=True,
    preferred_transfer_client="classic",
)
# not a TransferConfig argument, but an attribute of its s3transfer base class: bounds buffered parts
TRANSFER_CONFIG.max_in_memory_upload_chunks = MAX_IN_MEMORY_PARTS


def upload(client: Any, bucket: str, key: str, f: Any) -> None:
    """Upload ``f`` from its current position to its end (one PUT, or a multipart upload for a large one)."""
    if not seekable(f):
        # s3transfer takes a short read() for the end of the stream, so each read must be full: buffered
        f = io.BufferedReader(Prepended(b"", f), buffer_size=READ_BUFFER)
    client.upload_fileobj(f, bucket, key, Config=TRANSFER_CONFIG)


class ResumingReader(io.RawIOBase):
    """The body of a GET as a raw stream that resumes where it broke (see the module docstring). ``fail`` turns
    the last S3 error into the store's error for this object."""

    def __init__(
        self,
        client: Any,
        bucket: str,
        key: str,
        resp: dict[str, Any],
        *,
        policy: RetryPolicy,
        what: str,
        fail: Callable[[BaseException], QfError],
    ) -> None:
        self._client = client
        self._bucket = bucket
        self._key = key
        self._body: Any = resp["Body"]
        self._etag = resp.get("ETag")
        self._size = int(resp.get("ContentLength", 0))
        self._pos = 0
        self._policy = policy
        self._what = what
        self._fail = fail

    def readable(self) -> bool:
        return True

    def _read_once(self, n: int) -> bytes:
        if self._body is None:  # broken on an earlier try: continue from the current offset
            kw: dict[str, Any] = {"Bucket": self._bucket, "Key": self._key, "Range": f"bytes={self._pos}-"}
            if self._etag:
                kw["IfMatch"] = self._etag
            self._body = self._client.get_object(**kw)["Body"]
        data = self._body.read(n)
        if not data:  # the server closed early
            raise IncompleteReadError(actual_bytes=self._pos, expected_bytes=self._size)
        return data

    def _broke(self, attempt: int, error: BaseException, wait: float) -> None:
        body, self._body = self._body, None
        if body is not None:
            try:
                body.close()
            except Exception:  # noqa: BLE001 - a broken connection may fail to close as well
                pass

    def readinto(self, b: Any) -> int:
        if self._pos >= self._size or len(b) == 0:
            return 0
        n = min(len(b), self._size - self._pos)
        try:
            data = retry(
                lambda: self._read_once(n),
                self._policy,
                transient=is_transient,
                what=f"{self._what} at byte {self._pos}",
                on_retry=self._broke,
            )
        except S3_FAILURES as e:
            raise self._fail(e) from e
        b[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def close(self) -> None:
        try:
            if self._body is not None:
                self._body.close()
        finally:
            super().close()
