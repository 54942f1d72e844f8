"""Checks that span sections: references between names, clashes, and the files a policy points to.

These run only on a structurally valid policy, so a misspelt host name is reported once (as a bad reference), not
again as a consequence. Hard problems make the policy invalid; soft ones become ``Policy.warnings`` that
``policy check`` prints (each with a code), because an operator copying the template to a new machine should see
"the SSH key does not exist yet" without being blocked by it.
"""

from __future__ import annotations

import dataclasses
import stat
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from qfbackup.policy.jobs import ClusterRetention
from qfbackup.policy.reader import Problems
from qfbackup.policy.schema import Policy, PolicyWarning
from qfbackup.policy.unimplemented import NOT_IMPLEMENTED


def crosscheck(policy: Policy, problems: Problems) -> Policy:
    """Validate references between sections; return the policy with derived defaults (drill, retention) filled."""
    _check_clusters(policy, problems)
    _check_filesets(policy, problems)
    policy = _fill_drill(policy, problems)
    policy = _fill_retention(policy, problems)
    _check_offsite(policy, problems)
    return policy


def _check_clusters(policy: Policy, problems: Problems) -> None:
    clusters = policy.clusters
    ports: dict[tuple[str, int], str] = {}
    archives: dict[tuple[str, str], str] = {}
    for name, c in clusters.items():
        key = f"clusters.{name}"
        if c.host not in policy.hosts:
            problems.add(
                f"{key}.host",
                f"names host {c.host!r}, which is not defined.",
                f"add a [hosts.{c.host}] section or use one of: {_names(policy.hosts)}",
            )
        if (c.host, c.port) in ports:
            problems.add(
                f"{key}.port",
                f"{c.port} on host {c.host!r} is already used by cluster {ports[c.host, c.port]!r}.",
                "give each cluster on a host its own port",
            )
        ports.setdefault((c.host, c.port), name)
        if c.wal_archive_dir is not None:
            where = (c.host, str(c.wal_archive_dir))
            if where in archives:
                problems.add(
                    f"{key}.wal_archive_dir",
                    f"is also the archive of cluster {archives[where]!r}; WAL of two clusters would be mixed.",
                    "give each cluster its own archive directory",
                )
            archives.setdefault(where, name)
        elif c.remove_after:
            problems.add(
                f"{key}.remove_after",
                "is true but the cluster has no wal_archive_dir to clean up.",
                "set wal_archive_dir or remove `remove_after`",
            )
        if c.is_standby:
            _check_standby(policy, name, problems)
        else:
            _check_primary(policy, name, problems)


def _check_standby(policy: Policy, name: str, problems: Problems) -> None:
    c, key = policy.clusters[name], f"clusters.{name}"
    if c.standby_of is None:
        problems.add(
            f"{key}.standby_of",
            "is missing: a standby must name its primary.",
            f'add `standby_of = "..."` naming one of: {_names(policy.clusters)}',
        )
    elif c.standby_of == name or c.standby_of not in policy.clusters:
        problems.add(
            f"{key}.standby_of",
            f"names {c.standby_of!r}, which is not another defined cluster.",
            f"use one of: {_names(policy.clusters)}",
        )
    elif policy.clusters[c.standby_of].is_standby:
        problems.add(
            f"{key}.standby_of",
            f"names {c.standby_of!r}, which is itself a standby.",
            "name the primary cluster the standby replicates",
        )
    if c.databases:
        problems.add(
            f"{key}.databases",
            "is set on a standby; a standby serves its primary's databases.",
            "list the databases on the primary cluster and remove them here",
        )
    if c.base_backup_from is not None:
        problems.add(f"{key}.base_backup_from", "is set on a standby.", "set it on the primary, naming this standby")


def _check_primary(policy: Policy, name: str, problems: Problems) -> None:
    c, key = policy.clusters[name], f"clusters.{name}"
    if c.standby_of is not None:
        problems.add(
            f"{key}.standby_of",
            "is set but the cluster's role is primary.",
            'set `role = "standby"` or remove `standby_of`',
        )
    source = c.base_backup_from
    if source is None:
        return
    other = policy.clusters.get(source)
    if other is None or not other.is_standby or other.standby_of != name:
        problems.add(
            f"{key}.base_backup_from",
            f"names {source!r}, which is not a standby of {name!r}.",
            f'name a cluster with role = "standby" and standby_of = "{name}", or remove the key',
        )


