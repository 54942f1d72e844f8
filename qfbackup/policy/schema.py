"""The whole policy: the top-level ``Policy`` that holds every section, and the warnings a valid policy carries.

What every other module reads instead of raw TOML. Frozen because a policy is loaded once per run and shared by
threads; read-only mappings for the same reason. The sections live by subject: storage.py (repository, off-site
copy), sources.py (hosts, clusters, file sets), jobs.py (schedule, retention, drill, alerts); unimplemented.py lists
what is validated but not yet acted on by any command.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from qfbackup.errors import PolicyError
from qfbackup.policy.jobs import Alerts, Drill, Retention, Schedule, frozen_map
from qfbackup.policy.keys import key
from qfbackup.policy.sources import Cluster, FileSet, Host
from qfbackup.policy.storage import Offsite, Repository


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
    hosts: Mapping[str, Host] = field(default_factory=frozen_map)
    clusters: Mapping[str, Cluster] = field(default_factory=frozen_map)
    filesets: Mapping[str, FileSet] = field(default_factory=frozen_map)
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
