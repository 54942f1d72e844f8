"""Running one command on the database host over an SSH exec channel: command lines, results, streams.

Bulk data (pg_basebackup tar, pg_dump, WAL segments) arrives as the stdout of a remote command. The dangerous
failure here is silent: a stream that stops early looks, to whoever reads it, exactly like a stream that ended.
So a RemoteStream never reports a clean end of data unless the remote command also exited 0: reaching the end
of the output concludes the command and raises if it failed, was killed or the connection was lost, with the
tail of its stderr. Callers cannot forget the check.

The module knows nothing about connecting; ssh.SshSession opens the channel and hands it over.
"""

from __future__ import annotations

import io
import re
import shlex
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike, fspath
from typing import TYPE_CHECKING

from paramiko import SSHException

from qfbackup.errors import ConnectionLost, RemoteCommandFailed, RemoteError, RemoteTimeout, StreamClosed, UsageError

if TYPE_CHECKING:
    from collections.abc import Buffer

    from paramiko import Channel

#: Bytes asked of paramiko per receive. Paramiko's channel buffer drops what was read with a memmove of the
#: rest (``del buf[:n]``), so small reads against a full 128 MiB window cost a copy of the window each: take
#: big slices and serve the caller from our own buffer instead.
RECV_SIZE = 16 * 1024 * 1024
STDERR_TAIL = 64 * 1024
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


# --- Command lines ----------------------------------------------------------------------------------------------


def build_command(argv: Sequence[str | PathLike[str]], *, env: Mapping[str, str] | None = None) -> str:
    """Turn an argument vector into the one string an SSH exec request carries.

    The server hands that string to the remote user's login shell (``sh -c``), so every argument is quoted with
    shlex.quote: names that came from a policy file or a directory listing (``; rm -rf /``, ``$(...)``, spaces,
    quotes) arrive as one literal argument each. Assumes a POSIX login shell (sh, bash, dash, zsh), which the
    postgres account has on Debian. ``env`` becomes ``NAME='value'`` assignments in front of the command.
    """
    if isinstance(argv, str | bytes) or not argv:
        raise UsageError(f"a remote command needs a non-empty argument list, got {argv!r}")
    words: list[str] = []
    for name, value in (env or {}).items():
        if not _ENV_NAME.fullmatch(name):
            raise UsageError(f"invalid environment variable name for a remote command: {name!r}")
        words.append(f"{name}={shlex.quote(_arg(value))}")
    words.extend(shlex.quote(_arg(a)) for a in argv)
    return " ".join(words)


def _arg(value: object) -> str:
    if isinstance(value, PathLike):
        value = fspath(value)
    if not isinstance(value, str):
        raise UsageError(f"remote command arguments must be strings, got {type(value).__name__}: {value!r}")
    if "\0" in value:
        raise UsageError(f"a remote command argument cannot contain a NUL byte: {value!r}")
    return value


def describe(argv: Sequence[str | PathLike[str]], limit: int = 200) -> str:
    """The command line for messages (quoted, so it can be pasted into a shell), shortened if very long."""
    text = " ".join(shlex.quote(fspath(a)) for a in argv)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- Results ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunResult:
    """Outcome of a small command. ``exit_status`` is -1 when the command ended without one (killed by a
    signal: OpenSSH reports exit-signal, which carries no status)."""

    exit_status: int
    stdout: bytes
    stderr: str
    command: str = ""

    @property
    def ok(self) -> bool:
        return self.exit_status == 0

    def check(self) -> RunResult:
        """Raise RemoteCommandFailed unless the command exited 0; returns self for chaining."""
        if self.exit_status != 0:
            raise RemoteCommandFailed(
                self.command, _status_text(self.exit_status), exit_status=self.exit_status, stderr=self.stderr
            )
        return self


@dataclass(frozen=True)
class StreamResult:
    """Outcome of a stream read to its end: ``exit_status`` is 0 unless the stream was made with check=False."""

    exit_status: int
    bytes_read: int
    bytes_discarded: int
    stderr: str
    seconds: float


def _status_text(status: int) -> str:
    if status < 0:
        return "ended without an exit status (killed by a signal?)"
    return f"exit status {status}"


# --- Stderr -------------------------------------------------------------------------------------------------------