def _check_filesets(policy: Policy, problems: Problems) -> None:
    for name, fs in policy.filesets.items():
        seen: set[str] = set()
        for source in fs.sources:
            if source.host not in policy.hosts:
                problems.add(
                    f"filesets.{name}",
                    f"names host {source.host!r}, which is not defined.",
                    f"add a [hosts.{source.host}] section or use one of: {_names(policy.hosts)}",
                )
            if source.host in seen:
                problems.add(
                    f"filesets.{name}", f"lists host {source.host!r} twice.", "merge its paths into one source"
                )
            seen.add(source.host)


def _fill_drill(policy: Policy, problems: Problems) -> Policy:
    """Default the drill cluster to the first primary and each check's database to its cluster's first one."""
    drill = policy.drill
    primaries = [c.name for c in policy.primaries()]
    cluster = drill.cluster or (primaries[0] if primaries else None)
    if drill.cluster is not None and drill.cluster not in primaries:
        problems.add(
            "drill.cluster",
            f"names {drill.cluster!r}, which is not a defined primary cluster.",
            f"use one of: {', '.join(primaries) or 'none (define a cluster first)'}",
        )
    if policy.schedule.drill and not primaries:
        problems.add(
            "schedule.drill",
            "is set but the policy has no primary cluster to drill.",
            "define a cluster or remove the drill schedule",
        )
    checks, names = [], set()
    for i, check in enumerate(drill.checks, 1):
        key = f"drill.checks[{i}]"
        if check.name in names:
            problems.add(f"{key}.name", f"{check.name!r} is used by an earlier check.", "give each check its own name")
        names.add(check.name)
        target = check.cluster or cluster
        if target not in primaries:
            problems.add(
                f"{key}.cluster",
                f"names {target!r}, which is not a defined primary cluster.",
                f"use one of: {', '.join(primaries) or 'none'}",
            )
            continue
        databases = policy.clusters[target].databases
        database = check.database or (databases[0] if databases else "")
        if database not in databases:
            problems.add(
                f"{key}.database",
                f"{database or '(none)'!r} is not one of cluster {target!r}'s databases.",
                f"use one of: {', '.join(databases) or 'none (list databases on the cluster)'}",
            )
        checks.append(dataclasses.replace(check, cluster=target, database=database))
    drill = dataclasses.replace(drill, cluster=cluster, checks=tuple(checks))
    return dataclasses.replace(policy, drill=drill)


def _fill_retention(policy: Policy, problems: Problems) -> Policy:
    """Give every primary cluster and file set its effective rule, so prune and reports need no merging logic."""
    r = policy.retention
    for name in r.clusters:
        c = policy.clusters.get(name)
        if c is None or c.is_standby:
            problems.add(
                f"retention.clusters.{name}",
                "does not name a defined primary cluster.",
                f"use one of: {', '.join(p.name for p in policy.primaries()) or 'none'}",
            )
    for name in r.filesets:
        if name not in policy.filesets:
            problems.add(
                f"retention.filesets.{name}",
                "does not name a defined file set.",
                f"use one of: {_names(policy.filesets)}",
            )
    default = ClusterRetention(r.recovery_window_days, r.base_backups, r.dumps)
    clusters = {c.name: r.clusters.get(c.name, default) for c in policy.primaries()}
    filesets = {name: r.filesets.get(name, r.snapshots) for name in policy.filesets}
    retention = dataclasses.replace(r, clusters=MappingProxyType(clusters), filesets=MappingProxyType(filesets))
    return dataclasses.replace(policy, retention=retention)


def _check_offsite(policy: Policy, problems: Problems) -> None:
    if policy.offsite is None:
        if policy.schedule.copy_offsite:
            problems.add(
                "schedule.copy_offsite",
                "is set but there is no [offsite] section.",
                "add an [offsite] section or remove the schedule",
            )
        return
    repo, off = policy.repository.path.rstrip("/"), policy.offsite.url.rstrip("/")
    if repo == off or repo.startswith(off + "/") or off.startswith(repo + "/"):
        problems.add(
            "offsite.url",
            f"{policy.offsite.url!r} overlaps the repository path {policy.repository.path!r}.",
            "point the off-site copy at a different bucket or prefix",
        )


