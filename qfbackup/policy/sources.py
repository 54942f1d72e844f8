"""What is backed up: hosts reached over SSH, the PostgreSQL clusters on them and file sets, as frozen sections.

Remote paths (on the database host) are ``PurePosixPath``; local paths (on the backup VM) are ``Path``, so a reader
can tell at a glance which side of the SSH connection a path lives on. Each key is declared once on its field.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from qfbackup.pg.versions import DEBIAN_SOCKET_DIR, DEFAULT_MAJOR, debian_bin_dir
from qfbackup.policy.keys import key

Role = Literal["primary", "standby"]


@dataclass(frozen=True)
class Host:
    """A machine qfbackup reaches over SSH (key auth, strict host-key checking against ``known_hosts``)."""

    name: str
    address: str = key(kind="text", type="host name or IP", example='"db.yourdomain.com"', meaning="where sshd listens")
    user: str = key(
        kind="login",
        meaning="the SSH user; on the database host it runs pg_basebackup/pg_dump and reads the WAL archive",
    )
    port: int = key(22, kind="int", low=1, high=65535, meaning="the SSH port")
    key_file: Path = key(Path("/etc/qfbackup/ssh/id_ed25519"), kind="local_path", meaning="private key (0600)")
    known_hosts: Path = key(
        Path("/etc/qfbackup/ssh/known_hosts"),
        kind="local_path",
        meaning="host keys; an unknown or changed key is refused",
    )
    connect_timeout: int = key(10, kind="int", low=1, high=600, unit="seconds", meaning="time to connect and log in")
    keepalive: int = key(
        15,
        kind="int",
        low=0,
        high=3600,
        unit="seconds",
        meaning="SSH keepalive interval, so a partitioned network is noticed; 0 = off",
    )


@dataclass(frozen=True)
class Cluster:
    """A PostgreSQL cluster on a host. Tools run on the host over SSH and connect through the local socket."""

    name: str
    host: str = key(kind="name", type="host name", meaning="a `[hosts.NAME]`")
    port: int = key(5432, kind="int", low=1, high=65535, example="5432", meaning="unique per host")
    role: Role = key(
        "primary",
        kind="choice",
        choices=("primary", "standby"),
        meaning="a standby owns no backups of its own; it can serve as its primary's base-backup source",
    )
    standby_of: str | None = key(
        None,
        kind="name",
        type="cluster name",
        meaning="required for a standby, not allowed on a primary: the primary it replicates",
    )
    base_backup_from: str | None = key(
        None,
        kind="name",
        type="cluster name",
        meaning="on a primary: take base backups from this standby (whose `standby_of` is this cluster) to spare "
        "the primary",
    )
    databases: tuple[str, ...] = key(
        (),
        kind="list",
        item="pg_ident",
        rule="rename or remove that entry",
        type="list of names",
        meaning="databases dumped with `pg_dump -Fc`; empty on a standby (it serves its primary's)",
    )
    wal_archive_dir: PurePosixPath | None = key(
        None,
        kind="remote_path",
        meaning="where `archive_command` puts WAL on the host; unique per host. Not set: no WAL pull and no "
        "point-in-time restore (warned)",
    )
    remove_after: bool = key(
        False,
        kind="bool",
        meaning="delete a WAL file from the host's archive once it is durable in the repository and, if "
        "configured, off-site. Needs `wal_archive_dir`",
    )
    pg_version: int = key(
        DEFAULT_MAJOR,
        kind="int",
        low=10,
        high=99,
        example=str(DEFAULT_MAJOR),
        meaning="PostgreSQL major version (drill image, tool paths)",
    )
    pg_bin_dir: PurePosixPath = key(
        debian_bin_dir(),
        kind="remote_path",
        shown_default="`/usr/lib/postgresql/<pg_version>/bin`",
        meaning="where pg_basebackup, pg_dump, pg_dumpall live on the host",
    )
    socket_dir: PurePosixPath = key(
        DEBIAN_SOCKET_DIR, kind="remote_path", meaning="the server's unix socket directory on the host"
    )
    user: str = key(
        "postgres",
        kind="pg_ident",
        type="role name",
        meaning="the PostgreSQL role the tools connect as (peer authentication through the socket)",
    )
    data_dir: PurePosixPath | None = key(
        None, kind="remote_path", meaning="the cluster's data directory; the restore runbooks use it"
    )
    dump_globals: bool = key(True, kind="bool", meaning="also dump roles and tablespaces (`pg_dumpall --globals-only`)")
    extensions: tuple[str, ...] = key(
        (),
        kind="list",
        item="pg_ident",
        rule="use the extension's name",
        type="list of names",
        meaning="extensions a restore target must provide (e.g. `timescaledb`)",
    )

    @property
    def is_standby(self) -> bool:
        return self.role == "standby"


@dataclass(frozen=True)
class FileSource:
    """Paths on one host that belong to a file set; each (file set, host) pair is its own snapshot series."""

    host: str = key(kind="name", type="host name", meaning="a `[hosts.NAME]`")
    paths: tuple[PurePosixPath, ...] = key(
        kind="list",
        item="abs_path",
        rule="write absolute paths",
        type="list of absolute remote paths",
        meaning="files or directories (recursively)",
    )


@dataclass(frozen=True)
class FileSet:
    """Versioned file snapshots (configs, models). ``secret`` ones are never printed, only their paths."""

    name: str
    sources: tuple[FileSource, ...] = key(
        kind="custom",
        doc_name="`host` / `hosts` / `sources`",
        type="see above",
        meaning="where the files are: `host` or `hosts` with `paths`, or `[[...sources]]` tables of `host` and `paths`",
    )
    exclude: tuple[str, ...] = key(
        (),
        kind="list",
        item="glob",
        rule="write a glob such as '*.tmp'",
        type="list of globs",
        meaning="names or paths to skip, e.g. `*.tmp`",
    )
    secret: bool = key(
        False,
        kind="bool",
        meaning="contents are never printed (listings show names and sizes only); paths are still shown",
    )
    tags: tuple[str, ...] = key(
        (),
        kind="list",
        item="name",
        rule="use short lowercase tags",
        type="list of names",
        meaning='labels for listing and restore ("as of" a tag)',
    )

    @property
    def hosts(self) -> tuple[str, ...]:
        return tuple(s.host for s in self.sources)
