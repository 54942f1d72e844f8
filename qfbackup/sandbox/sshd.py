"""A real OpenSSH server for the remote-host tests: on loopback, or inside a network namespace.

Why the real /usr/sbin/sshd and not a Python fake: the tool talks to database hosts over SSH with host key
checking, streams pg_basebackup through it and must survive cut connections; only the real server behaves like
the production hosts (PAM, key refusal, how a session dies).

Each server has its own host key, accepts only one generated client key, only for ``postgres`` (the account the
tool uses on database hosts), and writes a ``known_hosts`` file with its host key, so clients can (and must) use
``StrictHostKeyChecking=yes``. sshd runs as root and reads ``authorized_keys`` as the target user, hence the
0755 directory and 0644 public files; private keys stay 0600.

``NetnsSshServer`` puts sshd in a network namespace joined to the host by a veth pair, so a test can pull the
cable (``link_down()``) and see the real failure modes: connect timeouts and sessions that hang until keepalives
give up. Traffic only ever goes to loopback or to namespaces made here.
"""

from __future__ import annotations

import fcntl
import os
import random
import re
import signal
import socket
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Self

from qfbackup.common.process import start_ticks

from . import (
    HarnessError,
    Service,
    chown,
    descendants,
    die_with_parent,
    kill_pids,
    proc_comm,
    run,
    tail,
    terminate,
    user_ids,
    wait_for,
)
from .marker import create_temp_dir, remove_dir
from .ports import free_port

SSHD = "/usr/sbin/sshd"
SSHD_COMMS = ("sshd", "sshd-session", "sshd-auth")


def _banner(host: str, port: int) -> bool:
    """Whether an SSH server answers with its banner (the port merely accepting is not enough)."""
    with socket.create_connection((host, port), timeout=1) as s:
        s.settimeout(2)
        return s.recv(64).startswith(b"SSH-")


