"""Talking to the PostgreSQL server behind a cluster: client tool paths, one-query facts, the server clock.

Every PostgreSQL tool runs on the database host over SSH as the cluster's OS user and connects through the
cluster's unix socket directory (``-h SOCKET_DIR -p PORT -U USER``), so no database password or TCP listener is
needed for backups. The facts recorded with every backup (version, system identifier, segment size) come from
one ``psql`` call here (``server_facts``), which any job that records them can share; so do the database sizes a
progress bar's total is estimated from (``database_sizes``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from qfbackup.errors import RemoteCommandFailed, RemoteError, ServerQueryFailed
from qfbackup.pg.versions import major_from_version_num
from qfbackup.policy.sources import Cluster
from qfbackup.remote.ssh import SshSession

FACTS_SQL = (
    "select current_setting('server_version_num'), current_setting('server_version'), "
    "(select system_identifier from pg_control_system()), "
    "(select setting from pg_settings where name = 'wal_segment_size'), pg_is_in_recovery()"
)


def tool(cluster: Cluster, name: str) -> str:
    """Absolute path of a PostgreSQL client program on the cluster's host (never found through $PATH, so the
    version that matches the server is used even when several are installed)."""
    return str(cluster.pg_bin_dir / name)


def conn_args(cluster: Cluster) -> list[str]:
    return ["-h", str(cluster.socket_dir), "-p", str(cluster.port), "-U", cluster.user, "--no-password"]


def psql_argv(cluster: Cluster, sql: str, *, dbname: str = "postgres") -> list[str]:
    """psql printing bare values, tab-separated, one row per line; ``-X`` so no ~/.psqlrc changes the output."""
    return [tool(cluster, "psql"), "-X", "-A", "-t", "-q", "-F", "\t", "-v", "ON_ERROR_STOP=1",
            *conn_args(cluster), "-d", dbname, "-c", sql]  # fmt: skip


def psql_rows(session: SshSession, cluster: Cluster, sql: str, *, timeout: float = 60.0) -> list[list[str]]:
    """Run one query on the host; its rows as lists of strings. A failure raises with psql's stderr."""
    result = session.run(psql_argv(cluster, sql), timeout=timeout)
    if not result.ok:
        detail = result.stderr.strip() or f"psql exited with status {result.exit_status}"
        raise ServerQueryFailed(cluster.name, session.target.host, detail)
    return [line.split("\t") for line in result.stdout.decode("utf-8", "replace").splitlines() if line]


@dataclass(frozen=True)
class ServerFacts:
    """What a backup records about the server it came from."""

    version_num: int
    version: str
    system_identifier: str  # a 64-bit number; a string so JSON readers never round it
    wal_segment_size: int
    in_recovery: bool

    @property
    def major(self) -> int:
        return major_from_version_num(self.version_num)

    def to_meta(self) -> dict[str, object]:
        return {
            "server_version_num": self.version_num,
            "server_version": self.version,
            "pg_major": self.major,
            "system_identifier": self.system_identifier,
            "wal_segment_size": self.wal_segment_size,
        }


def server_facts(session: SshSession, cluster: Cluster) -> ServerFacts:
    rows = psql_rows(session, cluster, FACTS_SQL)
    try:
        num, version, sysid, segsize, recovery = rows[0]
        return ServerFacts(int(num), version, str(int(sysid)), int(segsize), recovery == "t")
    except (IndexError, ValueError):
        raise ServerQueryFailed(cluster.name, session.target.host, f"unexpected answer {rows!r}") from None


def database_sizes(session: SshSession, cluster: Cluster) -> dict[str, int] | None:
    """Each database's size on disk (``pg_database_size``), for a progress bar's total; None when the server
    will not say (a role without CONNECT on some database): a bar without a total is no reason to fail a backup."""
    try:
        rows = psql_rows(session, cluster, "select datname, pg_database_size(oid) from pg_database")
        return {name: int(size) for name, size in rows}
    except (ServerQueryFailed, ValueError):
        return None


def server_clock(session: SshSession, cluster: Cluster) -> str:
    """The server's clock now, in UTC with microseconds: the clock commit timestamps (and so time targets) use."""
    rows = psql_rows(session, cluster, "select extract(epoch from clock_timestamp())")
    try:
        return datetime.fromtimestamp(float(rows[0][0]), UTC).isoformat(timespec="microseconds")
    except (IndexError, ValueError):
        raise ServerQueryFailed(cluster.name, session.target.host, f"unexpected answer {rows!r}") from None


def remote_detail(error: RemoteError, program: str = "the remote command") -> str:
    """The useful part of a remote failure for a one-sentence message: who exited how, after how much output,
    and the stderr tail (where PostgreSQL tools say why), without repeating the whole command line."""
    if isinstance(error, RemoteCommandFailed):
        status = f"{program} exited with status {error.exit_status}" if error.exit_status is not None else "failed"
        if error.bytes_read:
            status += f" after {error.bytes_read} bytes of output"
        tail = error.stderr.strip()
        return f"{status}: {tail}" if tail else status
    msg = error.message
    # it continues a sentence ("Base backup of cluster X failed: connection to ... lost")
    return msg[0].lower() + msg[1:] if msg[:1].isupper() and msg[1:2].islower() else msg
