"""One behaviour for every storage backend: the same tests run on memory, a local directory and real S3.

The repository code above the Store only relies on what these tests check, so a backend that passes them can
hold a repository. The S3 run is against a real SeaweedFS server (marker ``s3``), not a mock. At the end:
S3-only checks (credentials, bucket errors, retries, multipart, pagination).
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import pytest
from botocore.exceptions import ResponseStreamingError
from botocore.stub import Stubber

from qfbackup.errors import NotFound, ObjectMissing, StorageError, UsageError
from qfbackup.repo.s3_client import parse_s3_url, read_credentials_file
from qfbackup.repo.s3_transfer import MULTIPART_THRESHOLD
from qfbackup.repo.store import ObjectInfo, Store
from qfbackup.repo.store_fs import FsStore
from qfbackup.repo.store_mem import MemStore
from qfbackup.repo.store_s3 import S3Store

MiB = 1024 * 1024
BIG = 20 * MiB + 12345  # over the multipart threshold, not a multiple of the part size


@pytest.fixture(scope="module")
def conformance_bucket(seaweed: Any) -> str:
    """One bucket for the module; each test gets its own prefix in it. (A new bucket per test costs ~0.2 s in
    SeaweedFS, which allocates volumes for it on the first write.)"""
    return seaweed.create_bucket(f"qfb-conformance-{uuid.uuid4().hex[:12]}")


@pytest.fixture(params=["mem", "fs", pytest.param("s3", marks=pytest.mark.s3)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "mem":
        yield MemStore()
    elif request.param == "fs":
        yield FsStore(tmp_path / "repo")
    else:
        seaweed = request.getfixturevalue("seaweed")
        bucket = request.getfixturevalue("conformance_bucket")
        s3 = S3Store.from_url(f"s3://{bucket}/t-{uuid.uuid4().hex[:12]}/repo", **seaweed.store_options())
        yield s3
        s3.close()


class NonSeekable(io.RawIOBase):
    """A pipe-like source (pg_basebackup output): read() only, short reads, no seek or tell."""

    def __init__(self, data: bytes, max_read: int = 1 * MiB + 7) -> None:
        self._src = io.BytesIO(data)
        self._max = max_read

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, b: Any) -> int:
        chunk = self._src.read(min(len(b), self._max))
        b[: len(chunk)] = chunk
        return len(chunk)


def names(infos: Iterator[ObjectInfo]) -> list[str]:
    return sorted(i.name for i in infos)


# ---------------------------------------------------------------------------------------------------------------
# the conformance suite


def test_put_get_bytes(store: Store) -> None:
    store.put("config", b"hello")
    assert store.get("config") == b"hello"
    assert store.exists("config")
    store.put("empty", b"")
    assert store.get("empty") == b""
    assert store.stat("empty") == ObjectInfo("empty", 0)


@pytest.mark.parametrize("source", ["seekable", "pipe"])
def test_put_large_file_object(store: Store, source: str) -> None:
    data = os.urandom(BIG)
    if source == "seekable":  # positioned past a header: only the rest is the object
        f: BinaryIO = io.BytesIO(b"HEADER" + data)
        f.seek(6)
    else:
        f = NonSeekable(data)  # type: ignore[assignment]
    store.put("packs/big", f)
    assert store.stat("packs/big").size == BIG
    assert hashlib.sha256(store.get("packs/big")).digest() == hashlib.sha256(data).digest()


def test_put_small_file_object(store: Store) -> None:
    store.put("small", NonSeekable(b"abc" * 1000, max_read=100))  # type: ignore[arg-type]
    assert store.get("small") == b"abc" * 1000


def test_put_file_object_from_current_position(store: Store) -> None:
    f = io.BytesIO(b"HEADERbody")
    f.seek(6)
    store.put("tail", f)
    assert store.get("tail") == b"body"


def test_get_range(store: Store) -> None:
    data = bytes(range(256)) * 40
    store.put("r", data)
    assert store.get_range("r", 0, 10) == data[:10]
    assert store.get_range("r", 1000, 500) == data[1000:1500]
    assert store.get_range("r", len(data) - 5, 100) == data[-5:]  # short at the end
    assert store.get_range("r", len(data), 10) == b""  # at the end
    assert store.get_range("r", len(data) + 100, 10) == b""  # past it
    assert store.get_range("r", 5, 0) == b""


def test_open_streams(store: Store) -> None:
    data = os.urandom(3 * MiB + 1)
    store.put("stream", data)
    with store.open("stream") as f:
        first = f.read(1000)
        rest = b"".join(iter(lambda: f.read(64 * 1024), b""))
    assert first + rest == data
    with store.open("stream") as f:
        assert f.read() == data


def test_stat(store: Store) -> None:
    store.put("a/b/c", b"12345")
    assert store.stat("a/b/c") == ObjectInfo("a/b/c", 5)


def test_list_by_prefix(store: Store) -> None:
    for name in ["data/ab/1", "data/ab/2", "data/ac/3", "database", "snapshots/s1", "config"]:
        store.put(name, name.encode())
    assert names(store.list()) == sorted(["data/ab/1", "data/ab/2", "data/ac/3", "database", "snapshots/s1", "config"])
    assert names(store.list("data/")) == ["data/ab/1", "data/ab/2", "data/ac/3"]
    assert names(store.list("data/ab/")) == ["data/ab/1", "data/ab/2"]
    assert names(store.list("data/a")) == ["data/ab/1", "data/ab/2", "data/ac/3"]
    assert names(store.list("data")) == ["data/ab/1", "data/ab/2", "data/ac/3", "database"]
    assert names(store.list("nothing/")) == []
    sizes = {i.name: i.size for i in store.list("snapshots/")}
    assert sizes == {"snapshots/s1": len(b"snapshots/s1")}


def test_delete(store: Store) -> None:
    store.put("d/x", b"1")
    store.delete("d/x")
    assert not store.exists("d/x")
    assert names(store.list("d/")) == []
    store.delete("d/x")  # again: not an error
    store.delete("never/was")


def test_missing_object(store: Store) -> None:
    for call in (
        lambda: store.get("no/such"),
        lambda: store.get_range("no/such", 0, 10),
        lambda: store.open("no/such"),
        lambda: store.stat("no/such"),
    ):
        with pytest.raises(ObjectMissing) as exc:
            call()
        assert isinstance(exc.value, NotFound)
        assert exc.value.exit_code == 6
        assert "no/such" in str(exc.value)
    assert not store.exists("no/such")


def test_overwrite(store: Store) -> None:
    store.put("k", b"first version")
    store.put("k", b"second")
    assert store.get("k") == b"second"
    assert store.stat("k").size == 6
    assert names(store.list()) == ["k"]


def test_names_with_slashes(store: Store) -> None:
    deep = "data/3f/3f0a9b/" + "x" * 64
    store.put(deep, b"deep")
    store.put("data/3f/other", b"neighbour")
    store.put("data/3fa", b"prefix sibling")
    assert store.get(deep) == b"deep"
    assert names(store.list("data/3f/")) == ["data/3f/3f0a9b/" + "x" * 64, "data/3f/other"]
    assert names(store.list("data/3f/3f0a9b/")) == [deep]


def test_invalid_names_refused(store: Store) -> None:
    for bad in ["", "/abs", "a/../b", "..", "a//b", "./a", "a/.", "trailing/"]:
        with pytest.raises(UsageError):
            store.put(bad, b"x")
    assert names(store.list()) == []


# ---------------------------------------------------------------------------------------------------------------
# S3 only, against the real server


@pytest.mark.s3
def test_s3_multipart_used_for_large_objects(seaweed: Any, s3_bucket: str) -> None:
    s3 = S3Store.from_url(f"s3://{s3_bucket}/p", **seaweed.store_options())
    s3.put("big", NonSeekable(os.urandom(BIG)))  # type: ignore[arg-type]
    etag = seaweed.client().head_object(Bucket=s3_bucket, Key="p/big")["ETag"]
    assert etag.strip('"').endswith("-2"), etag  # 20 MiB in 16 MiB parts
    assert BIG > MULTIPART_THRESHOLD


@pytest.mark.s3
def test_s3_prefix_isolation_and_pagination(seaweed: Any, s3_bucket: str) -> None:
    client = seaweed.client()
    client.put_object(Bucket=s3_bucket, Key="other/x", Body=b"not ours")
    client.put_object(Bucket=s3_bucket, Key="repo-sibling", Body=b"not ours either")
    s3 = S3Store.from_url(f"s3://{s3_bucket}/repo/", **seaweed.store_options(), page_size=3)
    expected = [f"obj/{i:02d}" for i in range(10)]
    for name in expected:
        s3.put(name, b"v")
    assert names(s3.list()) == expected  # 4 pages of at most 3
    assert s3.url == f"s3://{s3_bucket}/repo"
    assert client.get_object(Bucket=s3_bucket, Key="repo/obj/00")["Body"].read() == b"v"


@pytest.mark.s3
def test_s3_wrong_secret_is_storage_error_without_secret(
    seaweed: Any, s3_bucket: str, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "WRONG-secret-" + os.urandom(12).hex()
    s3 = S3Store.from_url(
        f"s3://{s3_bucket}", endpoint=seaweed.endpoint, access_key=seaweed.access_key, secret_key=wrong
    )
    caplog.set_level(logging.DEBUG)
    for call in (lambda: s3.put("x", b"1"), lambda: s3.get("x"), lambda: s3.stat("x"), lambda: list(s3.list())):
        with pytest.raises(StorageError) as exc:
            call()
        err = exc.value
        assert err.exit_code == 8
        assert "refused" in str(err) and seaweed.access_key in str(err)
        chain: list[BaseException] = []
        e: BaseException | None = err
        while e is not None:
            chain.append(e)
            e = e.__cause__ or e.__context__
        for link in chain:
            assert wrong not in str(link) and wrong not in repr(link)
    assert wrong not in caplog.text
    assert wrong not in repr(s3) and wrong not in str(vars(s3))


@pytest.mark.s3
def test_s3_missing_bucket(seaweed: Any) -> None:
    s3 = S3Store.from_url("s3://qfb-no-such-bucket/x", **seaweed.store_options())
    for call in (lambda: s3.put("a", b"1"), lambda: s3.get("a"), lambda: s3.stat("a"), lambda: s3.exists("a")):
        with pytest.raises(StorageError, match="does not exist"):
            call()


@pytest.mark.s3
def test_s3_credentials_file(seaweed: Any, s3_bucket: str, tmp_path: Path) -> None:
    creds = tmp_path / "s3.creds"
    creds.write_text(f"# test\naccess_key = {seaweed.access_key}\nsecret_key={seaweed.secret_key}\n")
    creds.chmod(0o600)
    s3 = S3Store.from_url(f"s3://{s3_bucket}", endpoint=seaweed.endpoint, credentials_file=creds)
    s3.put("via-file", b"ok")
    assert s3.get("via-file") == b"ok"


@pytest.mark.s3
def test_s3_environment_credentials(seaweed: Any, s3_bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", seaweed.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", seaweed.secret_key)
    monkeypatch.setenv("AWS_ENDPOINT_URL", seaweed.endpoint)
    s3 = S3Store.from_url(f"s3://{s3_bucket}")
    s3.put("via-env", b"ok")
    assert s3.get("via-env") == b"ok"


# ---------------------------------------------------------------------------------------------------------------
# S3 only, no server needed


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_s3_credentials_file_readable_by_others_refused(tmp_path: Path, mode: int) -> None:
    creds = tmp_path / "s3.creds"
    creds.write_text("access_key=AK\nsecret_key=very-secret-value\n")
    creds.chmod(mode)
    with pytest.raises(UsageError) as exc:
        S3Store.from_url("s3://bucket/x", endpoint="http://127.0.0.1:9", credentials_file=creds)
    assert f"chmod 600 {creds}" in str(exc.value)
    assert "very-secret-value" not in str(exc.value)


def test_s3_credentials_file_format_errors(tmp_path: Path) -> None:
    creds = tmp_path / "c"
    creds.write_text("[default]\naws_secret_access_key=very-secret-value\n")
    creds.chmod(0o600)
    with pytest.raises(UsageError) as exc:
        read_credentials_file(creds)
    assert ":1:" in str(exc.value) and "very-secret-value" not in str(exc.value)
    creds.write_text("access_key=AK\n")
    with pytest.raises(UsageError, match="no secret_key"):
        read_credentials_file(creds)
    with pytest.raises(UsageError, match="does not exist"):
        read_credentials_file(tmp_path / "missing")


def test_s3_credentials_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    with pytest.raises(UsageError, match="no S3 credentials"):
        S3Store.from_url("s3://bucket")
    with pytest.raises(UsageError, match="both"):
        S3Store.from_url("s3://bucket", access_key="AK")


@pytest.mark.parametrize(
    ("url", "expected"),
    [("s3://b", ("b", "")), ("s3://b/", ("b", "")), ("s3://b/p/q/", ("b", "p/q/")), ("s3://b/p", ("b", "p/"))],
)
def test_s3_url_parsing(url: str, expected: tuple[str, str]) -> None:
    assert parse_s3_url(url) == expected


@pytest.mark.parametrize("url", ["s3://", "s3:///x", "file:///x", "s3://b/../x", "s3://b/a//c"])
def test_s3_bad_urls(url: str) -> None:
    with pytest.raises(UsageError):
        parse_s3_url(url)


def _stubbed_store() -> tuple[S3Store, Stubber, list[float]]:
    import boto3

    client = boto3.session.Session().client(
        "s3", region_name="us-east-1", aws_access_key_id="AK", aws_secret_access_key="SK"
    )
    sleeps: list[float] = []
    return S3Store("bkt", "p/", client=client, sleep=sleeps.append), Stubber(client), sleeps


def test_s3_transient_errors_are_retried() -> None:
    s3, stub, sleeps = _stubbed_store()
    for code, status in (("InternalError", 500), ("SlowDown", 503)):
        stub.add_client_error("put_object", service_error_code=code, http_status_code=status)
    stub.add_response("put_object", {"ETag": '"x"'}, {"Bucket": "bkt", "Key": "p/obj", "Body": b"data"})
    with stub:
        s3.put("obj", b"data")
    stub.assert_no_pending_responses()
    assert len(sleeps) == 2 and sleeps[1] > sleeps[0] * 0.5  # backed off


def test_s3_gives_up_after_attempts_and_does_not_retry_permanent_errors() -> None:
    s3, stub, sleeps = _stubbed_store()
    for _ in range(s3.attempts):
        stub.add_client_error("head_object", service_error_code="InternalError", http_status_code=500)
    with stub, pytest.raises(StorageError, match="InternalError"):
        s3.stat("obj")
    assert len(sleeps) == s3.attempts - 1
    sleeps.clear()
    stub.add_client_error("put_object", service_error_code="AccessDenied", http_status_code=403)
    with stub, pytest.raises(StorageError, match="refused"):
        s3.put("obj", b"x")
    assert sleeps == []


class _FlakyBody:
    """A GET body whose connection breaks once after ``fail_at`` bytes (by error, or by ending early)."""

    def __init__(self, data: bytes, fail_at: int | None, how: str) -> None:
        self._data, self._pos, self._fail_at, self._how = data, 0, fail_at, how

    def read(self, n: int = -1) -> bytes:
        if self._fail_at is not None and self._pos >= self._fail_at:
            if self._how == "error":
                raise ResponseStreamingError(error="connection reset by peer")
            return b""  # closed early, without an error
        end = len(self._data) if n < 0 else self._pos + n
        if self._fail_at is not None:
            end = min(end, self._fail_at)
        chunk = self._data[self._pos : end]
        self._pos += len(chunk)
        return chunk

    def close(self) -> None:
        pass


class _ResumingClient:
    def __init__(self, data: bytes, how: str) -> None:
        self.data = data
        self.how = how
        self.calls: list[dict[str, Any]] = []

    def get_object(self, **kw: Any) -> dict[str, Any]:
        self.calls.append(kw)
        start = int(kw["Range"].removeprefix("bytes=").split("-")[0]) if "Range" in kw else 0
        fail_at = 1_000_003 if len(self.calls) == 1 else None
        body = _FlakyBody(self.data[start:], fail_at, self.how)
        return {"Body": body, "ETag": '"etag-1"', "ContentLength": len(self.data) - start}


@pytest.mark.parametrize("how", ["error", "early-eof"])
def test_s3_open_resumes_after_broken_connection(how: str) -> None:
    data = os.urandom(3 * MiB)
    client = _ResumingClient(data, how)
    s3 = S3Store("bkt", "p/", client=client, sleep=lambda _s: None)
    with s3.open("pack") as f:
        assert f.read() == data
    assert len(client.calls) == 2
    assert client.calls[1]["Range"] == "bytes=1000003-"
    assert client.calls[1]["IfMatch"] == '"etag-1"'  # the same object version, or an error
