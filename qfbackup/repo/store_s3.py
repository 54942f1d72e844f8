"""S3 backend (AWS S3 or any S3-compatible server: SeaweedFS, MinIO, Ceph RGW).

A repository at ``s3://bucket/prefix`` keeps object ``NAME`` under key ``prefix/NAME``. A single PUT, and the
completion of a multipart upload, are atomic in S3, which is all the Store contract asks for.

Robustness, because object stores fail in small ways all the time:

* botocore's own retries (adaptive mode) plus an outer retry with exponential backoff for transient failures:
  HTTP 5xx, InternalError, SlowDown, throttling, timeouts and dropped connections. SeaweedFS, for one, answers
  InternalError for a moment after a restart. Errors that retrying cannot fix (403, missing bucket) fail at once.
* Streams are read with bounded memory: file objects go through boto3's managed multipart upload in 16 MiB parts
  with at most ``MAX_IN_MEMORY_PARTS`` parts buffered; ``open()`` returns a reader that resumes with a ranged GET
  (pinned to the object's ETag) if the connection drops mid-object.
* Errors become qfbackup errors: a missing object is ``ObjectMissing``, everything else ``StorageError`` with a
  sentence that names the bucket and what to do. The secret key is never stored on this object and never put in
  a message or a log line.

Credentials, in this order: explicit ``access_key``/``secret_key``; a credentials file; the environment
(``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, optional ``AWS_SESSION_TOKEN``). There is deliberately no
silent fallback to ~/.aws or instance metadata: a backup job must use the credentials its operator configured.

Credentials file format (one ``key=value`` per line; blank lines and ``#`` comments allowed)::

    access_key=AKIA...
    secret_key=...

The file must not be accessible by group or others (``chmod 600 FILE``); otherwise it is refused.
"""

from __future__ import annotations

import io
import logging
import os
import random
import stat as statmod
import time
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO, TypeVar

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    IncompleteReadError,
    NoCredentialsError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from qfbackup.errors import QfError, StorageError, UsageError
from qfbackup.repo.store import ObjectInfo, ObjectMissing, validate_name

log = logging.getLogger("qfbackup.repo.s3")

T = TypeVar("T")

MiB = 1024 * 1024
MULTIPART_THRESHOLD = 16 * MiB
MULTIPART_CHUNK = 16 * MiB
MAX_CONCURRENCY = 4
MAX_IN_MEMORY_PARTS = 4  # with 16 MiB parts: at most ~64 MiB of an upload buffered at once
READ_BUFFER = 1 * MiB

