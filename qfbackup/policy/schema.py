"""The policy as typed, frozen dataclasses: what every other module reads instead of raw TOML.

Frozen because a policy is loaded once per run and shared by threads; tuples and read-only mappings for the same
reason. Remote paths (on the database host) are ``PurePosixPath``; local paths (on the backup VM) are ``Path``, so a
reader can tell at a glance which side of the SSH connection a path lives on. Defaults live here, next to the
fields, and docs/policy.md documents each field (a unit test keeps the two in step).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import Any, Literal

from qfbackup.errors import PolicyError
from qfbackup.pg.versions import DEBIAN_SOCKET_DIR, DEFAULT_MAJOR, debian_bin_dir
from qfbackup.policy.expect import Expectation

Role = Literal["primary", "standby"]
Engine = Literal["auto", "podman", "docker"]
DrillTarget = Literal["random", "latest"]

DEFAULT_SSH_KEY = Path("/etc/qfbackup/ssh/id_ed25519")
DEFAULT_KNOWN_HOSTS = Path("/etc/qfbackup/ssh/known_hosts")
DEFAULT_CACHE_DIR = Path("/var/cache/qfbackup")
PASSPHRASE_ENV = "QFBACKUP_PASSPHRASE"
"""Where the repository passphrase comes from when no passphrase_file is set (else an interactive prompt)."""


def _frozen_map(items: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    return MappingProxyType(dict(items or {}))


@dataclass(frozen=True)
class Repository:
    """The primary repository on the backup VM (or in S3): where every backup lands first."""

    path: str
    passphrase_file: Path | None = None
    key_file: Path | None = None
    cache_dir: Path = DEFAULT_CACHE_DIR
    pack_size_mib: int = 16
    chunk_avg_kib: int = 64
    compression_level: int = 3
    workers: int = 2
    endpoint: str | None = None
    region: str = "us-east-1"
    credentials_file: Path | None = None

    @property
    def is_s3(self) -> bool:
        return self.path.startswith("s3://")

    def s3_options(self) -> dict[str, Any]:
        """Keyword arguments for ``S3Store.from_url`` when the repository itself lives in S3."""
        return _s3_options(self.endpoint, self.region, self.credentials_file)


@dataclass(frozen=True)
class Offsite:
    """The off-site copy (S3-compatible): with the key alone it must be enough to restore everything."""

    url: str
    endpoint: str | None = None
    region: str = "us-east-1"
    credentials_file: Path | None = None
    object_lock_days: int = 0

    def s3_options(self) -> dict[str, Any]:
        """Keyword arguments for ``S3Store.from_url(url, **opts)``; the store reads AWS_* env vars itself."""
        return _s3_options(self.endpoint, self.region, self.credentials_file)


def _s3_options(endpoint: str | None, region: str, credentials_file: Path | None) -> dict[str, Any]:
    return {
        "endpoint": endpoint,
        "region": region,
        "credentials_file": str(credentials_file) if credentials_file else None,
    }


@dataclass(frozen=True)
class Host:
    """A machine qfbackup reaches over SSH (key auth, strict host-key checking against ``known_hosts``)."""

    name: str
    address: str
    user: str
    port: int = 22
    key_file: Path = DEFAULT_SSH_KEY
    known_hosts: Path = DEFAULT_KNOWN_HOSTS
    connect_timeout: int = 10
    keepalive: int = 15


@dataclass(frozen=True)
class Cluster:
    """A PostgreSQL cluster on a host. Tools run on the host over SSH and connect through the local socket."""

    name: str
    host: str
    port: int = 5432
    role: Role = "primary"
    standby_of: str | None = None
    base_backup_from: str | None = None
    databases: tuple[str, ...] = ()
    wal_archive_dir: PurePosixPath | None = None
    remove_after: bool = False
    pg_version: int = DEFAULT_MAJOR
    pg_bin_dir: PurePosixPath = debian_bin_dir()
    socket_dir: PurePosixPath = DEBIAN_SOCKET_DIR
    user: str = "postgres"
    data_dir: PurePosixPath | None = None
    dump_globals: bool = True
    extensions: tuple[str, ...] = ()

    @property
    def is_standby(self) -> bool:
        return self.role == "standby"


@dataclass(frozen=True)
class FileSource:
    """Paths on one host that belong to a file set; each (file set, host) pair is its own snapshot series."""

    host: str
    paths: tuple[PurePosixPath, ...]


@dataclass(frozen=True)
class FileSet:
    """Versioned file snapshots (configs, models). ``secret`` ones are never printed, only their paths."""

    name: str
    sources: tuple[FileSource, ...]
    exclude: tuple[str, ...] = ()
    secret: bool = False
    tags: tuple[str, ...] = ()

    @property
    def hosts(self) -> tuple[str, ...]:
        return tuple(s.host for s in self.sources)


@dataclass(frozen=True)
class Schedule:
    """Cron expressions (5 fields) for the timer on the backup VM; None means that job is not scheduled."""

    timezone: str = "UTC"
    wal_pull: str | None = None
    base_backup: str | None = None
    dump: str | None = None
    fileset: str | None = None
    copy_offsite: str | None = None
    verify: str | None = None
    drill: str | None = None
    prune: str | None = None

    def jobs(self) -> dict[str, str]:
        """The scheduled jobs by name, unscheduled ones left out."""
        return {
            name: expr
            for name, expr in (
                ("wal_pull", self.wal_pull),
                ("base_backup", self.base_backup),
                ("dump", self.dump),
                ("fileset", self.fileset),
                ("copy_offsite", self.copy_offsite),
                ("verify", self.verify),
                ("drill", self.drill),
                ("prune", self.prune),
            )
            if expr
        }


@dataclass(frozen=True)
class KeepRule:
    """How many of a series to keep: the newest ``keep_last``, plus the newest one per day/week/month/year."""

    keep_last: int = 0
    keep_daily: int = 0
    keep_weekly: int = 0
    keep_monthly: int = 0
    keep_yearly: int = 0

    @property
    def is_empty(self) -> bool:
        """A rule that keeps nothing; prune refuses it rather than deleting everything."""
        return not any((self.keep_last, self.keep_daily, self.keep_weekly, self.keep_monthly, self.keep_yearly))


DEFAULT_BASE_BACKUPS = KeepRule(keep_daily=7, keep_weekly=4, keep_monthly=3)
DEFAULT_DUMPS = KeepRule(keep_daily=14, keep_weekly=8, keep_monthly=12)
DEFAULT_SNAPSHOTS = KeepRule(keep_last=10, keep_daily=14, keep_weekly=8, keep_monthly=12)


@dataclass(frozen=True)
class ClusterRetention:
    """Effective retention of one primary cluster: its PITR window, base backups and dumps."""

    recovery_window_days: int = 7
    base_backups: KeepRule = DEFAULT_BASE_BACKUPS
    dumps: KeepRule = DEFAULT_DUMPS


@dataclass(frozen=True)
class Retention:
    """Retention defaults plus the effective rule of every cluster and file set (overrides already merged)."""

    recovery_window_days: int = 7
    base_backups: KeepRule = DEFAULT_BASE_BACKUPS
    dumps: KeepRule = DEFAULT_DUMPS
    snapshots: KeepRule = DEFAULT_SNAPSHOTS
    clusters: Mapping[str, ClusterRetention] = field(default_factory=_frozen_map)
    filesets: Mapping[str, KeepRule] = field(default_factory=_frozen_map)

    def for_cluster(self, name: str) -> ClusterRetention:
        """The rule for a cluster; one the policy does not list gets the defaults."""
        default = ClusterRetention(self.recovery_window_days, self.base_backups, self.dumps)
        return self.clusters.get(name, default)

    def for_fileset(self, name: str) -> KeepRule:
        return self.filesets.get(name, self.snapshots)


@dataclass(frozen=True)
class DrillCheck:
    """One SQL invariant the restored database must satisfy: ``sql`` returns one value, ``expect`` judges it."""

    name: str
    sql: str
    expect: Expectation
    cluster: str
    database: str


@dataclass(frozen=True)
class Drill:
    """How the weekly restore drill runs (container limits) and what it must prove (checks, RTO/RPO bounds)."""

    engine: Engine = "auto"
    image: str | None = None
    cluster: str | None = None
    target: DrillTarget = "random"
    memory_mib: int = 2048
    cpus: float = 2.0
    timeout_minutes: int = 60
    amcheck: bool = True
    read_all_tables: bool = True
    max_rto_minutes: int | None = None
    max_rpo_minutes: int | None = None
    checks: tuple[DrillCheck, ...] = ()

    def checks_for(self, cluster: str) -> tuple[DrillCheck, ...]:
        return tuple(c for c in self.checks if c.cluster == cluster)


@dataclass(frozen=True)
class Alerts:
    """Where failures go besides stderr (which cron mails): an argv run without a shell."""

    command: tuple[str, ...] = ()
    timeout_seconds: int = 30
    max_wal_lag_minutes: int = 15


@dataclass(frozen=True)
class Policy:
    """A validated policy. Lookups raise PolicyError naming the known names, so a CLI typo gets a useful answer."""

    source: str
    repository: Repository
    version: int = 1
    offsite: Offsite | None = None
    hosts: Mapping[str, Host] = field(default_factory=_frozen_map)
    clusters: Mapping[str, Cluster] = field(default_factory=_frozen_map)
    filesets: Mapping[str, FileSet] = field(default_factory=_frozen_map)
    schedule: Schedule = Schedule()
    retention: Retention = Retention()
    drill: Drill = Drill()
    alerts: Alerts = Alerts()
    warnings: tuple[str, ...] = ()

    def host(self, name: str) -> Host:
        return _lookup(self, "host", self.hosts, name)

    def cluster(self, name: str) -> Cluster:
        return _lookup(self, "cluster", self.clusters, name)

    def fileset(self, name: str) -> FileSet:
        return _lookup(self, "file set", self.filesets, name)

    def host_of(self, cluster: str) -> Host:
        return self.hosts[self.cluster(cluster).host]

    def primaries(self) -> tuple[Cluster, ...]:
        """Clusters that own backups (standbys only serve as a source for their primary's base backups)."""
        return tuple(c for c in self.clusters.values() if not c.is_standby)

    def base_backup_source(self, cluster: str) -> Cluster:
        """The cluster pg_basebackup connects to for ``cluster``: its ``base_backup_from`` standby, else itself."""
        c = self.cluster(cluster)
        return self.clusters[c.base_backup_from] if c.base_backup_from else c

    def redacted(self) -> dict[str, Any]:
        """The effective policy as plain JSON-able data, with anything secret-ish redacted (paths are shown)."""
        from qfbackup.policy.redact import redact

        data = redact(self)
        data.pop("warnings", None)
        return data


def _lookup(policy: Policy, kind: str, table: Mapping[str, Any], name: str) -> Any:
    try:
        return table[name]
    except KeyError:
        known = ", ".join(sorted(table)) or "none"
        raise PolicyError(
            f"{policy.source}: there is no {kind} named {name!r} (known: {known}).",
            hint=f"use one of the names above, or add the {kind} to the policy",
        ) from None
