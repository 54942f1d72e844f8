"""The SSH layer against a real OpenSSH server: commands, bulk streams, host keys, keys, cut connections."""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from qfbackup.errors import (
    AuthenticationRefused,
    ConnectError,
    ConnectionLost,
    HostKeyChanged,
    HostKeyUnknown,
    RemoteCommandFailed,
    RemoteError,
    RemoteTimeout,
    SshKeyError,
)
from qfbackup.remote.ssh import SshSession, SshTarget, connect, connect_with_retry
from qfbackup.sandbox import wait_for
from qfbackup.sandbox.ports import free_port
from qfbackup.sandbox.sshd import NetnsSshServer, SshServer

pytestmark = pytest.mark.sshd

MiB = 1024 * 1024


def target_for(s: SshServer, **kw: object) -> SshTarget:
    base = SshTarget(
        host=s.host,
        port=s.port,
        user=s.user,
        key_file=s.client_key_path,
        known_hosts=s.known_hosts_path,
        connect_timeout=5.0,
        keepalive=1.0,
    )
    return dataclasses.replace(base, **kw)  # type: ignore[arg-type]


@pytest.fixture
def session(sshd: SshServer) -> Iterator[SshSession]:
    with connect(target_for(sshd)) as sess:
        yield sess


def ssh_keygen(path: Path, kind: str, passphrase: str = "", bits: int | None = None) -> Path:
    argv = ["ssh-keygen", "-q", "-t", kind, "-N", passphrase, "-f", str(path)]
    if bits:
        argv += ["-b", str(bits)]
    subprocess.run(argv, check=True)
    return path


def key_fingerprint(pub: Path) -> str:
    return subprocess.run(["ssh-keygen", "-lf", str(pub)], check=True, capture_output=True, text=True).stdout.split()[1]


# --- Commands -----------------------------------------------------------------------------------------------------


def test_run_exit_codes_output_and_stdin(session: SshSession) -> None:
    assert session.run(["true"]).exit_status == 0
    assert session.run(["false"]).exit_status == 1
    r = session.run(["echo", "hello", "world"])
    assert (r.exit_status, r.stdout, r.stderr) == (0, b"hello world\n", "")
    r = session.run(["sh", "-c", "echo out; echo problem >&2; exit 7"])
    assert (r.exit_status, r.stdout, r.ok) == (7, b"out\n", False)
    assert r.stderr == "problem\n"
    with pytest.raises(RemoteCommandFailed) as e:
        session.run(["sh", "-c", "echo problem >&2; exit 7"], check=True)
    assert e.value.exit_status == 7 and "exit status 7" in str(e.value) and "problem" in str(e.value)
    assert session.run(["cat"], stdin=b"abc\0def").stdout == b"abc\0def"
    assert session.run(["cat"]).stdout == b""  # stdin is closed, cat does not wait
    r = session.run(["sh", "-c", 'printf %s "$QF_X"'], env={"QF_X": "a b'c"})
    assert r.stdout == b"a b'c"


def test_argument_quoting_arrives_literally(session: SshSession, tmp_path: Path) -> None:
    marker = "/tmp/qfbackup-ssh-quoting-marker"
    nasty = [
        f"; rm -rf /tmp/x; touch {marker}",
        f"$(touch {marker})",
        f"`touch {marker}`",
        "a'b\"c\\d",
        " leading and trailing ",
        "new\nline",
        "*",
        "$HOME",
        "",
        "-n",
    ]
    for arg in nasty:
        r = session.run(["printf", "%s", arg])
        assert r.stdout == arg.encode(), arg
    assert session.run(["sh", "-c", 'printf "%s|" "$@"', "sh", *nasty]).stdout == "|".join(nasty).encode() + b"|"
    assert session.run(["test", "-e", marker]).exit_status == 1


def test_run_timeout_and_signal(session: SshSession) -> None:
    t0 = time.monotonic()
    with pytest.raises(RemoteTimeout):
        session.run(["sleep", "10"], timeout=0.5)
    assert time.monotonic() - t0 < 3
    r = session.run(["sh", "-c", "kill -9 $$"])
    assert r.exit_status == -1 and not r.ok
    assert session.run(["true"]).ok  # the session survives both


# --- Streams ------------------------------------------------------------------------------------------------------