TRANSIENT_CODES = frozenset(
    {
        "InternalError",
        "ServiceUnavailable",
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestThrottled",
        "RequestTimeout",
        "RequestTimeoutException",
        "OperationAborted",
        "500",
        "502",
        "503",
        "504",
    }
)
MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
AUTH_CODES = frozenset(
    {
        "AccessDenied",
        "403",
        "Forbidden",
        "SignatureDoesNotMatch",
        "InvalidAccessKeyId",
        "InvalidToken",
        "ExpiredToken",
        "TokenRefreshRequired",
    }
)


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> (``bucket``, ``some/prefix/``); the prefix is empty or ends with '/'."""
    if not url.startswith("s3://"):
        raise UsageError(f"not an S3 URL: {url!r} (expected s3://BUCKET/PREFIX)")
    bucket, _, prefix = url[len("s3://") :].partition("/")
    if not bucket:
        raise UsageError(f"no bucket in S3 URL {url!r} (expected s3://BUCKET/PREFIX)")
    prefix = prefix.strip("/")
    if prefix:
        try:
            validate_name(prefix)
        except UsageError:
            raise UsageError(f"invalid prefix in S3 URL {url!r} (empty, '.' or '..' path parts)") from None
        prefix += "/"
    return bucket, prefix


def read_credentials_file(path: str | os.PathLike[str]) -> tuple[str, str]:
    """(access_key, secret_key) from a ``key=value`` file that only its owner can read (see module docstring)."""
    path = os.fspath(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise UsageError(f"S3 credentials file {path} does not exist") from None
    except OSError as e:
        raise UsageError(f"cannot read S3 credentials file {path}: {e.strerror}") from None
    if st.st_mode & 0o077:
        mode = statmod.S_IMODE(st.st_mode)
        raise UsageError(
            f"S3 credentials file {path} is accessible by group or others (mode {mode:04o}); "
            f"restrict it with: chmod 600 {path}"
        )
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise UsageError(f"cannot read S3 credentials file {path}: {e.strerror}") from None
    values: dict[str, str] = {}
    for lineno, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or key not in ("access_key", "secret_key"):
            # the line itself is not quoted: it may hold the secret
            raise UsageError(f"{path}:{lineno}: expected 'access_key=...' or 'secret_key=...'")
        values[key] = value.strip()
    missing = [k for k in ("access_key", "secret_key") if not values.get(k)]
    if missing:
        raise UsageError(f"S3 credentials file {path} has no {' and no '.join(missing)} line")
    return values["access_key"], values["secret_key"]


def resolve_credentials(
    access_key: str | None, secret_key: str | None, credentials_file: str | os.PathLike[str] | None
) -> tuple[str, str, str | None, str]:
    """(access_key, secret_key, session_token, where they came from) following the documented order."""
    if access_key or secret_key:
        if not (access_key and secret_key):
            raise UsageError("give both the S3 access key and the secret key, not only one")
        return access_key, secret_key, None, "arguments"
    if credentials_file:
        ak, sk = read_credentials_file(credentials_file)
        return ak, sk, None, f"file {os.fspath(credentials_file)}"
    ak = os.environ.get("AWS_ACCESS_KEY_ID")
    sk = os.environ.get("AWS_SECRET_ACCESS_KEY")
    if ak and sk:
        return ak, sk, os.environ.get("AWS_SESSION_TOKEN") or None, "environment"
    raise UsageError(
        "no S3 credentials: give an access key and secret key, a credentials file, "
        "or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    )


def _error_code(e: BaseException) -> str:
    if isinstance(e, ClientError):
        return str(e.response.get("Error", {}).get("Code", "")) or str(
            e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "")
        )
    return ""


def _http_status(e: ClientError) -> int:
    return int(e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


def is_transient(e: BaseException) -> bool:
    """Whether retrying the same request later may succeed."""
    if isinstance(e, ClientError):
        return _error_code(e) in TRANSIENT_CODES or _http_status(e) >= 500
    return isinstance(e, HTTPClientError | BotoConnectionError | IncompleteReadError | ConnectionError | TimeoutError)


class _Chain(io.RawIOBase):
    """Bytes already read from a stream followed by the rest of it (so the head can be inspected first)."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
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


def _read_up_to(f: BinaryIO, n: int) -> bytes:
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