@dataclass
class StderrTail:
    """Reads a channel's stderr in a thread and keeps only the last ``limit`` bytes.

    Stderr must be drained: it shares the channel's flow-control window with stdout, so a chatty command whose
    stderr nobody reads stalls. Bounded so that a command printing gigabytes of warnings cannot exhaust memory.
    """

    channel: Channel
    limit: int = STDERR_TAIL
    total: int = 0
    _buf: bytearray = field(default_factory=bytearray)
    _thread: threading.Thread | None = None

    def start(self) -> StderrTail:
        self._thread = threading.Thread(target=self._run, name="qfbackup-ssh-stderr", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while True:
            try:
                data = self.channel.recv_stderr(65536)
            except TimeoutError:  # the channel's read timeout applies here too; keep waiting
                if self.channel.closed:
                    return
                continue
            except Exception:  # noqa: BLE001 - a dying transport must not kill the reader thread noisily
                return
            if not data:
                return
            self.total += len(data)
            self._buf += data
            if len(self._buf) > self.limit:
                del self._buf[: len(self._buf) - self.limit]

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def text(self) -> str:
        """The kept tail as text, marked when earlier output was dropped."""
        body = bytes(self._buf).decode("utf-8", "replace")
        if self.total > len(self._buf):
            return f"[... {self.total - len(self._buf)} earlier bytes omitted ...]\n{body}"
        return body


# --- Streams ------------------------------------------------------------------------------------------------------


class RemoteStream(io.BufferedIOBase):
    """A remote command's stdout as a read-only binary file.

    ``read(n)`` returns exactly ``n`` bytes unless the output ends (BufferedIOBase semantics); ``read1`` returns
    what is at hand. Reaching the end concludes the command: the exit status is awaited and a failure, a kill or
    a lost connection raises RemoteCommandFailed / ConnectionLost there, never a quiet short stream.

    ``finish()`` drains any unread output, concludes, and returns a StreamResult. ``close()`` aborts a stream
    that is not finished (used on error paths; never raises). As a context manager: finish on a clean exit,
    close on an exception. ``bytes_read`` counts bytes handed to the caller.
    """

    def __init__(
        self,
        channel: Channel,
        command: str,
        *,
        idle_timeout: float | None = None,
        stderr_limit: int = STDERR_TAIL,
        status_timeout: float = 60.0,
        lost_reason: Callable[[], str | None] = lambda: None,
        host: str = "remote host",
        check: bool = True,
    ) -> None:
        super().__init__()
        self._check = check
        self.command = command
        self.host = host
        self.bytes_read = 0
        self.bytes_discarded = 0
        self._chan = channel
        self._idle_timeout = idle_timeout
        self._status_timeout = status_timeout
        self._lost_reason = lost_reason
        self._buf = memoryview(b"")
        self._eof = False
        self._started = time.monotonic()
        self._result: StreamResult | None = None
        self._error: RemoteError | None = None
        channel.settimeout(idle_timeout)
        self._stderr = StderrTail(channel, stderr_limit).start()

    # io plumbing
    def readable(self) -> bool:
        return True

    @property
    def stderr(self) -> str:
        return self._stderr.text()

    def _fill(self) -> bool:
        """Refill the buffer from the channel; False at the (successful) end of output."""
        if self._error is not None:
            raise self._error
        if self._eof:
            return False
        if self.closed:
            raise StreamClosed(self.command)
        try:
            data = self._chan.recv(RECV_SIZE)
        except TimeoutError:
            self._abort()
            self._error = RemoteTimeout(f"{self.command}: no output for {self._idle_timeout} s")
            raise self._error from None
        except (EOFError, OSError, SSHException) as e:
            # recv() also *sends* (window adjustments): on a dead transport that raises, not returns b"".
            self._abort()
            self._error = ConnectionLost(self.host, f"{self.command}: {e or type(e).__name__}")
            raise self._error from None
        if not data:
            self._eof = True
            self._conclude()
            return False
        self._buf = memoryview(data)
        return True

    def read1(self, size: int = -1) -> bytes:
        if self.closed and self._result is None:
            raise StreamClosed(self.command)
        if not self._buf and not self._fill():
            return b""
        n = len(self._buf) if size is None or size < 0 else min(size, len(self._buf))
        whole = self._buf.obj
        out = whole if n == len(whole) and isinstance(whole, bytes) else bytes(self._buf[:n])  # no copy
        self._buf = self._buf[n:]
        self.bytes_read += n
        return out

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return self.readall()
        parts: list[bytes] = []
        remaining = size
        while remaining > 0:
            part = self.read1(remaining)
            if not part:
                break
            parts.append(part)
            remaining -= len(part)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def readall(self) -> bytes:
        parts = []
        while part := self.read1():
            parts.append(part)
        return b"".join(parts)

    def readinto1(self, b: Buffer) -> int:
        if self.closed and self._result is None:
            raise StreamClosed(self.command)
        if not self._buf and not self._fill():
            return 0
        view = memoryview(b).cast("B")
        n = min(len(view), len(self._buf))
        view[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        self.bytes_read += n
        return n

    def readinto(self, b: Buffer) -> int:
        view = memoryview(b).cast("B")
        filled = 0
        while filled < len(view):
            n = self.readinto1(view[filled:])
            if n == 0:
                break
            filled += n
        return filled

    # ending
    def _conclude(self) -> None:
        """The output ended: wait for the exit status and decide whether that was a success."""
        if self._result is not None:
            return
        if self._error is not None:
            raise self._error
        self._chan.status_event.wait(self._status_timeout)
        self._stderr.join(5.0)
        stderr = self._stderr.text()
        if not self._chan.status_event.is_set():
            self._abort()
            self._error = RemoteTimeout(f"{self.command}: no exit status {self._status_timeout} s after output")
            raise self._error
        status = self._chan.exit_status
        # Success needs the remote's EOF (all stdout delivered) as well as a status: OpenSSH sends exit-status
        # when the process exits, possibly before its output is drained, so a connection dying in between
        # leaves status 0 with data missing. Paramiko marks "closed without exit-status" as -1: after EOF on a
        # live connection that means a signal killed the command; otherwise the connection died.
        transport = self._chan.get_transport()
        alive = transport is not None and transport.is_active()
        reason = self._lost_reason()
        if reason is None and not self._chan.eof_received:
            reason = "the channel closed before the end of the output"
        if reason is None and status < 0 and not alive:
            reason = "the connection closed before the command's exit status arrived"
        if reason is not None:
            self._error = ConnectionLost(
                self.host, f"{reason}; {self.command} stopped after {self.bytes_read} bytes" + _tail(stderr)
            )
            raise self._error
        if status != 0 and self._check:
            self._error = RemoteCommandFailed(
                self.command, _status_text(status), exit_status=status, stderr=stderr, bytes_read=self.bytes_read
            )
            raise self._error
        self._result = StreamResult(
            status, self.bytes_read, self.bytes_discarded, stderr, time.monotonic() - self._started
        )

    def finish(self) -> StreamResult:
        """Read and discard what the caller left unread, then require exit status 0. Idempotent."""
        if self._error is not None:
            raise self._error
        if self._result is None:
            if self.closed and not self._eof:
                raise StreamClosed(self.command)
            self.bytes_discarded += len(self._buf)
            self._buf = memoryview(b"")
            while self._fill():
                self.bytes_discarded += len(self._buf)
                self._buf = memoryview(b"")
        assert self._result is not None
        super().close()
        return self._result

    @property
    def result(self) -> StreamResult | None:
        """The StreamResult once the stream has concluded successfully, else None."""
        return self._result

    def _abort(self) -> None:
        try:
            self._chan.close()
        except Exception:  # noqa: BLE001 - closing a channel on a dead transport is best effort
            pass

    def close(self) -> None:
        """Abort unless finished: close the channel (the remote command gets EOF/SIGPIPE). Never raises."""
        if self._result is None:
            self._abort()
            self._buf = memoryview(b"")
        super().close()

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.finish()
        self.close()


def _tail(stderr: str) -> str:
    return f"\n--- remote stderr ---\n{stderr.rstrip()}" if stderr.strip() else ""


def run_on_channel(
    channel: Channel,
    command: str,
    *,
    stdin: bytes | None,
    timeout: float,
    max_output: int,
    lost_reason: Callable[[], str | None] = lambda: None,
    host: str = "remote host",
) -> RunResult:
    """Run a small command to completion: feed ``stdin``, collect stdout (at most ``max_output`` bytes) and the
    stderr tail, all within ``timeout`` seconds. A non-zero exit is returned, not raised (see RunResult.check);
    a lost connection or the timeout raise."""
    deadline = time.monotonic() + timeout
    channel.exec_command(command)
    writer = threading.Thread(target=_feed_stdin, args=(channel, stdin), name="qfbackup-ssh-stdin", daemon=True)
    writer.start()
    stream = RemoteStream(
        channel, command, idle_timeout=timeout, status_timeout=timeout, lost_reason=lost_reason, host=host,
        check=False,
    )  # fmt: skip
    parts: list[bytes] = []
    size = 0
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RemoteTimeout(f"{command}: did not finish within {timeout} s")
            channel.settimeout(remaining)
            stream._status_timeout = remaining
            try:
                part = stream.read1()
            except RemoteTimeout:
                raise RemoteTimeout(f"{command}: did not finish within {timeout} s") from None
            if not part:
                break
            size += len(part)
            if size > max_output:
                raise RemoteCommandFailed(
                    command, f"printed more than {max_output} bytes; use stream() for bulk data",
                    exit_status=None, stderr=stream.stderr,
                )  # fmt: skip
            parts.append(part)
    finally:
        stream.close()
    result = stream.result
    assert result is not None
    return RunResult(result.exit_status, b"".join(parts), result.stderr, command)


def _feed_stdin(channel: Channel, data: bytes | None) -> None:
    try:
        if data:
            channel.sendall(data)
        channel.shutdown_write()
    except Exception:  # noqa: BLE001 - the command may exit without reading its input; the status tells
        pass
