"""A throwaway PostgreSQL 15 cluster with WAL archiving, like the production primary (and its hot standby).

Why a real server: the backup tool drives pg_basebackup, reads archived WAL segments and restores with
recovery; none of that can be faked. Layout under one temporary directory owned by ``postgres``::

    BASE/data      data directory (0700)
    BASE/archive   archive_command copies finished WAL segments here
    BASE/run       unix socket and the server log (postgres.log)

As root everything runs as ``postgres`` (the server refuses root); as another user it runs as that user.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Self

from qfbackup.pg.versions import debian_bin_dir

from . import (
    HarnessError,
    Service,
    as_user,
    chown,
    is_root,
    process_alive,
    run,
    tail,
    user_ids,
    wait_for,
)
from .marker import create_temp_dir, remove_dir
from .ports import free_port

# QFBACKUP_PG_BIN_DIR: another installation (or a missing one, to test the skip/require logic)
PG_BIN_DIR = Path(os.environ.get("QFBACKUP_PG_BIN_DIR") or debian_bin_dir())
WAL_SEGMENT_SIZE = 16 * 1024 * 1024

ConfValue = str | int | float | bool


def conf_value(value: ConfValue) -> str:
    """A postgresql.conf value: booleans as on/off, numbers bare, strings single-quoted with '' escaping."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, int | float):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


