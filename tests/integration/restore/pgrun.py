"""Start a restored data directory as a throwaway server and read it (tests only)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from qfbackup.pg.versions import debian_bin_dir
from qfbackup.sandbox import wait_for
from qfbackup.sandbox.ports import free_port

PG_BIN = Path(debian_bin_dir())


class RestoredServer:
    """``pg_ctl start`` on a restored directory with its own port and socket; always stopped by ``stop()``."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.socket_dir = data_dir.parent / f"{data_dir.name}.run"  # socket and log, writable by postgres
        self.log = self.socket_dir / "server.log"

    def _as_postgres(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["runuser", "-u", "postgres", "--", *argv], capture_output=True, text=True, check=check, timeout=180
        )

    def start(self) -> RestoredServer:
        self.socket_dir.mkdir(exist_ok=True)
        subprocess.run(["chown", "postgres:postgres", str(self.socket_dir)], check=True)
        opts = f"-p {self.port} -k {self.socket_dir} -c listen_addresses=''"
        proc = self._as_postgres(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(self.data_dir),
            "-o",
            opts,
            "-l",
            str(self.log),
            "-w",
            "-t",
            "120",
            "start",
            check=False,
        )
        if proc.returncode != 0:
            raise AssertionError(f"restored server did not start:\n{proc.stderr}\n{self.log_text()[-3000:]}")
        return self

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        return self._as_postgres(
            str(PG_BIN / "psql"), "-h", str(self.socket_dir), "-p", str(self.port), "-AtX", "-d", dbname, "-c", sql
        ).stdout.strip()

    def wait_until(self, sql: str, want: str, timeout: float = 60) -> None:
        """Poll ``sql`` until it returns ``want`` (a server state is the condition, never a fixed sleep)."""
        answers: list[str] = []

        def reached() -> bool:
            answers.append(self.psql(sql))
            return answers[-1] == want

        wait_for(
            reached,
            timeout=timeout,
            interval=0.2,
            what=f"{sql!r} to return {want!r}",
            on_timeout=lambda: f"last answer: {answers[-1:]}\n{self.log_text()[-2000:]}",
        )

    def wait_promoted(self, timeout: float = 60) -> None:
        self.wait_until("select pg_is_in_recovery()", "f", timeout)

    def wait_paused(self, timeout: float = 60) -> None:
        self.wait_until("select pg_get_wal_replay_pause_state()", "paused", timeout)

    def switch_wal(self, archive_dir: Path, timeout: float = 60) -> str:
        """Close the current segment and wait until this server's archiver has archived it whole (its .done)."""
        seg = self.psql(
            "select pg_logical_emit_message(false, 'qfbackup-test', 'switch');\nselect pg_walfile_name(pg_switch_wal())"
        ).splitlines()[-1]
        done = self.data_dir / "pg_wal" / "archive_status" / f"{seg}.done"
        wait_for(
            lambda: done.exists() and (archive_dir / seg).exists(),
            timeout=timeout,
            what=f"{seg} to be archived into {archive_dir}",
        )
        return seg

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        self._as_postgres(
            str(PG_BIN / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "-w", "stop", check=False
        )