def test_stream_300mib_matches_remote_sha256(session: SshSession) -> None:
    size = 300 * MiB
    h = hashlib.sha256()
    with session.stream(["bash", "-c", f"head -c {size} /dev/urandom | tee >(sha256sum >&2)"]) as stream:
        buf = bytearray(4 * MiB)
        while n := stream.readinto(buf):
            h.update(memoryview(buf)[:n])
        result = stream.finish()
    assert stream.bytes_read == size == result.bytes_read
    assert result.exit_status == 0
    assert result.stderr.split()[0] == h.hexdigest()


def test_stream_read_sizes_and_drain(session: SshSession) -> None:
    stream = session.stream(["head", "-c", str(5 * MiB + 3), "/dev/zero"])
    assert stream.read(0) == b""
    assert stream.read(10) == bytes(10)
    assert len(stream.read1(7)) <= 7
    result = stream.finish()  # drains the rest
    assert result.bytes_read + result.bytes_discarded == 5 * MiB + 3
    assert stream.read(10) == b""


def test_stream_failing_midway_raises_with_stderr(session: SshSession) -> None:
    stream = session.stream(
        ["sh", "-c", "head -c 1000000 /dev/zero; echo 'pg_basebackup: error: out of disk' >&2; exit 3"]
    )
    with pytest.raises(RemoteCommandFailed) as e:
        while stream.read(65536):
            pass
    assert stream.bytes_read == 1_000_000
    assert e.value.exit_status == 3
    assert "exit status 3" in str(e.value) and "out of disk" in str(e.value)
    with pytest.raises(RemoteCommandFailed):
        stream.finish()
    # The same through a with-block: the failure cannot be skipped.
    with pytest.raises(RemoteCommandFailed):
        with session.stream(["sh", "-c", "echo partial; exit 2"]) as s2:
            s2.read()


def test_stream_big_stderr_does_not_stall(session: SshSession) -> None:
    stream = session.stream(["sh", "-c", "head -c 50000000 /dev/zero | tr '\\0' e >&2; echo done"], stderr_limit=1000)
    assert stream.read() == b"done\n"
    result = stream.finish()
    assert "earlier bytes omitted" in result.stderr and len(result.stderr) < 1100


def test_stream_close_aborts(session: SshSession) -> None:
    stream = session.stream(["cat", "/dev/zero"])
    assert len(stream.read(MiB)) == MiB
    t0 = time.monotonic()
    stream.close()
    assert time.monotonic() - t0 < 2
    assert session.run(["echo", "still here"]).stdout == b"still here\n"


def test_stream_killed_session_raises_promptly(sshd: SshServer) -> None:
    with connect(target_for(sshd, keepalive=30.0)) as sess:  # the kill, not the keepalive, must end it
        stream = sess.stream(["cat", "/dev/zero"])
        assert len(stream.read(MiB)) == MiB
        # Pacing, not synchronisation: the cat never ends, so any delay puts the kill in the middle of the reads.
        timer = threading.Timer(0.3, sshd.kill_sessions)
        timer.start()
        t0 = time.monotonic()
        with pytest.raises(ConnectionLost) as e:
            while stream.read(MiB):
                pass
        timer.join()
        assert time.monotonic() - t0 < 5
        assert "lost" in str(e.value) and getattr(e.value, "retryable", False)
        # the stream may see the dead socket a moment before the transport does
        wait_for(lambda: not sess.active, timeout=3, interval=0.05, what="the transport to notice the dead session")
    with connect(target_for(sshd)) as again:  # the server itself is fine
        assert again.run(["true"]).ok


# --- Host keys, client keys, connecting -------------------------------------------------------------------------


def test_unknown_host_key_refused(sshd: SshServer, tmp_path: Path) -> None:
    fp = key_fingerprint(sshd.host_key_path.with_suffix(".pub"))
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    for kh in (empty, tmp_path / "missing"):
        with pytest.raises(HostKeyUnknown) as e:
            connect(target_for(sshd, known_hosts=kh))
        msg = str(e.value)
        assert fp in msg and str(kh) in msg and "Fix:" in msg
        assert sshd.known_hosts_line in msg  # the line to add, after checking
        assert isinstance(e.value, RemoteError) and not getattr(e.value, "retryable", False)


