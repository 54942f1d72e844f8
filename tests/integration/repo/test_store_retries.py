"""One logical S3 operation against a failing endpoint sends exactly the configured number of HTTP requests.

Before the one retry policy, qfbackup's own 5 tries each ran botocore's 6: one ``stat()`` against a dead endpoint
sent 30 requests. Here the store is opened as every command opens it (``open_store``) and pointed at a local HTTP
server that counts what arrives and answers 503, refuses with 403, or drops the connection unanswered.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from qfbackup.errors import StorageError, StoreUnavailable
from qfbackup.repo.store import Store, open_store

SLOW_DOWN = b"<?xml version='1.0'?><Error><Code>SlowDown</Code><Message>Please reduce your rate</Message></Error>"
DENIED = b"<?xml version='1.0'?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"


class CountingS3:
    """A stand-in S3 endpoint on 127.0.0.1: counts requests by method; ``mode`` says how each is answered."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.requests: list[str] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                with outer._lock:
                    outer.requests.append(self.command)
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                if outer.mode == "drop":  # the dead endpoint: accepts, reads, closes without a word
                    self.close_connection = True
                    return
                status, body = (503, SLOW_DOWN) if outer.mode == "503" else (403, DENIED)
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(0 if self.command == "HEAD" else len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _answer

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, name="counting-s3", daemon=True
        )

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def count(self) -> int:
        with self._lock:
            return len(self.requests)


@pytest.fixture
def endpoint(request: pytest.FixtureRequest) -> Iterator[CountingS3]:
    s3 = CountingS3(request.param)
    s3.thread.start()
    try:
        yield s3
    finally:
        s3.server.shutdown()
        s3.server.server_close()
        s3.thread.join(timeout=10)


def open_counted(s3: CountingS3, sleeps: list[float], **options: object) -> Store:
    """The store as commands open it, with the wait recorded instead of slept (the cap is checked on it)."""
    opts = {
        "endpoint": s3.endpoint,
        "region": "us-east-1",
        "access_key": "AK",
        "secret_key": "SK-not-real",
        "connect_timeout": 2,
        "read_timeout": 2,
        "sleep": sleeps.append,
        **options,
    }
    return open_store("s3://bkt/repo", s3_options=opts)


@pytest.mark.parametrize("endpoint", ["503", "drop"], indirect=True)
def test_stat_sends_exactly_the_default_attempts(endpoint: CountingS3) -> None:
    sleeps: list[float] = []
    store = open_counted(endpoint, sleeps)
    with pytest.raises(StoreUnavailable) as e:
        store.stat("config")
    assert e.value.exit_code == 8 and "config" in str(e.value)
    assert endpoint.requests == ["HEAD"] * 5  # the default policy: 5 tries in all, not 5 x botocore's 6
    assert len(sleeps) == 4 and all(0 < s <= 8.0 for s in sleeps)  # waits never past max_backoff


@pytest.mark.parametrize("endpoint", ["503"], indirect=True)
@pytest.mark.parametrize(
    ("call", "method"),
    [
        (lambda s: s.put("data/ab/obj", b"payload"), "PUT"),
        (lambda s: s.get("index/x"), "GET"),
        (lambda s: s.get_range("data/ab/obj", 10, 100), "GET"),
        (lambda s: list(s.list("snapshots/")), "GET"),
        (lambda s: s.delete("locks/x"), "DELETE"),
        (lambda s: s.exists("config"), "HEAD"),
    ],
)
def test_every_operation_sends_exactly_the_configured_attempts(
    endpoint: CountingS3, call: Callable[[Store], object], method: str
) -> None:
    sleeps: list[float] = []
    store = open_counted(endpoint, sleeps, attempts=3, backoff=0.01, max_backoff=0.02)
    with pytest.raises(StoreUnavailable, match="SlowDown|503"):  # HEAD: a status, no body
        call(store)
    assert endpoint.requests == [method] * 3
    assert len(sleeps) == 2 and all(s <= 0.02 for s in sleeps)


@pytest.mark.parametrize("endpoint", ["403"], indirect=True)
def test_a_refusal_is_sent_once(endpoint: CountingS3) -> None:
    sleeps: list[float] = []
    store = open_counted(endpoint, sleeps)
    with pytest.raises(StorageError, match="refused") as e:
        store.put("config", b"x")
    assert not isinstance(e.value, StoreUnavailable)
    assert endpoint.requests == ["PUT"] and sleeps == []


@pytest.mark.parametrize("endpoint", ["drop"], indirect=True)
def test_real_waits_stay_within_the_cap(endpoint: CountingS3) -> None:
    waits: list[float] = []

    def sleep(s: float) -> None:
        waits.append(s)
        time.sleep(s)

    store = open_counted(endpoint, [], attempts=4, backoff=0.05, max_backoff=0.08, sleep=sleep)
    t0 = time.monotonic()
    with pytest.raises(StoreUnavailable):
        store.stat("config")
    elapsed = time.monotonic() - t0
    assert endpoint.count() == 4
    assert len(waits) == 3 and all(w <= 0.08 for w in waits)
    assert sum(waits) <= elapsed < 10  # the waits happened, and nothing else stalled the tries
