"""SSH connects under the one retry policy, over real sockets: exactly N tries, waits within the cap, and errors
that need a person are never retried. No sshd is needed: a closed port, and a listener that accepts and closes
(a dead or overloaded sshd, a load balancer with nothing behind it), are what a retry is for."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest

from qfbackup.errors import ConnectError, SshKeyError
from qfbackup.remote.ssh import CONNECT_RETRY, SshTarget, connect_with_retry
from qfbackup.sandbox.ports import free_port


class AcceptAndClose:
    """Accepts TCP connections on 127.0.0.1 and closes each at once, counting them."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="accept-and-close", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.accepted += 1
            conn.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def dead_sshd() -> Iterator[AcceptAndClose]:
    server = AcceptAndClose()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "id_ecdsa"
    paramiko.ECDSAKey.generate().write_private_key_file(str(path))
    path.chmod(0o600)
    return path


def target(port: int, key_file: Path) -> SshTarget:
    return SshTarget(
        host="127.0.0.1", port=port, user="postgres", key_file=key_file, known_hosts=key_file.parent / "known_hosts",
        connect_timeout=2.0,
    )  # fmt: skip


class RecordingSleep:
    """Sleeps for real (the delays are short) and keeps what it was asked to wait."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        time.sleep(seconds)


def test_a_closed_port_is_tried_exactly_n_times_with_capped_waits(key_file: Path) -> None:
    sleep = RecordingSleep()
    retried: list[int] = []
    t0 = time.monotonic()
    with pytest.raises(ConnectError, match="Unable to connect to port"):  # refused, as paramiko words it
        connect_with_retry(
            target(free_port(), key_file), attempts=5, initial_delay=0.02, max_delay=0.05, sleep=sleep,
            on_retry=lambda n, e, wait: retried.append(n),
        )  # fmt: skip
    elapsed = time.monotonic() - t0
    assert retried == [1, 2, 3, 4]  # 5 tries: 4 failures retried, the 5th raised
    assert len(sleep.waits) == 4 and all(0 < w <= 0.05 for w in sleep.waits)
    assert sum(sleep.waits) <= elapsed < 10


def test_a_server_that_drops_every_connection_gets_exactly_n_connections(
    dead_sshd: AcceptAndClose, key_file: Path
) -> None:
    sleep = RecordingSleep()
    with pytest.raises(ConnectError):
        connect_with_retry(
            target(dead_sshd.port, key_file), attempts=3, initial_delay=0.01, max_delay=0.02, sleep=sleep
        )
    assert dead_sshd.accepted == 3
    assert len(sleep.waits) == 2 and all(w <= 0.02 for w in sleep.waits)


def test_the_default_policy_tries_four_times_within_its_cap(dead_sshd: AcceptAndClose, key_file: Path) -> None:
    waits: list[float] = []  # recorded, not slept: the default waits are up to 30 s
    with pytest.raises(ConnectError):
        connect_with_retry(target(dead_sshd.port, key_file), sleep=waits.append)
    assert dead_sshd.accepted == CONNECT_RETRY.attempts == 4
    assert len(waits) == 3 and all(w <= CONNECT_RETRY.max_delay for w in waits)
    assert 0.8 <= waits[0] <= 1.0 and 1.6 <= waits[1] <= 2.0 and 3.2 <= waits[2] <= 4.0  # 1 s doubling, jitter down


def test_a_bad_key_file_is_not_retried_and_connects_nowhere(dead_sshd: AcceptAndClose, key_file: Path) -> None:
    key_file.chmod(0o644)
    waits: list[float] = []
    with pytest.raises(SshKeyError, match="too open"):
        connect_with_retry(target(dead_sshd.port, key_file), sleep=waits.append)
    assert waits == [] and dead_sshd.accepted == 0
