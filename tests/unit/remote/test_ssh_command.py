"""Remote command lines, the stream's end-of-data rules and what SSH retries, without a server.

The stream tests use a stand-in for paramiko's Channel that reproduces its observable behaviour: recv returns
b"" at EOF or when the channel/transport closes, status_event is set by an exit-status or by the close, and
exit_status stays -1 when no status came.
"""

from __future__ import annotations

import dataclasses
import subprocess
import threading
from pathlib import Path

import pytest

from qfbackup.common.retry import retry, retryable
from qfbackup.errors import (
    ConnectError,
    ConnectionLost,
    HostKeyChanged,
    RemoteCommandFailed,
    RemoteError,
    RemoteTimeout,
    StreamClosed,
    UsageError,
)
from qfbackup.remote.command import RemoteStream, RunResult, build_command, describe
from qfbackup.remote.ssh import CONNECT_RETRY, SshTarget

NASTY = [
    "; rm -rf /tmp/x",
    "$(touch /tmp/qfbackup-pwned)",
    "`id`",
    "it's",
    'say "hi"',
    "back\\slash",
    "new\nline",
    "tab\there",
    "*",
    "~",
    "$HOME",
    "",
    "-rf",
    "ünïcödé",
    "a&b|c>d<e",
]


# --- build_command ------------------------------------------------------------------------------------------------


def test_build_command_quotes_every_argument() -> None:
    assert build_command(["pg_basebackup", "-D", "-", "-Ft"]) == "pg_basebackup -D - -Ft"
    assert build_command(["ls", "/backups/wal dir"]) == "ls '/backups/wal dir'"
    assert build_command(["echo", "; rm -rf /tmp/x"]) == "echo '; rm -rf /tmp/x'"
    assert build_command(["printf", "%s", "it's"]) == "printf %s 'it'\"'\"'s'"
    assert build_command(["cat", Path("/backups/wal/000000010000000000000003")]) == (
        "cat /backups/wal/000000010000000000000003"
    )


def test_build_command_round_trips_through_a_real_shell() -> None:
    """What the remote login shell does with the string: each argument arrives intact and alone."""
    command = build_command(["printf", "%s\\0", *NASTY])
    out = subprocess.run(["sh", "-c", command], check=True, capture_output=True).stdout
    assert out.split(b"\0")[:-1] == [a.encode() for a in NASTY]
    assert not Path("/tmp/qfbackup-pwned").exists()


def test_build_command_env() -> None:
    command = build_command(["sh", "-c", 'printf %s "$PGHOST|$X"'], env={"PGHOST": "/run/x y", "X": "$(id)"})
    assert command.startswith("PGHOST='/run/x y' X='$(id)' sh -c ")
    assert subprocess.run(["sh", "-c", command], check=True, capture_output=True).stdout == b"/run/x y|$(id)"
    for bad in ["1X", "A-B", "A B", "", "X;rm"]:
        with pytest.raises(UsageError, match="environment variable"):
            build_command(["true"], env={bad: "v"})


@pytest.mark.parametrize("argv", [[], "ls -l", b"ls", ["ls", None], ["ls", 3], ["ls", b"x"], ["a\0b"]])
def test_build_command_rejects(argv: object) -> None:
    with pytest.raises(UsageError):
        build_command(argv)  # type: ignore[arg-type]


def test_describe_is_quoted_and_bounded() -> None:
    assert describe(["ls", "a b"]) == "ls 'a b'"
    assert len(describe(["x" * 500])) == 200


# --- RunResult ----------------------------------------------------------------------------------------------------


def test_run_result_check() -> None:
    ok = RunResult(0, b"out", "", "true")
    assert ok.check() is ok and ok.ok
    with pytest.raises(RemoteCommandFailed) as e:
        RunResult(2, b"", "pg_dump: error: no such database\n", "pg_dump x").check()
    assert e.value.exit_status == 2
    assert "pg_dump x: exit status 2" in str(e.value) and "no such database" in str(e.value)
    with pytest.raises(RemoteCommandFailed, match="without an exit status"):
        RunResult(-1, b"", "", "sleep 9").check()
    assert isinstance(e.value, RemoteError) and e.value.exit_code == 9


# --- RemoteStream with a fake channel ---------------------------------------------------------------------------


class FakeTransport:
    def __init__(self) -> None:
        self.active = True

    def is_active(self) -> bool:
        return self.active


