"""Planning a point-in-time restore: which base backup, which WAL, and whether the target is reachable at all.

The plan is computed from the repository alone (no database, no host), so ``restore --dry-run`` can answer
"can we get to 03:14?" during an outage before anything is touched. A target beyond a WAL gap is refused with
the latest point that *is* reachable, because replaying up to a gap and calling it done would silently lose
the transactions after it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from qfbackup.errors import NotFound, QfError, UsageError
from qfbackup.ops.wal_catalog import WalCatalog
from qfbackup.pg import wal
from qfbackup.pg.recovery import Target, parse_time
from qfbackup.repo.catalog import Snapshot, StreamRef

BASEBACKUP_KIND = "basebackup"
MARGIN_SEGMENTS = 8
# Rough rates for the time estimate (measured on the 2-core CI machine; see scripts/bench restore).
WRITE_MB_S = 250.0
REPLAY_MB_S = 120.0


class TargetUnreachable(QfError):
    """{}"""

    exit_code = 1


@dataclass
class RestorePlan:
    cluster: str
    target: Target
    timeline: int
    backup: Snapshot
    wal_files: list[str]
    wal_bytes: int
    base_bytes: int
    reachable_until: str
    notes: list[str] = field(default_factory=list)
    gap: str | None = None  # the missing segment that cuts the WAL short, if any
    wal_refs: dict[str, StreamRef] = field(default_factory=dict, repr=False)  # where each file's bytes are

    @property
    def estimated_seconds(self) -> float:
        return self.base_bytes / (WRITE_MB_S * 1e6) + self.wal_bytes / (REPLAY_MB_S * 1e6)

    def to_dict(self) -> dict:
        m = self.backup.meta
        return {
            "cluster": self.cluster,
            "target": {"kind": self.target.kind, "value": self.target.value, "inclusive": self.target.inclusive},
            "timeline": self.timeline,
            "backup": {
                "id": self.backup.id,
                "stopped_at": m.get("stopped_at"),
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
            "reachable_until": self.reachable_until,
            "gap": self.gap,
            "estimated_seconds": round(self.estimated_seconds, 1),
            "notes": self.notes,
        }

    def describe(self) -> str:
        d = self.to_dict()
        b, w = d["backup"], d["wal"]
        lines = [
            f"restore plan for cluster {self.cluster}, target {self.target.describe()}, timeline {self.timeline}",
            f"  base backup   {b['id'][:12]}  stopped {b['stopped_at']}  LSN {b['start_lsn']}..{b['stop_lsn']}  "
            f"{b['bytes']:,} bytes",
            f"  WAL           {w['files']} file(s), {w['bytes']:,} bytes  {w['first'] or ''}..{w['last'] or ''}",
            f"  reachable     up to {self.reachable_until}",
            f"  estimate      ~{self.estimated_seconds:.0f} s to write and replay",
        ]
        return "\n".join(lines + [f"  note          {n}" for n in self.notes])


def base_backups(snapshots: list[Snapshot], cluster: str) -> list[Snapshot]:
    backups = [s for s in snapshots if s.kind == BASEBACKUP_KIND and s.source == cluster]
    return sorted(backups, key=lambda s: wal.parse_lsn(s.meta["stop_lsn"]))


def newest_backup_start_segno(snapshots: list[Snapshot], cluster: str) -> int | None:
    backups = base_backups(snapshots, cluster)
    return wal.segment_of_lsn(wal.parse_lsn(backups[-1].meta["start_lsn"])) if backups else None


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def _stopped(b: Snapshot) -> datetime:
    return parse_time(b.meta["stopped_at"])


def _ancestry(repo, cat: WalCatalog, timeline: int) -> list[wal.TimelineSpan]:
    if timeline == 1:
        return wal.timeline_ancestry(1, [])
    name = wal.history_file_name(timeline)
    if name not in cat.files:
        raise TargetUnreachable(f"timeline {timeline} has no history file {name} in the repository")
    text = b"".join(repo.read_stream(cat.files[name].ref)).decode()
    return wal.timeline_ancestry(timeline, wal.parse_history(text, name))


def _choose_backup(backups: list[Snapshot], target: Target, backup_id: str | None) -> Snapshot:
    if backup_id:
        chosen = [b for b in backups if b.id.startswith(backup_id)]
        if len(chosen) != 1:
            raise UsageError(f"--backup {backup_id} names {len(chosen)} base backups of this cluster")
        return chosen[0]
    if target.kind == "time":
        before = [b for b in backups if _stopped(b) < target.time]
        if not before:
            raise TargetUnreachable(
                f"target {target.value} is before the oldest base backup (stopped {backups[0].meta['stopped_at']})"
            )
        return max(before, key=_stopped)
    if target.kind == "lsn":
        before = [b for b in backups if wal.parse_lsn(b.meta["stop_lsn"]) <= target.lsn]
        if not before:
            raise TargetUnreachable(
                f"target LSN {target.value} is before the oldest base backup (stop LSN {backups[0].meta['stop_lsn']})"
            )
        return before[-1]
    if target.kind == "latest":
        return backups[-1]
    # xid / name: their position in WAL is unknown until replay, so start from the oldest backup: slower,
    # but it reaches the target whenever the WAL does. --backup picks a newer one when the operator knows.
    return backups[0]


def plan_restore(
    repo,
    cluster: str,
    target: Target,
    *,
    timeline: int | None = None,
    backup_id: str | None = None,
    snapshots: list[Snapshot] | None = None,
) -> RestorePlan:
    snapshots = repo.snapshots() if snapshots is None else snapshots
    backups = base_backups(snapshots, cluster)
    if not backups:
        raise NotFound(
            f"no base backup of cluster {cluster} in the repository",
            hint=f"take one: qfbackup backup base --cluster {cluster}",
        )
    cat = WalCatalog.from_snapshots(cluster, [s for s in snapshots if s.kind in ("wal", "wal-quarantine")])
    tli = timeline or max([1, *cat.timelines(), *(b.meta["start_timeline"] for b in backups)])
    ancestry = _ancestry(repo, cat, tli)
    on_path = {span.timeline for span in ancestry}
    backups = [b for b in backups if b.meta["start_timeline"] in on_path]
    if not backups:
        raise TargetUnreachable(f"no base backup lies on timeline {tli}'s history")
    backup = _choose_backup(backups, target, backup_id)

    first = wal.segment_of_lsn(wal.parse_lsn(backup.meta["start_lsn"]))
    last_in_backup = wal.segment_of_end_lsn(wal.parse_lsn(backup.meta["stop_lsn"]))
    files: list[str] = []
    segno = first
    last_ok: str | None = None
    missing: str | None = None
    while True:
        name = wal.segment_file_for(ancestry, segno)
        stored = cat.files.get(name)
        if stored is None:
            if segno > last_in_backup:  # inside the backup's own range the tar carries the WAL
                missing = name
                break
        else:
            files.append(name)
            last_ok = name
            if target.kind == "time" and datetime.fromtimestamp(stored.mtime, UTC) >= target.time:
                break  # archived after the target: it holds the first commit past it
            if target.kind == "lsn" and segno >= wal.segment_of_lsn(target.lsn):
                break
        segno += 1

    newest_segno = max((wal.parse_segment_name(n)[1] for n in cat.segments()), default=-1)
    gap = missing if missing and newest_segno > segno else None  # else it is just where the WAL ends
    reach_lsn = wal.format_lsn(wal.segment_start_lsn(segno)) if missing else None
    newest = cat.files[last_ok] if last_ok else None
    reachable = (
        f"LSN {reach_lsn} (WAL up to {last_ok}, archived {_when(newest.mtime)})" if missing and newest
        else f"the end of {last_ok} (archived {_when(newest.mtime)})" if newest
        else f"the end of the base backup (LSN {backup.meta['stop_lsn']})"
    )  # fmt: skip
    _check_reachable(target, gap, missing, reachable, cat, files)

    if not missing and target.kind != "latest":
        # A margin past the target: replay must see the first record *after* it (e.g. the next commit after a
        # time target), which a quiet period or an archive_timeout switch can push into the next segments.
        for extra in range(segno + 1, segno + 1 + MARGIN_SEGMENTS):
            name = wal.segment_file_for(ancestry, extra)
            if name not in cat.files:
                break
            files.append(name)
    history = [wal.history_file_name(t) for t in sorted(on_path) if t > 1]
    plan = RestorePlan(
        cluster=cluster, target=target, timeline=tli, backup=backup,
        wal_files=history + files, wal_bytes=sum(cat.files[n].size for n in history + files),
        base_bytes=backup.streams["base.tar"].size, reachable_until=reachable,
        wal_refs={n: cat.files[n].ref for n in history + files},
    )  # fmt: skip
    plan.gap = gap
    if gap:
        plan.notes.append(f"WAL stops at a gap: {gap} is missing, later WAL cannot be replayed")
    if target.kind in ("xid", "name"):
        plan.notes.append(
            f"the position of {target.kind} {target.value} is only known during replay; "
            "if it is not in the stored WAL, PostgreSQL stops with an error, not silently"
        )
    return plan


def _check_reachable(
    target: Target, gap: str | None, missing: str | None, reachable: str, cat: WalCatalog, files: list[str]
) -> None:
    if target.kind == "time":
        last = cat.files.get(files[-1]) if files else None
        if last is None or datetime.fromtimestamp(last.mtime, UTC) < target.time:
            why = f"WAL gap at {gap}" if gap else "no WAL archived after it is stored yet"
            raise TargetUnreachable(
                f"target {target.value} is not reachable ({why}); the latest reachable point is {reachable}",
                hint="choose an earlier --pitr time, or --latest; `qfbackup wal pull` may fetch newer WAL",
            )
    elif (
        target.kind == "lsn"
        and missing
        and wal.parse_lsn(target.value) >= wal.segment_start_lsn(wal.parse_segment_name(missing)[1])
    ):
        where = f"a WAL gap at {gap}" if gap else "the newest stored WAL"
        raise TargetUnreachable(
            f"target LSN {target.value} is beyond {where}; the latest reachable point is {reachable}",
            hint="choose an earlier target, or find the missing segment",
        )