class SshServer(Service):
    """sshd on ``host:port`` (default 127.0.0.1 and a free port), key-only, ``AllowUsers postgres``.

    Attributes: host, port, user, client_key_path, known_hosts_path, host_key_path, authorized_keys_path,
    config_path, log_path, pid. ``ssh_argv(*cmd)`` builds an OpenSSH client command line that trusts exactly
    this server.
    """

    kind = "sshd"

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        user: str = "postgres",
        client_key_owner: str | None = None,
        extra_config: Sequence[str] = (),
        sshd_path: str = SSHD,
    ) -> None:
        self.host = host
        self.port = port or free_port()
        self.user = user
        self.client_key_owner = client_key_owner
        self.extra_config = list(extra_config)
        self.sshd_path = sshd_path
        self.base_dir: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self._orphans: set[tuple[int, int]] = set()

    # -- paths ----------------------------------------------------------------------------------------------------

    def _path(self, name: str) -> Path:
        if self.base_dir is None:
            raise HarnessError("this SshServer is not started")
        return self.base_dir / name

    @property
    def host_key_path(self) -> Path:
        return self._path("ssh_host_ed25519_key")

    @property
    def client_key_path(self) -> Path:
        return self._path("client_ed25519")

    @property
    def authorized_keys_path(self) -> Path:
        return self._path("authorized_keys")

    @property
    def known_hosts_path(self) -> Path:
        return self._path("known_hosts")

    @property
    def config_path(self) -> Path:
        return self._path("sshd_config")

    @property
    def log_path(self) -> Path:
        return self._path("sshd.log")

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc and self.proc.poll() is None else None

    @property
    def host_key_pub(self) -> str:
        """``ssh-ed25519 AAAA...`` (no comment)."""
        return " ".join(self.host_key_path.with_suffix(".pub").read_text().split()[:2])

    @property
    def known_hosts_line(self) -> str:
        """The known_hosts line for this server: ``[host]:port ssh-ed25519 ...`` (bare host on port 22)."""
        name = self.host if self.port == 22 else f"[{self.host}]:{self.port}"
        return f"{name} {self.host_key_pub}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.user}@{self.host}:{self.port}, pid={self.pid})"

    def ssh_argv(self, *command: str, connect_timeout: int = 10, options: Sequence[str] = ()) -> list[str]:
        """Command line of the OpenSSH client running ``command`` on this server, host key strictly checked."""
        argv = [
            "ssh",
            "-i",
            str(self.client_key_path),
            "-p",
            str(self.port),
            "-o",
            f"UserKnownHostsFile={self.known_hosts_path}",
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            f"ConnectTimeout={connect_timeout}",
            "-F",
            "/dev/null",
        ]
        for opt in options:
            argv += ["-o", opt]
        return [*argv, f"{self.user}@{self.host}", *command]

    # -- lifecycle ------------------------------------------------------------------------------------------------

    def _config_lines(self) -> list[str]:
        return [
            f"Port {self.port}",
            f"ListenAddress {self.host}",
            "AddressFamily inet",
            f"HostKey {self.host_key_path}",
            f"PidFile {self._path('sshd.pid')}",
            f"AuthorizedKeysFile {self.authorized_keys_path}",
            "PubkeyAuthentication yes",
            "AuthenticationMethods publickey",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin no",
            f"AllowUsers {self.user}",
            # files live under /tmp, which StrictModes rejects ("bad ownership or modes for directory /tmp")
            "StrictModes no",
            # postgres is a locked account ('!'); without PAM sshd refuses it as "account is locked"
            "UsePAM yes",
            "PrintMotd no",
            "UseDNS no",
            # parallel transfers open many connections at once; the default 10:30:100 drops some at random
            "MaxStartups 100:30:200",
            "MaxSessions 100",
            "Subsystem sftp internal-sftp",
            "LogLevel VERBOSE",
            *self.extra_config,
        ]

    def _write_files(self) -> None:
        user_ids(self.user)  # a clear error if there is no such account
        self.base_dir = create_temp_dir(self.kind)
        self.base_dir.chmod(0o755)  # sshd reads authorized_keys as the user: it must traverse this directory
        run(
            [
                "ssh-keygen",
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                "qfbackup-harness-host",
                "-f",
                str(self.host_key_path),
            ]
        )
        run(
            [
                "ssh-keygen",
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                "qfbackup-harness-client",
                "-f",
                str(self.client_key_path),
            ]
        )
        self.client_key_path.chmod(0o600)
        if self.client_key_owner:
            chown(self.client_key_path, self.client_key_owner)
        pub = self.client_key_path.with_suffix(".pub").read_text()
        self.authorized_keys_path.write_text(pub)
        self.authorized_keys_path.chmod(0o644)
        self.known_hosts_path.write_text(self.known_hosts_line + "\n")
        self.known_hosts_path.chmod(0o644)
        self.config_path.write_text("\n".join(self._config_lines()) + "\n")
        self.config_path.chmod(0o600)
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # privilege separation dir, missing without systemd
        run([self.sshd_path, "-t", "-f", str(self.config_path)])

    def _popen_argv(self) -> list[str]:
        return [self.sshd_path, "-f", str(self.config_path), "-D", "-e"]

    def _launch(self) -> None:
        with open(self.log_path, "ab") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                self._popen_argv(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                preexec_fn=die_with_parent(),
            )

        def ready() -> bool:
            if self.proc is None or self.proc.poll() is not None:
                raise HarnessError(f"sshd exited at start:\n{tail(self.log_path)}")
            return _banner(self.host, self.port)

        wait_for(ready, timeout=20, what=f"sshd on {self.host}:{self.port}", on_timeout=lambda: tail(self.log_path))

    def start(self) -> Self:
        if not os.path.exists(self.sshd_path):
            raise HarnessError(f"{self.sshd_path} not found (install openssh-server)")
        if os.geteuid() != 0:
            raise HarnessError("SshServer needs root (sshd must switch to the postgres user)")
        self._register()
        try:
            self._write_files()
            self._launch()
        except BaseException:
            self.stop()
            raise
        return self

    def _session_pids(self, *, include_commands: bool) -> list[int]:
        if self.proc is None or self.proc.poll() is not None:
            return []
        pids = descendants(self.proc.pid)
        if include_commands:
            return pids
        return [p for p in pids if proc_comm(p) in SSHD_COMMS]

    def kill_sessions(self, *, include_commands: bool = False) -> int:
        """SIGKILL every per-connection sshd process (not the listener): open connections drop at once, as in a
        cut mid-transfer, and new ones still work. Remote commands are left to die of the closed pipes, as
        after a real cut, unless ``include_commands``; those left are remembered and killed by ``stop()``.
        Returns how many processes were killed."""
        everything = self._session_pids(include_commands=True)
        if include_commands:
            return kill_pids(everything, signal.SIGKILL)
        sshd_pids = [p for p in everything if proc_comm(p) in SSHD_COMMS]
        self._orphans.update((p, t) for p in everything if p not in sshd_pids and (t := start_ticks(p)) is not None)
        return kill_pids(sshd_pids, signal.SIGKILL)

    def _stop_sshd(self) -> None:
        if self.proc is not None:
            # sessions first (and the commands they run), so nothing started through us outlives the server
            kill_pids(self._session_pids(include_commands=True), signal.SIGKILL)
            terminate(self.proc, timeout=10)
            self.proc = None
        # commands orphaned by kill_sessions(): same pid *and* start time, so a reused pid is never hit
        kill_pids([p for p, t in self._orphans if start_ticks(p) == t], signal.SIGKILL)
        self._orphans.clear()

    def stop(self) -> None:
        try:
            self._stop_sshd()
        finally:
            remove_dir(self.base_dir, self.kind)
            self.base_dir = None
            self._unregister()