class FakeChannel:
    """Serves ``chunks`` from recv, then ends the way ``ending`` says: "exit" (EOF + exit status), "signal"
    (EOF + close, no status), "lost" (transport dies: close without EOF), "lost_after_status" (status 0 came,
    then the transport died before EOF), "hang" (nothing more, ever)."""

    def __init__(self, chunks: list[bytes], *, ending: str = "exit", status: int = 0, stderr: bytes = b""):
        self.chunks = list(chunks)
        self.ending = ending
        self.status = status
        self.stderr_data = stderr
        self.status_event = threading.Event()
        self.exit_status = -1
        self.eof_received = False
        self.closed = False
        self.timeout: float | None = None
        self.transport = FakeTransport()
        self.recv_sizes: list[int] = []

    def settimeout(self, timeout: float | None) -> None:
        self.timeout = timeout

    def get_transport(self) -> FakeTransport:
        return self.transport

    def recv(self, n: int) -> bytes:
        self.recv_sizes.append(n)
        if self.chunks:
            return self.chunks.pop(0)
        if self.ending == "hang":
            raise TimeoutError
        if self.ending == "exit":
            self.eof_received = True
            self.exit_status = self.status
        elif self.ending == "signal":
            self.eof_received = True
        elif self.ending == "lost":
            self.transport.active = False
        elif self.ending == "lost_after_status":  # exit-status came, then the connection died mid-output
            self.exit_status = 0
            self.transport.active = False
        self.closed = True
        self.status_event.set()
        return b""

    def recv_stderr(self, n: int) -> bytes:
        data, self.stderr_data = self.stderr_data, b""
        return data

    def close(self) -> None:
        self.closed = True
        self.status_event.set()


def make_stream(chan: FakeChannel, **kw: object) -> RemoteStream:
    return RemoteStream(chan, "remote-cmd", status_timeout=1.0, host="db1", **kw)  # type: ignore[arg-type]


def test_stream_reads_and_counts() -> None:
    chan = FakeChannel([b"abc", b"defgh", b"ij"])
    s = make_stream(chan)
    assert s.read(4) == b"abcd"  # fills across chunks (BufferedIOBase semantics)
    assert s.read1(100) == b"efgh"
    buf = bytearray(10)
    assert s.readinto(buf) == 2 and buf[:2] == b"ij"
    assert s.read(5) == b""
    assert s.bytes_read == 10
    result = s.finish()
    assert (result.exit_status, result.bytes_read, result.bytes_discarded) == (0, 10, 0)
    assert all(n >= 1 << 20 for n in chan.recv_sizes)  # big slices from paramiko's buffer, never small ones


def test_stream_readall_and_finish_drains() -> None:
    assert make_stream(FakeChannel([b"a", b"b", b"c"])).read() == b"abc"
    s = make_stream(FakeChannel([b"abc", b"def"]))
    assert s.read(1) == b"a"
    result = s.finish()
    assert (result.bytes_read, result.bytes_discarded) == (1, 5)
    assert s.finish() is result  # idempotent


def test_stream_nonzero_exit_raises_at_eof_with_stderr() -> None:
    s = make_stream(FakeChannel([b"x" * 10], status=3, stderr=b"pg_basebackup: error: disk full\n"))
    assert s.read(10) == b"x" * 10
    with pytest.raises(RemoteCommandFailed) as e:
        s.read(1)
    assert e.value.exit_status == 3 and e.value.bytes_read == 10
    assert "exit status 3" in str(e.value) and "disk full" in str(e.value)
    with pytest.raises(RemoteCommandFailed):
        s.finish()
    # check=False (used by run()) records the status instead.
    s = make_stream(FakeChannel([b"x"], status=3), check=False)
    assert s.finish().exit_status == 3


def test_stream_signal_and_lost_connection() -> None:
    with pytest.raises(RemoteCommandFailed, match="without an exit status"):
        make_stream(FakeChannel([b"x"], ending="signal")).read()
    s = make_stream(FakeChannel([b"x" * 7], ending="lost"))
    with pytest.raises(ConnectionLost) as e:
        s.read()
    assert "db1" in str(e.value) and "after 7 bytes" in str(e.value) and e.value.retryable
    # Exit status 0 but no EOF: output is missing, never a success.
    s = make_stream(FakeChannel([b"x" * 7], ending="lost_after_status"))
    with pytest.raises(ConnectionLost, match="before the end of the output"):
        s.read()
    # The session's keepalive verdict is the reason shown.
    s = make_stream(FakeChannel([], ending="lost"), lost_reason=lambda: "no answer for 45 s (keepalive)")
    with pytest.raises(ConnectionLost, match="keepalive"):
        s.read()