def test_changed_host_key_refused(sshd: SshServer, tmp_path: Path) -> None:
    name = f"[{sshd.host}]:{sshd.port}"
    for kind in ("ed25519", "ecdsa"):
        other = ssh_keygen(tmp_path / f"other_{kind}", kind)
        kh = tmp_path / f"known_hosts_{kind}"
        kh.write_text(f"{name} {' '.join(other.with_suffix('.pub').read_text().split()[:2])}\n")
        with pytest.raises(HostKeyChanged) as e:
            connect(target_for(sshd, known_hosts=kh))
        msg = str(e.value)
        assert key_fingerprint(other.with_suffix(".pub")) in msg
        assert key_fingerprint(sshd.host_key_path.with_suffix(".pub")) in msg
        assert str(kh) in msg and f"ssh-keygen -R '{name}'" in msg


def test_key_types_permissions_and_passphrase(sshd: SshServer, tmp_path: Path) -> None:
    keys = [
        (ssh_keygen(tmp_path / "id_ecdsa", "ecdsa"), None),
        (ssh_keygen(tmp_path / "id_rsa", "rsa", bits=2048), None),
        (ssh_keygen(tmp_path / "id_enc", "ed25519", passphrase="s3cret-pass"), "s3cret-pass"),
    ]
    authorized = sshd.authorized_keys_path.read_text()
    try:
        sshd.authorized_keys_path.write_text(authorized + "".join(k.with_suffix(".pub").read_text() for k, _ in keys))
        for key, passphrase in keys:
            with connect(target_for(sshd, key_file=key, key_passphrase=passphrase)) as sess:
                assert sess.run(["true"]).ok
    finally:
        sshd.authorized_keys_path.write_text(authorized)  # the server is shared by the session
    enc = keys[2][0]
    with pytest.raises(SshKeyError, match="encrypted"):
        connect(target_for(sshd, key_file=enc))
    with pytest.raises(SshKeyError, match="wrong passphrase") as e:
        connect(target_for(sshd, key_file=enc, key_passphrase="nope-wrong"))
    assert "nope-wrong" not in str(e.value)
    assert "s3cret-pass" not in repr(target_for(sshd, key_file=enc, key_passphrase="s3cret-pass"))
    loose = tmp_path / "loose"
    shutil.copy(sshd.client_key_path, loose)
    loose.chmod(0o640)
    with pytest.raises(SshKeyError, match="chmod 600"):
        connect(target_for(sshd, key_file=loose))
    with pytest.raises(SshKeyError, match="not found"):
        connect(target_for(sshd, key_file=tmp_path / "nope"))
    stranger = ssh_keygen(tmp_path / "stranger", "ed25519")
    with pytest.raises(AuthenticationRefused):
        connect(target_for(sshd, key_file=stranger))


def test_connect_timeout_on_silent_server(sshd: SshServer) -> None:
    # A listener that never speaks SSH (a hung sshd, a firewall that accepts): bounded by connect_timeout.
    # (Not tested with the namespace link down: with the route gone the SYN would leave via the default route.)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        t0 = time.monotonic()
        with pytest.raises(ConnectError) as e:
            connect(target_for(sshd, port=silent.getsockname()[1], connect_timeout=1.0))
        assert time.monotonic() - t0 < 4
        assert e.value.retryable


def test_connect_refused_is_retryable(sshd: SshServer) -> None:
    dead = target_for(sshd, port=free_port())
    t0 = time.monotonic()
    with pytest.raises(ConnectError) as e:
        connect(dead)
    assert time.monotonic() - t0 < 3 and e.value.retryable
    tries: list[float] = []
    with pytest.raises(ConnectError):
        connect_with_retry(dead, attempts=3, initial_delay=0.01, on_retry=lambda n, exc, wait: tries.append(wait))
    assert len(tries) == 2


# --- A real network partition ---------------------------------------------------------------------------------------


def test_link_down_times_out_within_bounds(netns_sshd: NetnsSshServer) -> None:
    ns = netns_sshd  # sshd in its own namespace: link_down() is a real partition
    target = target_for(ns, keepalive=0.5, keepalive_count=3, connect_timeout=2.0)  # type: ignore[arg-type]
    with connect(target) as sess:
        stream = sess.stream(["cat", "/dev/zero"])
        assert len(stream.read(MiB)) == MiB
        ns.link_down()
        try:
            t0 = time.monotonic()
            with pytest.raises(ConnectionLost, match="keepalive"):
                while stream.read(MiB):
                    pass
            assert time.monotonic() - t0 < 8
        finally:
            ns.link_up()
    with connect(target) as again:
        assert again.run(["true"]).ok