class S3Store:
    """Store on an S3 bucket under a key prefix. Build it with ``from_url``; the constructor takes a ready client
    (tests inject a stubbed one)."""

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
        self.bucket = bucket
        self.prefix = prefix
        self.endpoint = endpoint
        self.access_key = access_key  # an identifier, shown in messages; the secret is only inside the client
        self.url = f"s3://{bucket}/{prefix.rstrip('/')}".rstrip("/")
        self.attempts = attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.page_size = page_size
        self._client = client
        self._sleep = sleep
        self._bucket_checked = False
        self.transfer_config = TransferConfig(
            multipart_threshold=MULTIPART_THRESHOLD,
            multipart_chunksize=MULTIPART_CHUNK,
            max_concurrency=MAX_CONCURRENCY,
            use_threads=True,
            preferred_transfer_client="classic",
        )
        # not a TransferConfig argument, but an attribute of its s3transfer base class: bounds buffered parts
        self.transfer_config.max_in_memory_upload_chunks = MAX_IN_MEMORY_PARTS

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        endpoint: str | None = None,
        region: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        credentials_file: str | os.PathLike[str] | None = None,
        connect_timeout: float = 10,
        read_timeout: float = 60,
        **options: Any,
    ) -> S3Store:
        """Open ``s3://bucket/prefix``. ``endpoint`` is for S3-compatible servers (path-style addressing is then
        used, as IP endpoints require); without it AWS_ENDPOINT_URL_S3/AWS_ENDPOINT_URL or AWS itself.
        ``options`` go to the constructor (attempts, backoff, page_size)."""
        bucket, prefix = parse_s3_url(url)
        ak, sk, token, source = resolve_credentials(access_key, secret_key, credentials_file)
        region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        endpoint = endpoint or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None
        config = Config(
            region_name=region,
            signature_version="s3v4",
            retries={"mode": "adaptive", "max_attempts": 5},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_pool_connections=max(10, MAX_CONCURRENCY * 2),
            s3={"addressing_style": "path" if endpoint else "auto"},
        )
        try:
            # a private session: the default one is shared, not thread-safe, and may carry other credentials
            client = boto3.session.Session().client(
                "s3",
                endpoint_url=endpoint,
                aws_access_key_id=ak,
                aws_secret_access_key=sk,
                aws_session_token=token,
                config=config,
            )
        except ValueError as e:  # e.g. a malformed endpoint URL
            raise UsageError(f"invalid S3 endpoint {endpoint!r}: {e}") from None
        log.debug("S3 store %s at %s, credentials from %s", url, endpoint or "AWS", source)
        return cls(bucket, prefix, client=client, endpoint=endpoint, access_key=ak, **options)

    def __repr__(self) -> str:
        return f"S3Store({self.url!r}, endpoint={self.endpoint!r})"

    def close(self) -> None:
        """Release pooled connections."""
        close = getattr(self._client, "close", None)
        if close is not None:
            close()

    # -- error handling -------------------------------------------------------------------------------------------

    def _key(self, name: str) -> str:
        return self.prefix + validate_name(name)

    def _where(self) -> str:
        return f"bucket {self.bucket!r}" + (f" at {self.endpoint}" if self.endpoint else "")

    def _translate(self, e: BaseException, op: str, name: str) -> QfError:
        """A qfbackup error for a failed S3 call. Server messages are included except for auth failures (they
        carry nothing useful); botocore never puts the secret key in an error, and neither do we."""
        code = _error_code(e)
        if isinstance(e, ClientError):
            message = str(e.response.get("Error", {}).get("Message", "") or "")
            if code in MISSING_CODES and name:
                return ObjectMissing(name)
            if code == "NoSuchBucket" or (code in MISSING_CODES and not name):
                return StorageError(
                    f"S3 {self._where()} does not exist; create it first (qfbackup does not create buckets)"
                )
            if code in AUTH_CODES:
                return StorageError(
                    f"S3 refused to {op} {name or self.url} in {self._where()} ({code}): check the access key "
                    f"{self.access_key!r}, its secret key and the bucket permissions"
                )
            detail = f"{code}: {message}" if message else code
            return StorageError(f"cannot {op} {name or self.url} in {self._where()}: {detail}")
        if isinstance(e, NoCredentialsError):
            return UsageError("no S3 credentials")
        if isinstance(e, BotoCoreError):
            return StorageError(f"cannot {op} {name or self.url} in {self._where()}: {e}")
        return StorageError(f"cannot {op} {name or self.url} in {self._where()}: {type(e).__name__}: {e}")

    def _delay(self, attempt: int) -> float:
        """Exponential backoff with full jitter (many workers retrying in step would hammer a struggling server)."""
        return random.uniform(0.5, 1.0) * min(self.max_backoff, self.backoff * (2 ** (attempt - 1)))

    def _call(self, op: str, name: str, fn: Callable[[], T], *, retry: bool = True) -> T:
        """Run ``fn`` retrying transient failures; translate the final error."""
        attempt = 1
        while True:
            try:
                return fn()
            except (ClientError, BotoCoreError, ConnectionError, TimeoutError) as e:
                if retry and is_transient(e) and attempt < self.attempts:
                    delay = self._delay(attempt)
                    log.warning(
                        "S3 %s of %s failed (%s), retry %d/%d in %.1f s",
                        op,
                        name or self.url,
                        _error_code(e) or type(e).__name__,
                        attempt,
                        self.attempts - 1,
                        delay,
                    )
                    self._sleep(delay)
                    attempt += 1
                    continue
                raise self._translate(e, op, name) from e

    # -- Store ----------------------------------------------------------------------------------------------------

    def put(self, name: str, data: bytes | BinaryIO) -> None:
        key = self._key(name)
        if isinstance(data, bytes | bytearray | memoryview):
            self._put_bytes(name, key, bytes(data))
            return
        start = data.tell() if _seekable(data) else None
        head = _read_up_to(data, MULTIPART_THRESHOLD)
        if len(head) < MULTIPART_THRESHOLD:  # small: one PUT, retried without needing to rewind the source
            self._put_bytes(name, key, head)
            return
        if start is None:
            # cannot rewind, so no retry of the whole upload; botocore still retries each part
            # buffered: s3transfer takes a short read() for the end of the stream, so each read must be full
            stream = io.BufferedReader(_Chain(head, data), buffer_size=READ_BUFFER)
            self._call("write", name, lambda: self._upload(stream, key), retry=False)
            return

        def upload_from_start() -> None:
            data.seek(start)
            self._upload(data, key)

        self._call("write", name, upload_from_start)

    def _put_bytes(self, name: str, key: str, blob: bytes) -> None:
        self._call("write", name, lambda: self._client.put_object(Bucket=self.bucket, Key=key, Body=blob))

    def _upload(self, f: Any, key: str) -> None:
        self._client.upload_fileobj(f, self.bucket, key, Config=self.transfer_config)

    def get(self, name: str) -> bytes:
        key = self._key(name)
        # the whole GET including the body read is retried: a connection can drop mid-body
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
                if _error_code(e) == "InvalidRange" or _http_status(e) == 416:
                    return b""  # offset at or past the end: nothing there, as reading a file there
                raise
            return resp["Body"].read()

        return self._call("read", name, fetch)

    def open(self, name: str) -> BinaryIO:
        key = self._key(name)
        resp = self._call("read", name, lambda: self._client.get_object(Bucket=self.bucket, Key=key))
        return io.BufferedReader(_S3Reader(self, name, key, resp), buffer_size=READ_BUFFER)  # type: ignore[return-value]

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
        # ListObjectsV2 page by page with the continuation token (what boto3's paginator does), each page
        # retried on its own: a transient error on page 40 must not restart the listing or lose it
        full = self.prefix + prefix
        cut = len(self.prefix)
        token: str | None = None
        while True:
            kw: dict[str, Any] = {"Bucket": self.bucket, "Prefix": full, "MaxKeys": self.page_size}
            if token:
                kw["ContinuationToken"] = token
            page = self._call("list", prefix, lambda kw=kw: self._client.list_objects_v2(**kw))
            for obj in page.get("Contents", ()):
                yield ObjectInfo(obj["Key"][cut:], int(obj["Size"]))
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return

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


