"""How the jobs behave: schedule, retention, restore drills and alerts, as typed, frozen policy sections.

Each key is declared once on its field (``keys.key``); sections.py parses these sections and docs.py documents them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

from qfbackup.policy.expect import Expectation
from qfbackup.policy.keys import DERIVED, declared_keys, default_of, key

Engine = Literal["auto", "podman", "docker"]
DrillTarget = Literal["random", "latest"]

MINUTES_MAX = 7 * 24 * 60


def frozen_map(items: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    """A read-only mapping: the default of every table-of-names field (a policy is shared by threads)."""
    return MappingProxyType(dict(items or {}))


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
        factory=frozen_map,
        kind="custom",
        doc_name="`clusters.NAME`",
        type="table",
        shown_default="the defaults above",
        meaning="per primary cluster: `recovery_window_days`, `base_backups`, `dumps`",
    )
    filesets: Mapping[str, KeepRule] = key(
        factory=frozen_map,
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