class PgCluster(Service):
    """A PostgreSQL 15 cluster on 127.0.0.1 with ``archive_mode=on`` into ``archive_dir``.

    ``start()`` runs initdb (first time only) and the server; ``stop()`` stops it and removes everything unless
    ``keep=True``. ``stop_server()``/``start_server()`` stop and start only the server (crash and restore tests).
    """

    kind = "pg"

    def __init__(
        self,
        *,
        port: int | None = None,
        base_dir: str | os.PathLike[str] | None = None,
        bin_dir: str | os.PathLike[str] = PG_BIN_DIR,
        user: str = "postgres",
        archive_timeout: int = 60,
        data_checksums: bool = True,
        extra_conf: Mapping[str, ConfValue] | None = None,
        initdb_args: Sequence[str] = (),
        keep: bool = False,
    ) -> None:
        self.bin_dir = Path(bin_dir)
        self.user = user
        self.port = port or free_port()
        self.archive_timeout = archive_timeout
        self.data_checksums = data_checksums
        self.extra_conf = dict(extra_conf or {})
        self.initdb_args = list(initdb_args)
        self.keep = keep
        self._own_base = base_dir is None
        self.base_dir = Path(base_dir) if base_dir is not None else None
        self.primary: PgCluster | None = None
        self._initialized = False
        self._running = False

    # -- paths ----------------------------------------------------------------------------------------------------

    def _base(self) -> Path:
        if self.base_dir is None:
            raise HarnessError("this PgCluster has no directory yet (not started) or was removed by stop()")
        return self.base_dir

    @property
    def data_dir(self) -> Path:
        return self._base() / "data"

    @property
    def archive_dir(self) -> Path:
        return self._base() / "archive"

    @property
    def socket_dir(self) -> Path:
        return self._base() / "run"

    @property
    def log_path(self) -> Path:
        return self.socket_dir / "postgres.log"

    @property
    def dsn(self) -> str:
        """libpq connection string over TCP (trust authentication, so no password)."""
        return f"host=127.0.0.1 port={self.port} user={self.user} dbname=postgres"

    @property
    def socket_dsn(self) -> str:
        """libpq connection string over the unix socket."""
        return f"host={self.socket_dir} port={self.port} user={self.user} dbname=postgres"

    def env(self) -> dict[str, str]:
        """Environment for libpq tools (pg_basebackup, psql) to reach this cluster."""
        return {
            **os.environ,
            "PGHOST": str(self.socket_dir),
            "PGPORT": str(self.port),
            "PGUSER": self.user,
            "PGDATABASE": "postgres",
        }

    def bin(self, tool: str) -> str:
        return str(self.bin_dir / tool)

    def __repr__(self) -> str:
        role = "standby" if self.primary else "primary"
        return f"PgCluster({role}, port={self.port}, base={self.base_dir})"

    # -- lifecycle ------------------------------------------------------------------------------------------------

    def _run_as(self, argv: Sequence[str], **kw: object) -> str:
        return run(as_user(self.user, argv), cwd=self._base(), **kw).stdout  # type: ignore[arg-type]

    def _prepare_dirs(self) -> None:
        """Base, archive and socket dirs owned by the server's user; the data dir is left to initdb."""
        if not (self.bin_dir / "initdb").exists():
            raise HarnessError(f"PostgreSQL 15 is not installed ({self.bin_dir}/initdb missing)")
        if is_root():
            user_ids(self.user)  # clear error if the account does not exist
        if self.base_dir is None:
            self.base_dir = create_temp_dir(self.kind)
        base = self.base_dir
        base.mkdir(parents=True, exist_ok=True)
        base.chmod(0o755)
        chown(base, self.user)
        for d in (self.archive_dir, self.socket_dir):
            d.mkdir(exist_ok=True)
            d.chmod(0o755)
            chown(d, self.user)

    def _harness_conf(self, *, standby_of: PgCluster | None = None) -> dict[str, ConfValue]:
        arch = str(self.archive_dir)
        conf: dict[str, ConfValue] = {
            "port": self.port,
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(self.socket_dir),
            "wal_level": "replica",
            "archive_mode": "on",
            "archive_command": f"test ! -f {arch}/%f && cp %p {arch}/%f",
            "archive_timeout": self.archive_timeout,
            "max_wal_senders": 10,
            "max_replication_slots": 10,
            "hot_standby": True,
            "logging_collector": False,
        }
        if standby_of is not None:
            conf["restore_command"] = f"cp {standby_of.archive_dir}/%f %p"
        conf.update(self.extra_conf)
        return conf

    def _append_conf(self, conf: Mapping[str, ConfValue]) -> None:
        """Append settings to postgresql.conf: later lines win, so this overrides what initdb (or a base backup
        of another cluster) wrote."""
        lines = ["", "# --- qfbackup test harness ---"]
        lines += [f"{k} = {conf_value(v)}" for k, v in conf.items()]
        with open(self.data_dir / "postgresql.conf", "a") as f:
            f.write("\n".join(lines) + "\n")

    def initdb(self) -> None:
        self._prepare_dirs()
        argv = [
            self.bin("initdb"),
            "-D",
            str(self.data_dir),
            "-U",
            self.user,
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
            "--no-instructions",
        ]
        if self.data_checksums:
            argv.append("--data-checksums")
        self._run_as([*argv, *self.initdb_args])
        self._append_conf(self._harness_conf())
        self._initialized = True

    def start(self) -> Self:
        """initdb if needed, then start the server and wait until it accepts connections."""
        self._register()
        try:
            if not self._initialized and (self.base_dir is None or not (self.data_dir / "PG_VERSION").exists()):
                self.initdb()
            self._initialized = True
            self.start_server()
        except BaseException:
            self.stop()
            raise
        return self

    def start_server(self, *, timeout: float = 60) -> None:
        """Start the postmaster (data dir must exist) and wait until it accepts connections."""
        try:
            self._run_as(
                [
                    self.bin("pg_ctl"),
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(self.log_path),
                    "-w",
                    "-t",
                    str(int(timeout)),
                    "start",
                ],
                timeout=timeout + 10,
            )
        except HarnessError as e:
            raise HarnessError(f"{e}\n--- {self.log_path} ---\n{tail(self.log_path)}") from None
        self._running = True

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop_server(self, mode: str = "fast", *, timeout: float = 60) -> None:
        """Stop the server only (``mode``: smart, fast or immediate; immediate is a crash).

        If pg_ctl cannot stop it, the postmaster gets SIGQUIT then SIGKILL: a test must never leave one behind.
        """
        if self.base_dir is None or not self.data_dir.exists():
            self._running = False
            return
        pid = self.postmaster_pid()
        if pid is None or not process_alive(pid):
            self._running = False
            return
        argv = [self.bin("pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w", "-t", str(int(timeout)), "stop"]
        try:
            self._run_as(argv, timeout=timeout + 10)
        except HarnessError:
            for sig in (signal.SIGQUIT, signal.SIGKILL):
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    break
                deadline = time.monotonic() + 10
                while process_alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.05)
                if not process_alive(pid):
                    break
        self._running = False

    def crash(self) -> None:
        """Stop like a power cut (immediate shutdown: no checkpoint, recovery on next start)."""
        self.stop_server("immediate")

    def restart(self) -> None:
        self.stop_server()
        self.start_server()

    def stop(self) -> None:
        """Stop the server and remove its directory (unless ``keep``). Idempotent."""
        try:
            self.stop_server()
        finally:
            if not self.keep and self._own_base:
                remove_dir(self.base_dir, self.kind)
                self.base_dir = None
                self._initialized = False
            self._unregister()

    # -- SQL and WAL ----------------------------------------------------------------------------------------------

    def psql(self, sql: str, *, dbname: str = "postgres", timeout: float = 120) -> str:
        """Run SQL with psql as the server's user; returns unaligned, tuples-only output (stripped).

        Multiple statements are allowed; any error stops the script and raises HarnessError with psql's stderr.
        """
        argv = [
            self.bin("psql"),
            "-X",
            "-A",
            "-t",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            str(self.socket_dir),
            "-p",
            str(self.port),
            "-U",
            self.user,
            "-d",
            dbname,
            "-f",
            "-",
        ]
        return self._run_as(argv, input=sql, timeout=timeout).strip()

    def is_in_recovery(self) -> bool:
        return self.psql("select pg_is_in_recovery()") == "t"

    def switch_wal(self, *, timeout: float = 30) -> str:
        """Close the current WAL segment and wait until archive_command has archived it; returns its name.

        A WAL record is written first, because pg_switch_wal() does nothing on an idle segment.
        """
        out = self.psql(
            "select pg_logical_emit_message(false, 'qfbackup-harness', 'switch');\n"
            "select pg_walfile_name(pg_switch_wal());"
        )
        segment = out.splitlines()[-1].strip()
        self.wait_archived(segment, timeout=timeout)
        return segment

    def wait_archived(self, segment: str, *, timeout: float = 30) -> None:
        """Wait until ``segment`` (or a later one) is reported archived and its file is complete."""

        def archived() -> bool:
            # The archiver renames .ready to .done only after archive_command returned 0, so a .done file (or a
            # later *segment* reported archived, once a checkpoint removed the .done) means the copy is whole.
            # last_archived_wal alone is not enough: a .partial or .history file archived after a promotion
            # sorts like a later segment while this one may still be being copied.
            if not (self.archive_dir / segment).exists():
                return False
            if (self.data_dir / "pg_wal" / "archive_status" / f"{segment}.done").exists():
                return True
            last = self.psql("select coalesce(last_archived_wal, '') from pg_stat_archiver")
            return len(last) == 24 and (int(last[:8], 16), last[8:]) >= (int(segment[:8], 16), segment[8:])

        wait_for(
            archived,
            timeout=timeout,
            interval=0.1,
            what=f"WAL segment {segment} in {self.archive_dir}",
            on_timeout=lambda: self.psql("select * from pg_stat_archiver") + "\n" + tail(self.log_path),
        )

    # -- standby --------------------------------------------------------------------------------------------------

    @classmethod
    def make_standby(cls, primary: PgCluster, *, port: int | None = None, keep: bool = False) -> PgCluster:
        """A hot standby of ``primary`` on another port: pg_basebackup -R, streaming replication, and the
        primary's archive as restore_command (so it catches up even if the primary recycled WAL)."""
        sb = cls(port=port, bin_dir=primary.bin_dir, user=primary.user, keep=keep)
        sb._register()
        try:
            sb._prepare_dirs()
            sb._run_as(
                [
                    sb.bin("pg_basebackup"),
                    "-D",
                    str(sb.data_dir),
                    "-h",
                    str(primary.socket_dir),
                    "-p",
                    str(primary.port),
                    "-U",
                    primary.user,
                    "-R",
                    "-X",
                    "stream",
                    "-c",
                    "fast",
                    "--no-sync",
                ]
            )
            sb._append_conf(sb._harness_conf(standby_of=primary))
            sb._initialized = True
            sb.primary = primary
            sb.start_server()
            wait_for(sb.is_in_recovery, timeout=30, what="standby in recovery")
        except BaseException:
            sb.stop()
            raise
        return sb

    def wait_caught_up(self, *, timeout: float = 30) -> None:
        """On a standby: wait until it has replayed everything the primary had written when called."""
        if self.primary is None:
            raise HarnessError("wait_caught_up() is for a standby made by make_standby()")
        target = self.primary.psql("select pg_current_wal_lsn()")
        wait_for(
            lambda: self.psql(f"select pg_last_wal_replay_lsn() >= '{target}'::pg_lsn") == "t",
            timeout=timeout,
            what=f"standby replay to reach {target}",
        )