# ---------------------------------------------------------------------------------------------------------------
# sshd in a network namespace

_NETNS_LOCK_FILE = "/run/lock/qfbackup-harness-netns.lock"


def _used_10_200_subnets() -> set[int]:
    """Third octets of 10.200.X.0/24 networks already configured or routed on the host."""
    text = run(["ip", "-o", "-4", "addr", "show"]).stdout + run(["ip", "-4", "route", "show"]).stdout
    return {int(m) for m in re.findall(r"\b10\.200\.(\d{1,3})\.\d{1,3}", text)}


class NetnsSshServer(SshServer):
    """sshd inside a network namespace made for it, reachable from the host at ``host`` (10.200.X.2) via a veth
    pair whose host end is 10.200.X.1. X is chosen under a lock file so concurrent runs never share a subnet.

    ``link_down()``/``link_up()`` take the host end of the veth down/up: a real network partition. ``stop()``
    kills sshd and deletes the namespace (which removes the veth pair).
    """

    kind = "netns-sshd"

    def __init__(self, *, port: int = 22, user: str = "postgres", **kw: object) -> None:
        # host is the namespace's address, known once start() has picked a subnet
        super().__init__(host="", port=port, user=user, **kw)  # type: ignore[arg-type]
        token = f"{random.SystemRandom().getrandbits(24):06x}"
        self.netns = f"qfb-{os.getpid()}-{token}"
        self.host_if = f"qfbh{token}"
        self.ns_if = f"qfbn{token}"
        self.subnet: int | None = None
        self._ns_created = False

    @property
    def gateway(self) -> str:
        """The host's address on the veth (the client's source address)."""
        return f"10.200.{self.subnet}.1"

    def _setup_netns(self) -> None:
        os.makedirs(os.path.dirname(_NETNS_LOCK_FILE), exist_ok=True)
        with open(_NETNS_LOCK_FILE, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            used = _used_10_200_subnets()
            free = [x for x in range(1, 255) if x not in used]
            if not free:
                raise HarnessError("no free 10.200.X.0/24 subnet for a test network namespace")
            self.subnet = random.SystemRandom().choice(free)
            self.host = f"10.200.{self.subnet}.2"
            run(["ip", "netns", "add", self.netns])
            self._ns_created = True
            run(["ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if])
            run(["ip", "link", "set", self.ns_if, "netns", self.netns])
            run(["ip", "addr", "add", f"{self.gateway}/24", "dev", self.host_if])
            run(["ip", "link", "set", self.host_if, "up"])
            ns = ["ip", "netns", "exec", self.netns]
            run([*ns, "ip", "addr", "add", f"{self.host}/24", "dev", self.ns_if])
            run([*ns, "ip", "link", "set", self.ns_if, "up"])
            run([*ns, "ip", "link", "set", "lo", "up"])

    def _popen_argv(self) -> list[str]:
        # `ip netns exec` execs sshd in place, so the pid we get is the listener's
        return ["ip", "netns", "exec", self.netns, *super()._popen_argv()]

    def start(self) -> Self:
        if os.geteuid() != 0:
            raise HarnessError("NetnsSshServer needs root (ip netns)")
        self._register()
        try:
            self._setup_netns()
            self._write_files()
            self._launch()
        except BaseException:
            self.stop()
            raise
        return self

    @property
    def _subnet_cidr(self) -> str:
        return f"10.200.{self.subnet}.0/24"

    def link_down(self) -> None:
        """Pull the cable: packets between host and namespace stop flowing (connections are not reset).

        With the veth down its connected route vanishes, and traffic for the subnet would follow the default
        route off this machine. An ``unreachable`` route keeps it here: connects fail fast, nothing leaves.
        """
        run(["ip", "route", "replace", "unreachable", self._subnet_cidr])
        run(["ip", "link", "set", self.host_if, "down"])

    def link_up(self) -> None:
        run(["ip", "link", "set", self.host_if, "up"])
        run(["ip", "route", "del", "unreachable", self._subnet_cidr], check=False)
        run(["ip", "route", "replace", self._subnet_cidr, "dev", self.host_if, "src", self.gateway])

    def stop(self) -> None:
        try:
            self._stop_sshd()
        finally:
            try:
                if self._ns_created:
                    run(["ip", "route", "del", "unreachable", self._subnet_cidr], check=False)
                    run(["ip", "netns", "del", self.netns], check=False)
                    self._ns_created = False
                # normally gone with the namespace; make sure
                if os.path.exists(f"/sys/class/net/{self.host_if}"):
                    run(["ip", "link", "del", self.host_if], check=False)
            finally:
                remove_dir(self.base_dir, self.kind)
                self.base_dir = None
                self._unregister()
