"""Start a restored data directory as a throwaway server and read it (tests only)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from tests.harness.ports import free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")


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

    def wait_promoted(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.psql("select pg_is_in_recovery()") == "t":
            if time.monotonic() > deadline:
                raise AssertionError(f"still in recovery after {timeout} s:\n{self.log_text()[-2000:]}")
            time.sleep(0.2)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        self._as_postgres(
            str(PG_BIN / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "-w", "stop", check=False
        )