def test_stream_idle_timeout_and_close() -> None:
    chan = FakeChannel([b"abc"], ending="hang")
    s = make_stream(chan, idle_timeout=0.01)
    assert chan.timeout == 0.01
    assert s.read(3) == b"abc"
    with pytest.raises(RemoteTimeout, match="no output for 0.01 s"):
        s.read(1)
    assert chan.closed
    chan = FakeChannel([b"abc"], ending="hang")
    s = make_stream(chan)
    s.read(1)
    s.close()  # abort: never raises
    assert chan.closed and s.closed
    with pytest.raises(StreamClosed):
        s.read(1)
    with pytest.raises(StreamClosed):
        s.finish()


def test_stream_context_manager() -> None:
    with make_stream(FakeChannel([b"abc"])) as s:
        s.read(1)
    assert s.result is not None and s.result.bytes_discarded == 2
    with pytest.raises(RemoteCommandFailed):
        with make_stream(FakeChannel([b"abc"], status=1)) as s:
            s.read(1)
    chan = FakeChannel([b"abc"], ending="hang")
    with pytest.raises(KeyError):
        with make_stream(chan):
            raise KeyError("caller failure wins")
    assert chan.closed


def test_stderr_tail_is_bounded() -> None:
    s = make_stream(FakeChannel([], stderr=b"x" * 5000 + b"END"), stderr_limit=100)
    result = s.finish()
    assert result.stderr.endswith("END") and "4903 earlier bytes omitted" in result.stderr


# --- retry and targets -------------------------------------------------------------------------------------------


def ssh_retry(fn, sleep, **policy):
    """``fn`` under SSH's connect policy and classification, as ``connect_with_retry`` runs ``connect``."""
    return retry(fn, dataclasses.replace(CONNECT_RETRY, sleep=sleep, **policy), transient=retryable, what="test")


def test_retry_backoff() -> None:
    calls: list[int] = []
    sleeps: list[float] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectError("db1:22", "connection refused")
        return "ok"

    assert ssh_retry(flaky, sleeps.append, attempts=4, initial_delay=1.0) == "ok"
    assert len(calls) == 3 and len(sleeps) == 2
    assert 0.8 <= sleeps[0] <= 1.2 and 1.6 <= sleeps[1] <= 2.4

    def always() -> None:
        raise ConnectionLost("db1", "reset")

    sleeps.clear()
    with pytest.raises(ConnectionLost):
        ssh_retry(always, sleeps.append, attempts=3, initial_delay=10, max_delay=15)
    assert len(sleeps) == 2 and sleeps[1] <= 15  # the cap holds, jitter included


def test_retry_does_not_retry_trust_errors() -> None:
    calls: list[int] = []

    def refused() -> None:
        calls.append(1)
        raise HostKeyChanged("changed")

    with pytest.raises(HostKeyChanged):
        ssh_retry(refused, lambda s: None)
    assert calls == [1]


def test_target_hides_passphrase() -> None:
    t = SshTarget(
        host="db1", user="postgres", key_file=Path("/k"), known_hosts=Path("/kh"), key_passphrase="hunter2-secret"
    )
    assert "hunter2-secret" not in repr(t) and "hunter2-secret" not in str(t)
    assert t.known_hosts_name == "db1"
    assert SshTarget(
        host="db1", port=2222, user="u", key_file=Path("/k"), known_hosts=Path("/kh")
    ).known_hosts_name == ("[db1]:2222")


def test_target_validation() -> None:
    t = SshTarget(host="db1", user="u", key_file="/k", known_hosts="/kh")  # type: ignore[arg-type]
    assert t.key_file == Path("/k") and t.known_hosts == Path("/kh")
    for bad in ({"port": 0}, {"port": 70000}, {"host": ""}, {"keepalive": 0}, {"connect_timeout": -1}):
        with pytest.raises(UsageError):
            SshTarget(**{"host": "db1", "user": "u", "key_file": Path("/k"), "known_hosts": Path("/kh"), **bad})
