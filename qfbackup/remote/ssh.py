"""SSH connections from the backup VM to the database host (paramiko).

Trust: the host key must already be in the policy's known_hosts. An unknown or changed key is refused, with
the server key's fingerprint and the exact fix, because accepting it would hand the database (and the WAL,
which holds every trade) to whoever answers on that address. Authentication is by the configured key file
only: no agent, no ~/.ssh keys, so a backup never depends on whose shell started it.

Throughput and correctness (see ../shared/env-notes.md, measured here): AES-256-GCM first in the cipher order,
256 KiB packets and a 16 MiB window roughly double paramiko's bulk rate (a larger window only buffers
more). Rekey limits are raised to 2**40
because a rekey that lands on the end of a stream deadlocks paramiko for 30 s and loses the tail of the data.
The server may still start a rekey on its own; hence every stream checks its exit status and byte count.

Liveness: paramiko's own keepalive never waits for an answer, so a dead link (cable pulled, VM frozen) leaves
reads blocked until TCP gives up, many minutes later. Each session therefore probes the server every
``keepalive`` seconds and closes the transport when a probe goes unanswered for ``keepalive_count`` intervals;
blocked reads then end with ConnectionLost. That covers idle-but-healthy commands (pg_basebackup waiting for a
checkpoint) too, which a plain read timeout would kill.
"""

from __future__ import annotations

import dataclasses
import logging
import socket
import stat
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import paramiko

from qfbackup.common.retry import OnRetry, RetryPolicy, retry, retryable
from qfbackup.errors import (
    AuthenticationRefused,
    ConnectError,
    ConnectionLost,
    HostKeyChanged,
    HostKeyRefused,
    HostKeyUnknown,
    SshKeyError,
    UsageError,
)
from qfbackup.remote.command import (
    STDERR_TAIL,
    RemoteStream,
    RunResult,
    build_command,
    run_on_channel,
)

log = logging.getLogger(__name__)

PREFERRED_CIPHER = "aes256-gcm@openssh.com"
WINDOW_SIZE = 2**24  # paramiko buffers up to a window per stream: 128 MiB cost ~300 MiB RSS and was slower
# (memmove of the buffer); 16 MiB measured 283-293 MB/s at ~190 MiB peak RSS for a 1.6 GB base backup
MAX_PACKET_SIZE = 2**18
REKEY_LIMIT = 2**40


