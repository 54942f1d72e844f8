"""The policy as typed, frozen dataclasses: what every other module reads instead of raw TOML.

Frozen because a policy is loaded once per run and shared by threads; tuples and read-only mappings for the same
reason. Remote paths (on the database host) are ``PurePosixPath``; local paths (on the backup VM) are ``Path``, so a
reader can tell at a glance which side of the SSH connection a path lives on. Each key is declared once, on its
field (``keys.key``: default, kind, range, meaning): sections.py reads it from there and ``qfbackup.policy.docs``
writes docs/policy.md's key tables from it. ``NOT_IMPLEMENTED`` at the end lists what is validated but not yet acted
on by any command, so ``policy check`` can say so.
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
from qfbackup.policy.keys import DERIVED, declared_keys, default_of, key

Role = Literal["primary", "standby"]
Engine = Literal["auto", "podman", "docker"]
DrillTarget = Literal["random", "latest"]

DEFAULT_CACHE_DIR = Path("/var/cache/qfbackup")
PASSPHRASE_ENV = "QFBACKUP_PASSPHRASE"
"""Where the repository passphrase comes from when no passphrase_file is set (else an interactive prompt)."""
S3_ONLY = "only when `path` is `s3://`"
ENV_KEYS = "`$AWS_ACCESS_KEY_ID` / `$AWS_SECRET_ACCESS_KEY`"
MINUTES_MAX = 7 * 24 * 60


def _frozen_map(items: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    return MappingProxyType(dict(items or {}))


@dataclass(frozen=True)
class Repository:
    """The primary repository on the backup VM (or in S3): where every backup lands first."""

    path: str = key(
        kind="text", example='"/var/lib/qfbackup/repo"', meaning="absolute local directory, or `s3://bucket/prefix`"
    )
    passphrase_file: Path | None = key(
        None,
        kind="local_path",
        meaning="file (0600) holding the passphrase that unwraps the repository key. Not set: the passphrase comes "
        "from `$QFBACKUP_PASSPHRASE`, else an interactive prompt",
    )
    key_file: Path | None = key(
        None,
        kind="local_path",
        meaning="a key file (0600) that unwraps the repository key, as an alternative or in addition to the passphrase",
    )
    cache_dir: Path = key(
        DEFAULT_CACHE_DIR,
        kind="local_path",
        meaning="local state: encrypted copies of index files and snapshots (`<repository id>/`), per-job locks "
        "(`locks/`), the drill image, workspaces and history (`drill/`)",
    )
    pack_size_mib: int = key(
        16,
        kind="int",
        low=1,
        high=64,  # writer, verify and copy hold ~3 packs
        meaning="target size of pack objects; small chunks are packed so S3 holds few, large objects (memory: ~3 "
        "packs held at once)",
    )
    chunk_avg_kib: int = key(
        64,
        kind="int",
        low=16,
        high=4096,
        type="power of two, 16-4096",
        meaning="average content-defined chunk size; changing it on an existing repository costs deduplication "
        "against earlier backups",
    )
    compression_level: int = key(3, kind="int", low=1, high=22, meaning="zstd level")
    workers: int = key(2, kind="int", low=1, high=64, meaning="compress + encrypt threads")
    endpoint: str | None = key(
        None, kind="text", type="http(s) URL", example='"https://s3.example.com"', meaning=f"S3 endpoint, {S3_ONLY}"
    )
    region: str = key("us-east-1", kind="text", meaning=f"S3 region, {S3_ONLY}")
    credentials_file: Path | None = key(None, kind="local_path", meaning=f"S3 keys (0600), {S3_ONLY}; else {ENV_KEYS}")

    @property
    def is_s3(self) -> bool:
        return self.path.startswith("s3://")

    def s3_options(self) -> dict[str, Any]:
        """Keyword arguments for ``S3Store.from_url`` when the repository itself lives in S3."""
        return _s3_options(self.endpoint, self.region, self.credentials_file)


@dataclass(frozen=True)
class Offsite:
    """The off-site copy (S3-compatible): with the key alone it must be enough to restore everything."""

    url: str = key(
        kind="text",
        type="`s3://bucket/prefix`",
        example='"s3://bucket/prefix"',
        meaning="where the copy lives; must not overlap the repository path",
    )
    endpoint: str | None = key(
        None,
        kind="text",
        type="http(s) URL",
        example='"https://s3.example.com"',
        shown_default="not set (AWS)",
        meaning="S3-compatible server, e.g. `https://s3.example.com` (no path, no credentials)",
    )
    region: str = key("us-east-1", kind="text", meaning="S3 region")
    credentials_file: Path | None = key(None, kind="local_path", meaning=f"S3 keys (0600); else {ENV_KEYS}")
    object_lock_days: int = key(
        0,
        kind="int",
        low=0,
        high=36500,
        meaning="S3 Object Lock retention for copied objects; 0 = off (the bucket must have Object Lock enabled)",
    )

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


def _job(command: str) -> Any:
    return key(None, kind="cron", meaning=command)


@dataclass(frozen=True)
class Schedule:
    """Cron expressions (5 fields) for the timer on the backup VM; None means that job is not scheduled."""

    timezone: str = key("UTC", kind="text", type="IANA zone name", meaning="the zone the expressions are in")
    wal_pull: str | None = _job("`qfbackup wal pull` for every cluster with a `wal_archive_dir`")
    base_backup: str | None = _job("`qfbackup backup base` for every primary cluster")
    dump: str | None = _job("`qfbackup backup dump` for every primary cluster")
    fileset: str | None = _job("snapshots of every file set")
    copy_offsite: str | None = _job("`qfbackup copy --to offsite` (needs `[offsite]`)")
    verify: str | None = _job("`qfbackup verify`")
    drill: str | None = _job("`qfbackup drill run` (needs a primary cluster)")
    prune: str | None = _job("apply `[retention]`")

    def jobs(self) -> dict[str, str]:
        """The scheduled jobs by name, unscheduled ones left out."""
        jobs = ((f.name, getattr(self, f.name)) for f, spec in declared_keys(Schedule) if spec.kind == "cron")
        return {name: expr for name, expr in jobs if expr}


def _keep(what: str) -> Any:
    return key(0, kind="int", low=0, high=100000, meaning=what)


@dataclass(frozen=True)
class KeepRule:
    """How many of a series to keep: the newest ``keep_last``, plus the newest one per day/week/month/year."""

    keep_last: int = _keep("the newest N items")
    keep_daily: int = _keep("the newest item of each of the last N days")
    keep_weekly: int = _keep("the newest item of each of the last N weeks")
    keep_monthly: int = _keep("the newest item of each of the last N months")
    keep_yearly: int = _keep("the newest item of each of the last N years")

    @property
    def is_empty(self) -> bool:
        """A rule that keeps nothing; prune refuses it rather than deleting everything."""
        return not any((self.keep_last, self.keep_daily, self.keep_weekly, self.keep_monthly, self.keep_yearly))


@dataclass(frozen=True)
class Retention:
    """Retention defaults plus the effective rule of every cluster and file set (overrides already merged)."""

    recovery_window_days: int = key(
        7,
        kind="int",
        low=1,
        high=3650,
        example="7",
        meaning="point-in-time restore must stay possible to any moment of the last N days: the base backup "
        "before the window and all WAL after it are always kept",
    )
    base_backups: KeepRule = key(
        KeepRule(keep_daily=7, keep_weekly=4, keep_monthly=3), kind="custom", type="keep rule", meaning="base backups"
    )
    dumps: KeepRule = key(
        KeepRule(keep_daily=14, keep_weekly=8, keep_monthly=12), kind="custom", type="keep rule", meaning="dumps"
    )
    snapshots: KeepRule = key(
        KeepRule(keep_last=10, keep_daily=14, keep_weekly=8, keep_monthly=12),
        kind="custom",
        type="keep rule",
        meaning="file-set snapshots, per (file set, host)",
    )
    clusters: Mapping[str, ClusterRetention] = key(
        factory=_frozen_map,
        kind="custom",
        doc_name="`clusters.NAME`",
        type="table",
        shown_default="the defaults above",
        meaning="per primary cluster: `recovery_window_days`, `base_backups`, `dumps`",
    )
    filesets: Mapping[str, KeepRule] = key(
        factory=_frozen_map,
        kind="custom",
        doc_name="`filesets.NAME`",
        type="keep rule",
        shown_default="`snapshots`",
        meaning="per file set",
    )

    def for_cluster(self, name: str) -> ClusterRetention:
        """The rule for a cluster; one the policy does not list gets the defaults."""
        default = ClusterRetention(self.recovery_window_days, self.base_backups, self.dumps)
        return self.clusters.get(name, default)

    def for_fileset(self, name: str) -> KeepRule:
        return self.filesets.get(name, self.snapshots)


@dataclass(frozen=True)
class ClusterRetention:
    """Effective retention of one primary cluster: its PITR window, base backups and dumps (the same keys as
    ``[retention]``, whose values are the defaults)."""

    recovery_window_days: int = default_of(Retention, "recovery_window_days")
    base_backups: KeepRule = default_of(Retention, "base_backups")
    dumps: KeepRule = default_of(Retention, "dumps")


@dataclass(frozen=True)
class DrillCheck:
    """One SQL invariant the restored database must satisfy: ``sql`` returns one value, ``expect`` judges it."""

    name: str = key(kind="name", meaning="unique")
    sql: str = key(
        kind="text",
        example='"select count(*) from trades where price is null"',
        meaning="a query returning one value (first column of the first row)",
    )
    expect: Expectation = key(kind="text", type="condition", example='"== 0"', meaning="see below")
    cluster: str = key(
        DERIVED,
        kind="name",
        type="cluster name",
        shown_default="`drill.cluster`",
        meaning="the check runs when this cluster is drilled",
    )
    database: str = key(
        DERIVED,
        kind="pg_ident",
        type="database name",
        shown_default="the cluster's first database",
        meaning="must be one of the cluster's `databases`",
    )


@dataclass(frozen=True)
class Drill:
    """How the weekly restore drill runs (container limits) and what it must prove (checks, RTO/RPO bounds)."""

    engine: Engine = key(
        "auto",
        kind="choice",
        choices=("auto", "podman", "docker"),
        meaning="container engine; auto prefers podman",
    )
    image: str | None = key(
        None,
        kind="text",
        type="image name",
        example='"localhost/qfbackup-drill:15"',
        meaning="use this image; not set: `qfbackup drill image build` builds one",
    )
    cluster: str | None = key(
        None,
        kind="name",
        type="cluster name",
        shown_default="the first primary cluster",
        meaning="the cluster drilled by default",
    )
    target: DrillTarget = key(
        "random",
        kind="choice",
        choices=("random", "latest"),
        meaning="default target: a random point in the restorable window, or the newest",
    )
    memory_mib: int = key(2048, kind="int", low=256, high=1024 * 1024, meaning="container memory limit")
    cpus: float = key(2.0, kind="float", low=0.1, high=256, meaning="container CPU limit")
    timeout_minutes: int = key(
        60,
        kind="int",
        low=1,
        high=MINUTES_MAX,
        unit="minutes",
        meaning="the drill fails (and cleans up) after this long",
    )
    amcheck: bool = key(True, kind="bool", meaning="check every B-tree index with amcheck")
    read_all_tables: bool = key(True, kind="bool", meaning="read every table (pg_dump to /dev/null)")
    max_rto_minutes: int | None = key(
        None,
        kind="int",
        low=1,
        high=MINUTES_MAX,
        unit="minutes",
        meaning="fail when the measured recovery time is longer",
    )
    max_rpo_minutes: int | None = key(
        None,
        kind="int",
        low=1,
        high=MINUTES_MAX,
        unit="minutes",
        meaning="fail when the newest stored WAL is older than this",
    )
    checks: tuple[DrillCheck, ...] = key(
        (), kind="custom", type="array of tables", meaning="the SQL checks: `[[drill.checks]]` below"
    )

    def checks_for(self, cluster: str) -> tuple[DrillCheck, ...]:
        return tuple(c for c in self.checks if c.cluster == cluster)


@dataclass(frozen=True)
class Alerts:
    """Where failures go besides stderr (which cron mails): an argv run without a shell."""

    command: tuple[str, ...] = key(
        (),
        kind="custom",
        type="list of text",
        meaning="program (absolute path) and arguments, run without a shell on each failure",
    )
    timeout_seconds: int = key(
        30, kind="int", low=1, high=3600, unit="seconds", meaning="the alert program is killed after this long"
    )
    max_wal_lag_minutes: int = key(
        15,
        kind="int",
        low=1,
        high=MINUTES_MAX,
        unit="minutes",
        meaning="`wal status` reports a failure when the newest stored WAL is older than this",
    )


@dataclass(frozen=True)
class PolicyWarning:
    """Something allowed but probably not wanted: ``code`` for machines, ``key`` where, ``message`` for people."""

    code: str
    key: str
    message: str


@dataclass(frozen=True)
class Policy:
    """A validated policy. Lookups raise PolicyError naming the known names, so a CLI typo gets a useful answer."""

    source: str
    repository: Repository
    version: int = key(1, kind="int", low=1, high=1000, meaning="policy format version; only 1 exists")
    offsite: Offsite | None = None
    hosts: Mapping[str, Host] = field(default_factory=_frozen_map)
    clusters: Mapping[str, Cluster] = field(default_factory=_frozen_map)
    filesets: Mapping[str, FileSet] = field(default_factory=_frozen_map)
    schedule: Schedule = Schedule()
    retention: Retention = Retention()
    drill: Drill = Drill()
    alerts: Alerts = Alerts()
    notices: tuple[PolicyWarning, ...] = ()

    @property
    def warnings(self) -> tuple[str, ...]:
        """The warnings' messages, as ``policy check`` prints them."""
        return tuple(n.message for n in self.notices)

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
        data.pop("notices", None)
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


@dataclass(frozen=True)
class NotImplementedYet:
    """Keys the reader validates but no command acts on yet. The feature that implements them removes its entry."""

    keys: tuple[str, ...]  # key paths, "*" standing for any name: a policy setting one of them gets the warning
    why: str


NOT_IMPLEMENTED: tuple[NotImplementedYet, ...] = (
    NotImplementedYet(
        ("schedule",),
        "no command runs the schedule yet (there is no scheduler): run the jobs from cron or systemd timers",
    ),
    NotImplementedYet(
        ("retention",),
        "no command applies retention yet (there is no prune): nothing is ever deleted from the repository",
    ),
    NotImplementedYet(
        ("filesets",),
        "no command pulls file sets from their hosts yet (`snapshot create` backs up local directories only)",
    ),
    NotImplementedYet(
        ("alerts.command", "alerts.timeout_seconds"),
        "no command runs the alert program yet: failures go to stderr and exit codes only",
    ),
    NotImplementedYet(
        ("offsite.object_lock_days",),
        "`copy` does not set S3 Object Lock yet: copied objects are not locked",
    ),
    NotImplementedYet(
        ("clusters.*.extensions",),
        "no command uses it yet: restores do not check that the target provides these extensions",
    ),
)