def _seekable(f: Any) -> bool:
    try:
        return bool(f.seekable())
    except (AttributeError, OSError, ValueError):
        return False


class _S3Reader(io.RawIOBase):
    """The body of a GET as a raw stream; if the connection fails mid-object it continues with a ranged GET
    from the current offset, pinned with If-Match to the same object version (objects are immutable, so a
    mismatch means something is very wrong and is reported)."""

    def __init__(self, store: S3Store, name: str, key: str, resp: dict[str, Any]) -> None:
        self._store = store
        self._name = name
        self._key = key
        self._body = resp["Body"]
        self._etag = resp.get("ETag")
        self._size = int(resp.get("ContentLength", 0))
        self._pos = 0

    def readable(self) -> bool:
        return True

    def _reopen(self) -> None:
        kw: dict[str, Any] = {"Bucket": self._store.bucket, "Key": self._key, "Range": f"bytes={self._pos}-"}
        if self._etag:
            kw["IfMatch"] = self._etag
        try:
            self._body.close()
        except Exception:
            pass
        resp = self._store._call("read", self._name, lambda: self._store._client.get_object(**kw))
        self._body = resp["Body"]

    def readinto(self, b: Any) -> int:
        if self._pos >= self._size or len(b) == 0:
            return 0
        attempt = 1
        while True:
            try:
                data = self._body.read(min(len(b), self._size - self._pos))
                if not data:  # the server closed early
                    raise IncompleteReadError(actual_bytes=self._pos, expected_bytes=self._size)
                break
            except (ClientError, BotoCoreError, ConnectionError, TimeoutError) as e:
                if not is_transient(e) or attempt >= self._store.attempts:
                    raise self._store._translate(e, "read", self._name) from e
                log.warning("S3 read of %s broke at byte %d (%s), resuming", self._name, self._pos, e)
                self._store._sleep(self._store._delay(attempt))
                attempt += 1
                self._reopen()
        n = len(data)
        b[:n] = data
        self._pos += n
        return n

    def close(self) -> None:
        try:
            self._body.close()
        finally:
            super().close()