def check_secret_files(policy: Policy, problems: Problems) -> list[PolicyWarning]:
    """Files holding secrets must be private (mode 0600 or stricter); missing ones are a warning, not an error."""
    warnings: list[PolicyWarning] = []
    candidates: list[tuple[str, Path | None]] = [
        ("repository.passphrase_file", policy.repository.passphrase_file),
        ("repository.key_file", policy.repository.key_file),
        ("repository.credentials_file", policy.repository.credentials_file),
    ]
    if policy.offsite is not None:
        candidates.append(("offsite.credentials_file", policy.offsite.credentials_file))
    candidates += [(f"hosts.{h.name}.key_file", h.key_file) for h in policy.hosts.values()]
    reported: set[Path] = set()
    for key, path in candidates:
        if path is None:
            continue
        try:
            st = path.stat()
        except FileNotFoundError:
            if path not in reported:
                message = f"{key}: {path} does not exist yet; create it (mode 0600) before the first run."
                warnings.append(PolicyWarning("file-missing", key, message))
                reported.add(path)
            continue
        except OSError as e:
            problems.add(key, f"{path} cannot be inspected: {e.strerror}.", "check the path and its directories")
            continue
        if not stat.S_ISREG(st.st_mode):
            problems.add(key, f"{path} is not a regular file.", "point it at the file itself")
        elif st.st_mode & 0o077:
            problems.add(
                key,
                f"{path} is readable by group or others (mode {stat.S_IMODE(st.st_mode):04o}).",
                f"run `chmod 600 {path}`",
            )
    for host in policy.hosts.values():
        if host.known_hosts not in reported and not host.known_hosts.exists():
            key = f"hosts.{host.name}.known_hosts"
            message = (
                f"{key}: {host.known_hosts} does not exist yet; every SSH connection will be refused until it "
                f"lists the host keys (ssh-keyscan)."
            )
            warnings.append(PolicyWarning("file-missing", key, message))
            reported.add(host.known_hosts)
    return warnings


def soft_warnings(policy: Policy) -> list[PolicyWarning]:
    """Things that are allowed but probably not what the operator wants."""
    warnings = []
    for c in policy.primaries():
        key = f"clusters.{c.name}"
        if c.wal_archive_dir is None:
            message = f"{key}: no wal_archive_dir, so no WAL pull and no point-in-time restore."
            warnings.append(PolicyWarning("no-wal-archive", key, message))
        if not c.databases:
            warnings.append(PolicyWarning("no-databases", key, f"{key}: no databases listed, so no logical dumps."))
    if policy.clusters and policy.offsite is None:
        message = "no [offsite] section: losing the backup VM would lose every backup."
        warnings.append(PolicyWarning("no-offsite", "offsite", message))
    if policy.primaries() and not policy.drill.checks:
        message = "drill: no [[drill.checks]], so drills prove replay but no data invariants."
        warnings.append(PolicyWarning("no-drill-checks", "drill.checks", message))
    repo = policy.repository
    if policy.schedule.jobs() and repo.passphrase_file is None and repo.key_file is None:
        message = (
            "repository: scheduled jobs run unattended; set passphrase_file or key_file, or export "
            "QFBACKUP_PASSPHRASE in the timer's environment."
        )
        warnings.append(PolicyWarning("no-unattended-unlock", "repository", message))
    return warnings


def not_implemented_warnings(configured: set[str]) -> list[PolicyWarning]:
    """One warning per ``NOT_IMPLEMENTED`` key the policy sets (``configured``: every dotted key path in the
    file), so an operator is never led to believe that a setting is acted on when no command reads it."""
    warnings = []
    for entry in NOT_IMPLEMENTED:
        for pattern in entry.keys:
            for key in sorted(k for k in configured if _matches(pattern, k)):
                warnings.append(PolicyWarning("not-implemented", key, f"{key}: set, but {entry.why}."))
    return warnings


def _matches(pattern: str, key: str) -> bool:
    """``clusters.*.extensions`` matches ``clusters.main.extensions``; a pattern names a key itself, not its parts."""
    want, have = pattern.split("."), key.split(".")
    return len(want) == len(have) and all(w in ("*", h) for w, h in zip(want, have, strict=True))


def _names(table: Mapping[str, Any]) -> str:
    return ", ".join(sorted(table)) or "none defined yet"
