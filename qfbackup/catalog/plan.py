"""Planning a point-in-time restore: which base backup, which WAL, and whether the target is reachable at all.

The plan is computed from the repository alone (no database, no host), so ``restore --dry-run`` can answer
"can we get to 03:14?" during an outage before anything is touched. A target beyond a WAL gap is refused with
the latest point that *is* reachable, because replaying up to a gap and calling it done would silently lose
the transactions after it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from qfbackup.catalog.backups import BaseBackup
from qfbackup.catalog.restore_points import ResolvedName, resolve
from qfbackup.catalog.wal import StoredWal
from qfbackup.catalog.window import Coverage, Reach, when
from qfbackup.errors import (
    HistoryMissing,
    IntegrityError,
    NotFound,
    RestoreDegraded,
    TargetUnreachable,
    UsageError,
)
from qfbackup.pg import wal
from qfbackup.pg.recovery import Target
from qfbackup.repo.catalog import Snapshot, StreamRef

MARGIN_SEGMENTS = 8
# Rough rates for the time estimate (measured on the 2-core CI machine; see scripts/bench restore).
WRITE_MB_S = 250.0
REPLAY_MB_S = 120.0


@dataclass
class RestorePlan:
    cluster: str
    target: Target
    timeline: int
    backup: Snapshot
    wal_files: list[str]
    wal_bytes: int
    base_bytes: int
    reach: Reach  # how far replay gets from the backup along the timeline's path
    consistent_at: str  # the backup's consistency point: no target before it can be reached from it
    notes: list[str] = field(default_factory=list)
    gap: str | None = None  # the missing segment that cuts the WAL short, if any
    wal_refs: dict[str, StreamRef] = field(default_factory=dict, repr=False)  # where each file's bytes are
    restore_point: dict | None = None  # a name target: the record it means (name, lsn, time, timeline)
    unreadable: dict[str, str] = field(default_factory=dict)  # snapshots the catalogue could not read: id -> why
    would_reach: StoredWal | None = None  # past a gap: the newest stored WAL on the path, which replay cannot reach
    newer_wal: StoredWal | None = None  # newer WAL on a timeline this (default, highest) timeline does not read

    @property
    def reachable_until(self) -> str:
        return self.reach.describe()

    @property
    def newer_elsewhere(self) -> str | None:
        """Why the default timeline misses the newer WAL, in words (None when nothing newer is elsewhere)."""
        if self.newer_wal is None:
            return None
        other = wal.classify(self.newer_wal.name).timeline
        return (
            f"{self.newer_wal.name} (archived {when(self.newer_wal.mtime)}) is newer WAL on timeline {other}, which "
            f"timeline {self.timeline}'s path does not read: --timeline {other} restores along that one"
        )

    @property
    def degraded(self) -> bool:
        """The plan may stop short of what the repository holds: a gap, catalogue objects it cannot read, or newer
        WAL on another timeline than the one chosen by default."""
        return bool(self.gap or self.unreadable or self.newer_wal)

    def shortfall(self) -> str:
        """What the plan cannot reach of what the repository holds, in words (empty when nothing)."""
        lost = []
        if self.gap and self.would_reach:
            lost.append(f"WAL is missing at {self.gap}, so replay stops at {self.reachable_until}; the repository "
                        f"holds WAL up to the end of {self.would_reach.name} (archived "
                        f"{when(self.would_reach.mtime)})")  # fmt: skip
        if self.newer_elsewhere:
            lost.append(self.newer_elsewhere)
        if self.unreadable:
            lost.append(f"{len(self.unreadable)} snapshot(s) cannot be read ({', '.join(sorted(self.unreadable))}): "
                        "a newer base backup or WAL may be among them, so the point that would have been reached is "
                        "unknown")  # fmt: skip
        return "; ".join(lost)

    def check_complete(self, *, accept: bool) -> None:
        """A --latest restore promises the newest point: refuse one that cannot reach it unless ``accept``. Other
        targets are exact when reachable (only their start may be older than it could be)."""
        if self.target.kind == "latest" and self.degraded and not accept:
            raise RestoreDegraded(
                f"restore --latest would reach only {self.reachable_until}, not the newest point: {self.shortfall()}",
                hint="restore from the other copy (--repo s3://... or the local one), or accept the earlier point "
                "with --accept-earlier",
            )

    @property
    def estimated_seconds(self) -> float:
        return self.base_bytes / (WRITE_MB_S * 1e6) + self.wal_bytes / (REPLAY_MB_S * 1e6)

    def to_dict(self) -> dict:
        """The plan as data (``restore`` puts it under ``plan``; docs/json.md)."""
        m = self.backup.meta

        def stored(f: StoredWal) -> dict:
            return {"segment": f.name, "archived_at": datetime.fromtimestamp(f.mtime, UTC)}

        return {
            "cluster": self.cluster,
            "target": {
                "kind": self.target.kind,
                "value": self.target.value or None,
                "inclusive": self.target.inclusive,
            },
            "timeline": self.timeline,
            "backup": {
                "id": self.backup.id,
                "stopped_at": m.get("stopped_at"),
                "consistent_at": self.consistent_at,
                "start_lsn": m.get("start_lsn"),
                "stop_lsn": m.get("stop_lsn"),
                "bytes": self.base_bytes,
            },
            "wal": {
                "files": len(self.wal_files),
                "bytes": self.wal_bytes,
                "first": self.wal_files[0] if self.wal_files else None,
                "last": self.wal_files[-1] if self.wal_files else None,
            },
            "reachable": self.reach.to_dict(),
            "gap": self.gap,
            "would_reach": stored(self.would_reach) if self.would_reach else None,
            "newer_elsewhere": {
                **stored(self.newer_wal),
                "timeline": wal.classify(self.newer_wal.name).timeline,
                "message": self.newer_elsewhere,
            }
            if self.newer_wal
            else None,
            "restore_point": self.restore_point,
            "unreadable_snapshots": [{"id": i, "message": why} for i, why in sorted(self.unreadable.items())],
            "estimated_seconds": round(self.estimated_seconds, 1),
            "notes": [{"message": n} for n in self.notes],
        }


def _choose_backup(
    backups: list[BaseBackup], target: Target, backup_id: str | None, named: ResolvedName | None
) -> BaseBackup:
    if backup_id:
        chosen = [b for b in backups if b.id.startswith(backup_id)]
        if len(chosen) != 1:
            raise UsageError(f"--backup {backup_id} names {len(chosen)} base backups on this timeline's history")
        return chosen[0]
    if target.kind == "time":
        # strictly before: a target at or before a backup's consistency point cannot be reached from it
        before = [b for b in backups if b.end_time < target.time]
        if not before:
            raise TargetUnreachable(
                f"target {target.value} is before the oldest base backup's consistent point "
                f"({backups[0].end_time.isoformat()})"
            )
        return max(before, key=lambda b: b.end_time)
    if target.kind == "lsn":
        before = [b for b in backups if b.stop_lsn <= target.lsn]
        if not before:
            raise TargetUnreachable(
                f"target LSN {target.value} is before the oldest base backup "
                f"(stop LSN {wal.format_lsn(backups[0].stop_lsn)})"
            )
        return before[-1]
    if named is not None:
        return _backup_for_name(backups, named)
    if target.kind == "latest":
        return backups[-1]
    # xid (or a name in WAL stored before restore points were indexed): its position in WAL is unknown until
    # replay, so start from the oldest backup: slower, but it reaches the target whenever the WAL does. --backup
    # picks a newer one when the operator knows.
    return backups[0]


def _backup_for_name(backups: list[BaseBackup], named: ResolvedName) -> BaseBackup:
    """The newest backup consistent before the restore point from which replay meets no earlier restore point of
    the same name (PostgreSQL stops at the first one it replays)."""
    lsn = named.point.lsn
    # WAL stored before restore points were indexed may hold an earlier point of this name: treat it as one.
    blind = [wal.segment_start_lsn(s) for s in named.unindexed_segnos]
    fits = [
        b for b in backups
        if b.stop_lsn <= lsn and not any(b.start_lsn <= o < lsn for o in [*(p.lsn for p in named.others), *blind])
    ]  # fmt: skip
    if fits:
        return fits[-1]
    if not any(b.stop_lsn <= lsn for b in backups):
        raise TargetUnreachable(
            f"restore point {named.point.name!r} (LSN {wal.format_lsn(lsn)}) is before the oldest base backup "
            f"(stop LSN {wal.format_lsn(backups[0].stop_lsn)})"
        )
    raise TargetUnreachable(
        f"restore point {named.point.name!r} (LSN {wal.format_lsn(lsn)}): every base backup before it is followed by"
        " an earlier restore point of the same name, or by WAL stored before restore points were indexed that may "
        "hold one; replay would stop there first",
        hint=f"restore to it by position: --target-lsn {wal.format_lsn(lsn)}",
    )


def plan_restore(
    repo,
    cluster: str,
    target: Target,
    *,
    timeline: int | None = None,
    backup_id: str | None = None,
    snapshots: list[Snapshot] | None = None,
    coverage: Coverage | None = None,
) -> RestorePlan:
    """``coverage``: one the caller already built over the same ``snapshots`` (the drill), not built again."""
    snapshots = repo.snapshots() if snapshots is None else snapshots
    cov = coverage if coverage is not None else Coverage(repo, cluster, snapshots)
    if not cov.backups:
        raise NotFound(
            f"no base backup of cluster {cluster} in the repository",
            hint=f"take one: qfbackup backup base --cluster {cluster}",
        )
    named = resolve(cov, target.value, timeline) if target.kind == "name" else None
    tli = named.timeline if named else timeline or cov.latest_timeline()
    try:
        ancestry = cov.ancestry(tli)
    except HistoryMissing as e:
        raise TargetUnreachable(e.message, hint=e.hint) from None
    view = cov.view(tli)
    if not view.backups:
        raise TargetUnreachable(
            f"no base backup lies on timeline {tli}'s history (every stored backup is on another timeline, or was "
            "taken after this timeline forked off)",
            hint=f"take a base backup on timeline {tli}, or restore along another --timeline",
        )
    unreadable = dict(getattr(repo, "unreadable_snapshots", {}))
    if backup_id and (damaged := [i for i in unreadable if i.startswith(backup_id)]):
        raise IntegrityError(f"snapshot {damaged[0]} (--backup {backup_id}) cannot be read: {unreadable[damaged[0]]}")
    backup = _choose_backup(view.backups, target, backup_id, named)
    reach = cov.reach(backup, tli)
    stop_lsn = target.lsn if target.kind == "lsn" else named.point.lsn if named else None

    files: list[str] = []
    hit = False  # the target lies in the WAL gathered so far
    for segno in range(backup.first_segno, reach.last_segno + 1):
        name = wal.segment_file_for(ancestry, segno)
        stored = cov.wal.files.get(name)
        if stored is None:
            continue  # inside the backup's own range, whose WAL the tar carries
        files.append(name)
        if target.kind == "time" and datetime.fromtimestamp(stored.mtime, UTC) >= target.time:
            hit = True  # archived after the target: it holds the first commit past it
            break
        if stop_lsn is not None and segno >= wal.segment_of_lsn(stop_lsn):
            hit = True
            break
    _check_reachable(target, reach, hit, stop_lsn)
    last = wal.parse_segment_name(files[-1])[1] if files else backup.last_segno
    if hit:
        # A margin past the target: replay must see the first record *after* it (e.g. the next commit after a
        # time target), which a quiet period or an archive_timeout switch can push into the next segments.
        for extra in range(last + 1, min(last + 1 + MARGIN_SEGMENTS, reach.last_segno + 1)):
            if (name := wal.segment_file_for(ancestry, extra)) in cov.wal.files:  # else inside the backup's tar
                files.append(name)
    # Every stored history file, not only this path's: at promotion PostgreSQL picks a new timeline ID above
    # every one it can find through restore_command, and an ID already used elsewhere could not be archived.
    history = wal.sort_wal_names(n for n, f in cov.wal.files.items() if f.kind == wal.WalKind.HISTORY)
    names = history + files
    plan = RestorePlan(
        cluster=cluster, target=target, timeline=tli, backup=backup.snapshot,
        wal_files=names, wal_bytes=sum(cov.wal.files[n].size for n in names),
        base_bytes=backup.snapshot.streams["base.tar"].size, reach=reach,
        consistent_at=backup.end_time.isoformat(),
        wal_refs={n: cov.wal.files[n].ref for n in names}, gap=reach.gap, unreadable=unreadable,
    )  # fmt: skip
    plan.newer_wal = cov.newer_elsewhere(tli, reach) if timeline is None and not named else None
    if plan.newer_wal:
        plan.notes.append(f"timeline {tli} is the highest (PostgreSQL's 'latest'), but {plan.newer_elsewhere}")
    if reach.gap:
        plan.would_reach = cov.wal.files[wal.segment_file_for(ancestry, cov.path_segnos(tli)[-1])]
    if unreadable:
        plan.notes.append(
            f"{len(unreadable)} snapshot(s) cannot be read ({', '.join(i[:12] for i in sorted(unreadable))}): "
            "they may hold a newer base backup or WAL of this cluster, so this plan may start or end earlier "
            "than the repository could; `qfbackup verify` names them, the off-site copy may hold good ones"
        )
    if reach.gap:
        plan.notes.append(f"WAL stops at a gap: {reach.gap} is missing, later WAL cannot be replayed")
    if named:
        plan.restore_point = named.point.to_dict()
        plan.notes.append(
            f"restore point {named.point.name!r} at LSN {wal.format_lsn(named.point.lsn)} on timeline "
            f"{named.point.timeline}, created {plan.restore_point['time']}"
        )
    elif target.kind == "name":
        plan.notes.append(
            f"{len(cov.wal.unindexed_segments())} segment(s) were stored before restore points were indexed: the "
            f"position of {target.value!r} is only known during replay; if it is not in the stored WAL, PostgreSQL "
            "stops with an error"
        )
    if target.kind == "xid":
        plan.notes.append(
            f"the position of xid {target.value} is only known during replay; "
            "if it is not in the stored WAL, PostgreSQL stops with an error, not silently"
        )
    return plan


def _check_reachable(target: Target, reach: Reach, hit: bool, stop_lsn: int | None) -> None:
    why = f"WAL gap at {reach.gap}" if reach.gap else None
    if target.kind == "time" and not hit:
        raise TargetUnreachable(
            f"target {target.value} is not reachable ({why or 'no WAL archived after it is stored yet'}); "
            f"the latest reachable point is {reach.describe()}",
            hint="choose an earlier --pitr time, or --latest; `qfbackup wal pull` may fetch newer WAL",
        )
    if stop_lsn is not None and stop_lsn >= reach.end_lsn:
        what = f"LSN {target.value}" if target.kind == "lsn" else f"restore point {target.value!r}"
        raise TargetUnreachable(
            f"target {what} is beyond {why or 'the newest stored WAL'}; "
            f"the latest reachable point is {reach.describe()}",
            hint="choose an earlier target, or find the missing segment",
        )