@dataclass(frozen=True, kw_only=True)
class SshTarget:
    """Where and how to reach one database host. ``key_passphrase`` is never shown (repr) or logged."""

    host: str
    port: int = 22
    user: str
    key_file: Path
    known_hosts: Path
    connect_timeout: float = 10.0
    keepalive: float = 15.0
    keepalive_count: int = 3
    window_size: int = WINDOW_SIZE
    key_passphrase: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        # Accept str paths from config code; reject values that would only fail later, mid-backup.
        object.__setattr__(self, "key_file", Path(self.key_file))
        object.__setattr__(self, "known_hosts", Path(self.known_hosts))
        if not self.host or not self.user:
            raise UsageError("an SSH target needs a host and a user")
        if not 0 < self.port < 65536:
            raise UsageError(f"invalid SSH port {self.port} for {self.host}")
        if self.connect_timeout <= 0 or self.keepalive <= 0 or self.keepalive_count < 1:
            raise UsageError("SSH connect_timeout and keepalive must be positive, keepalive_count at least 1")

    @property
    def known_hosts_name(self) -> str:
        """How known_hosts names this host: ``host`` on port 22, else ``[host]:port`` (as OpenSSH writes it)."""
        return self.host if self.port == 22 else f"[{self.host}]:{self.port}"

    def __str__(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"


def fingerprint(key: paramiko.PKey) -> str:
    """``SHA256:base64`` exactly as ``ssh-keygen -lf`` prints it, so an operator can compare the two."""
    return key.fingerprint


# --- Keys -----------------------------------------------------------------------------------------------------


def load_private_key(path: str | PathLike[str], passphrase: str | None = None) -> paramiko.PKey:
    """Load an ed25519, ECDSA or RSA private key file (OpenSSH or PEM format).

    Refuses a file that group or others may access, as OpenSSH does: a readable key is a leaked key, and
    failing here is better than a backup system that quietly tolerates it. The passphrase is never logged.
    """
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise SshKeyError(path, "not found") from None
    except OSError as e:
        raise SshKeyError(path, e.strerror or str(e)) from None
    if not stat.S_ISREG(st.st_mode):
        raise SshKeyError(path, "not a regular file")
    if st.st_mode & 0o077:
        raise SshKeyError(
            path,
            f"permissions {stat.S_IMODE(st.st_mode):04o} are too open: group/others may access it. "
            f"Fix: chmod 600 {path}",
        )
    try:
        # paramiko hands the password to cryptography, which wants bytes
        return paramiko.PKey.from_path(path, passphrase.encode() if passphrase is not None else None)
    except (paramiko.PasswordRequiredException, TypeError) as e:
        # paramiko 5 lets cryptography's TypeError ("password was not provided") through for encrypted keys
        if isinstance(e, TypeError) and "password" not in str(e).lower():
            raise
        raise SshKeyError(path, "the key is encrypted; configure its passphrase") from None
    except paramiko.UnknownKeyType as e:
        raise SshKeyError(path, f"unsupported key type {e.key_type!r} (use ed25519, ecdsa or rsa)") from None
    except (paramiko.SSHException, ValueError) as e:
        hint = "wrong passphrase, or not a private key" if passphrase else "not a private key file"
        raise SshKeyError(path, f"cannot load it ({hint}): {type(e).__name__}") from None


# --- Host keys ------------------------------------------------------------------------------------------------


class _RefuseUnknownHostKey(paramiko.MissingHostKeyPolicy):
    """RejectPolicy, but with a message an operator can act on."""

    def __init__(self, target: SshTarget) -> None:
        self.target = target

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        kh = self.target.known_hosts
        missing = "" if kh.exists() else " (the file does not exist)"
        line = f"{hostname} {key.get_name()} {key.get_base64()}"
        raise HostKeyUnknown(
            f"Host key of {hostname} is not in known_hosts file {kh}{missing}; refusing to connect. "
            f"The server offers {key.get_name()} key {fingerprint(key)}. "
            f"Fix: on the database host run `ssh-keygen -lf /etc/ssh/ssh_host_{_key_file_kind(key)}_key.pub`; "
            f"if it shows the same fingerprint, add this line to {kh}:\n{line}",
            hint=line,
        )


def _key_file_kind(key: paramiko.PKey) -> str:
    name = key.get_name()
    return "ed25519" if "ed25519" in name else "ecdsa" if "ecdsa" in name else "rsa"


def _host_key_changed(target: SshTarget, e: paramiko.BadHostKeyException) -> HostKeyChanged:
    name = target.known_hosts_name
    return HostKeyChanged(
        f"HOST KEY CHANGED for {name}: known_hosts file {target.known_hosts} has {e.expected_key.get_name()} "
        f"key {fingerprint(e.expected_key)}, but the server offers {e.key.get_name()} key {fingerprint(e.key)}. "
        "Someone may be intercepting the connection (or the host was reinstalled); refusing to connect. "
        f"Fix, only after confirming on the host (`ssh-keygen -lf /etc/ssh/ssh_host_{_key_file_kind(e.key)}"
        f"_key.pub`) that the new key is genuine: ssh-keygen -R '{name}' -f {target.known_hosts}, then add "
        f"the new line:\n{name} {e.key.get_name()} {e.key.get_base64()}",
        hint=f"ssh-keygen -R '{name}' -f {target.known_hosts}",
    )


# --- Connecting -------------------------------------------------------------------------------------------------


def _transport_factory(target: SshTarget) -> Callable[..., paramiko.Transport]:
    """Tune each Transport before key exchange (the cipher order must be set before kex starts)."""

    def factory(sock: socket.socket, **kwargs: Any) -> paramiko.Transport:
        t = paramiko.Transport(
            sock, default_window_size=target.window_size, default_max_packet_size=MAX_PACKET_SIZE, **kwargs
        )
        opts = t.get_security_options()
        if PREFERRED_CIPHER in opts.ciphers:
            opts.ciphers = (PREFERRED_CIPHER, *(c for c in opts.ciphers if c != PREFERRED_CIPHER))
        # Per transport, not on the class: other paramiko users in the process keep their defaults.
        t.packetizer.REKEY_BYTES = t.packetizer.REKEY_PACKETS = REKEY_LIMIT
        return t

    return factory


def connect(target: SshTarget) -> SshSession:
    """Open an authenticated, host-key-checked session. Raises SshKeyError, HostKeyUnknown/HostKeyChanged,
    AuthenticationRefused (not worth retrying) or ConnectError (worth retrying: ``connect_with_retry``)."""
    key = load_private_key(target.key_file, target.key_passphrase)
    client = paramiko.SSHClient()
    if target.known_hosts.exists():
        try:
            client.load_host_keys(str(target.known_hosts))
        except (OSError, paramiko.SSHException) as e:
            raise UsageError(f"cannot read known_hosts file {target.known_hosts}: {e}") from None
    client.set_missing_host_key_policy(_RefuseUnknownHostKey(target))
    where = f"{target.host}:{target.port}"
    try:
        client.connect(
            target.host,
            port=target.port,
            username=target.user,
            pkey=key,
            look_for_keys=False,
            allow_agent=False,
            timeout=target.connect_timeout,
            banner_timeout=target.connect_timeout,
            auth_timeout=target.connect_timeout,
            channel_timeout=target.connect_timeout,
            transport_factory=_transport_factory(target),
        )
    except BaseException as e:
        client.close()
        if isinstance(e, HostKeyRefused):
            raise
        if isinstance(e, paramiko.BadHostKeyException):
            raise _host_key_changed(target, e) from None
        if isinstance(e, paramiko.AuthenticationException):
            raise AuthenticationRefused(where, target.key_file, f"{e} (user {target.user})") from None
        if isinstance(e, TimeoutError):
            raise ConnectError(where, f"timed out after {target.connect_timeout} s") from None
        if isinstance(e, OSError | paramiko.SSHException | EOFError):
            raise ConnectError(where, str(e) or type(e).__name__) from None
        raise
    transport = client.get_transport()
    assert transport is not None
    log.debug("connected to %s, cipher %s", target, transport.remote_cipher)
    return SshSession(target, client, transport)


#: Connecting: 4 tries, waits from 1 s doubling up to 30 s (a rebooting host or a restarting sshd is back within a
#: minute); the jitter of at most 20 % only shortens a wait, so 30 s is never exceeded.
CONNECT_RETRY = RetryPolicy(attempts=4, initial_delay=1.0, max_delay=30.0, jitter=0.2)


def connect_with_retry(target: SshTarget, *, on_retry: OnRetry | None = None, **policy: Any) -> SshSession:
    """``connect``, tried again after network errors (ConnectError: refused, timed out, dropped before the
    handshake ended) under ``CONNECT_RETRY``, whose fields ``policy`` may override (``attempts=``, ``sleep=``...).
    Host key, authentication and key file errors are never retried: they need a person."""
    return retry(
        lambda: connect(target),
        dataclasses.replace(CONNECT_RETRY, **policy),
        transient=retryable,
        what=f"SSH connect to {target}",
        on_retry=on_retry,
    )


# --- Sessions ----------------------------------------------------------------------------------------------------


class SshSession:
    """One authenticated connection; runs any number of commands, one channel each. Close it (or use ``with``)."""

    def __init__(self, target: SshTarget, client: paramiko.SSHClient, transport: paramiko.Transport) -> None:
        self.target = target
        self._client = client
        self._transport = transport
        self._lost: str | None = None
        self._stop = threading.Event()
        self._monitor = threading.Thread(target=self._keepalive_loop, name="qfbackup-ssh-keepalive", daemon=True)
        self._monitor.start()

    def __enter__(self) -> SshSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def active(self) -> bool:
        return self._transport.is_active() and self._lost is None

    @property
    def cipher(self) -> str:
        """The negotiated cipher (diagnostics, benchmarks)."""
        return str(self._transport.remote_cipher)

    @property
    def host_key_fingerprint(self) -> str:
        return fingerprint(self._transport.get_remote_server_key())

    def close(self) -> None:
        self._stop.set()
        self._client.close()

    def _keepalive_loop(self) -> None:
        """Probe the server; close the transport when it stops answering (see the module docstring)."""
        interval = self.target.keepalive
        limit = interval * self.target.keepalive_count
        while not self._stop.wait(interval):
            if not self._transport.is_active():
                return
            answered = threading.Event()
            threading.Thread(target=self._probe, args=(answered,), name="qfbackup-ssh-probe", daemon=True).start()
            if not answered.wait(limit) and not self._stop.is_set():
                self._lost = f"no answer from the server for {limit:g} s (keepalive)"
                log.warning("%s: %s; closing the connection", self.target, self._lost)
                self._transport.close()
                return

    def _probe(self, answered: threading.Event) -> None:
        try:
            # OpenSSH answers an unknown global request with a failure: any answer proves liveness.
            self._transport.global_request("keepalive@openssh.com", wait=True)
        except Exception:  # noqa: BLE001 - a dying transport; the monitor sees it inactive
            pass
        finally:
            answered.set()

    def _lost_reason(self) -> str | None:
        return self._lost

    def _open_channel(self) -> paramiko.Channel:
        if self._lost is not None:
            raise ConnectionLost(self.target.host, self._lost)
        try:
            return self._transport.open_session(timeout=self.target.connect_timeout)
        except (paramiko.SSHException, OSError, EOFError) as e:
            raise ConnectionLost(self.target.host, f"cannot open a channel: {e or type(e).__name__}") from None

    def run(
        self,
        argv: Sequence[str | PathLike[str]],
        *,
        stdin: bytes | None = None,
        timeout: float = 60.0,
        env: Mapping[str, str] | None = None,
        max_output: int = 64 * 1024 * 1024,
        check: bool = False,
    ) -> RunResult:
        """Run a small command and return its exit status, stdout and stderr (tail). Raises RemoteTimeout
        after ``timeout`` seconds, ConnectionLost if the connection dies, RemoteCommandFailed on a non-zero
        exit only with ``check``."""
        command = build_command(argv, env=env)
        channel = self._open_channel()
        try:
            result = run_on_channel(
                channel, command, stdin=stdin, timeout=timeout, max_output=max_output,
                lost_reason=self._lost_reason, host=self.target.host,
            )  # fmt: skip
        except (paramiko.SSHException, OSError, EOFError) as e:
            channel.close()
            raise ConnectionLost(self.target.host, f"{command}: {e or type(e).__name__}") from None
        return result.check() if check else result

    def upload(
        self,
        argv: Sequence[str | PathLike[str]],
        chunks: Iterable[bytes],
        *,
        env: Mapping[str, str] | None = None,
        timeout: float = 600.0,
    ) -> RunResult:
        """Run a command that reads bulk data on stdin (``tar -x``, ``dd of=...``), fed from ``chunks`` as they
        come, so nothing is held whole in memory. Raises RemoteCommandFailed unless it exits 0."""
        command = build_command(argv, env=env)
        channel = self._open_channel()
        try:
            channel.exec_command(command)
            for chunk in chunks:
                channel.sendall(chunk)
            channel.shutdown_write()
        except (paramiko.SSHException, OSError, EOFError) as e:
            channel.close()
            raise ConnectionLost(self.target.host, f"{command}: {e or type(e).__name__}") from None
        stream = RemoteStream(
            channel, command, idle_timeout=timeout, status_timeout=timeout, lost_reason=self._lost_reason,
            host=self.target.host, check=False,
        )  # fmt: skip
        try:
            out = stream.read()
        finally:
            stream.close()
        assert stream.result is not None
        return RunResult(stream.result.exit_status, out, stream.result.stderr, command).check()

    def stream(
        self,
        argv: Sequence[str | PathLike[str]],
        *,
        env: Mapping[str, str] | None = None,
        idle_timeout: float | None = None,
        stderr_limit: int = STDERR_TAIL,
    ) -> RemoteStream:
        """Start a command and return its stdout as a RemoteStream (bulk data; see RemoteStream for how its end,
        exit status and stderr are checked). ``idle_timeout`` bounds the wait for the next byte; by default
        only the keepalive decides that the connection is dead, so slow-but-alive commands are not killed."""
        command = build_command(argv, env=env)
        channel = self._open_channel()
        try:
            channel.exec_command(command)
            channel.shutdown_write()  # the command gets EOF on stdin instead of waiting for input
        except (paramiko.SSHException, OSError, EOFError) as e:
            channel.close()
            raise ConnectionLost(self.target.host, f"{command}: {e or type(e).__name__}") from None
        status_timeout = max(30.0, self.target.keepalive * (self.target.keepalive_count + 1))
        return RemoteStream(
            channel,
            command,
            idle_timeout=idle_timeout,
            stderr_limit=stderr_limit,
            status_timeout=status_timeout,
            lost_reason=self._lost_reason,
            host=self.target.host,
        )
