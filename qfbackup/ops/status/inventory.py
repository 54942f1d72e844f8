"""Per-cluster inventory: base backups, dumps, WAL, and the window a restore can reach on each timeline."""

from __future__ import annotations

from dataclasses import dataclass, field

from qfbackup.catalog.window import Coverage

RESTORE_POINTS_SHOWN = 20  # the newest ones in the text listing; --json has them all


@dataclass
class Inventory:
    cluster: str
    base_backups: list[dict] = field(default_factory=list)
    dumps: list[dict] = field(default_factory=list)
    wal: dict = field(default_factory=dict)
    windows: list[dict] = field(default_factory=list)  # per timeline: from, to (or why none)
    restore_points: list[dict] = field(default_factory=list)  # name, lsn, time, timeline, segment

    def to_dict(self) -> dict:
        return self.__dict__

    def describe(self) -> str:
        lines = [f"cluster {self.cluster}"]
        lines.append(f"  base backups ({len(self.base_backups)}):")
        lines += [
            f"    {b['id'][:12]}  {b['consistent_at']}  tl {b['timeline']}  {b['start_lsn']}..{b['stop_lsn']}  "
            f"{b['bytes']:,} bytes"
            for b in self.base_backups
        ]
        lines.append(f"  dumps ({len(self.dumps)}):")
        lines += [
            f"    {d['id'][:12]}  {d['time'][:19]}  {', '.join(d['databases'])}  {d['status']}" for d in self.dumps
        ]
        w = self.wal
        lines.append(
            f"  WAL: {w['files']} file(s), {w['first'] or '-'} .. {w['last'] or '-'}, "
            f"{len(w['gaps'])} gap(s), {len(w['quarantined'])} quarantined"
        )
        lines += [f"    GAP {g}" for g in w["gaps"]]
        shown = self.restore_points[-RESTORE_POINTS_SHOWN:]
        lines.append(
            f"  restore points ({len(self.restore_points)}):"
            + (" the newest:" if len(shown) < len(self.restore_points) else "")
        )
        lines += [f"    {r['time'][:23]}  {r['lsn']:>12}  tl {r['timeline']}  {r['name']}" for r in shown]
        for win in self.windows:
            if win.get("error"):
                lines.append(f"  timeline {win['timeline']}: not restorable ({win['error']})")
                continue
            lines.append(f"  timeline {win['timeline']}: restorable from {win['from']} to {win['to']}")
            lines += [
                f"    earlier window from {w['from']} to {w['to']} (cut by a gap at {w['cut_by_gap']})"
                for w in win["windows"][:-1]
            ]
        return "\n".join(lines)


def cluster_inventory(repo, snapshots, cluster: str) -> Inventory:
    inv = Inventory(cluster)
    cov = Coverage(repo, cluster, snapshots)
    inv.base_backups = [
        {
            "id": b.id,
            "stopped_at": b.snapshot.meta.get("stopped_at"),
            "consistent_at": b.end_time.isoformat(),
            "timeline": b.start_timeline,
            "start_lsn": b.snapshot.meta.get("start_lsn"),
            "stop_lsn": b.snapshot.meta.get("stop_lsn"),
            "bytes": b.snapshot.streams["base.tar"].size,
            "from_standby": b.from_standby,
        }
        for b in cov.backups
    ]
    inv.dumps = [
        {
            "id": s.id,
            "time": s.time,
            "databases": sorted(s.meta.get("databases", {})),
            "status": "failed"
            if any(d.get("status") == "failed" for d in s.meta.get("databases", {}).values())
            else "ok",
        }
        for s in snapshots
        if s.kind == "dump" and s.source == cluster
    ]
    segs = cov.wal.segments()
    views = cov.views()
    inv.wal = {
        "files": len(cov.wal.files),
        "first": segs[0] if segs else None,
        "last": segs[-1] if segs else None,
        "gaps": sorted({str(g) for v in views for g in v.open_gaps}),
        "quarantined": sorted(cov.wal.quarantined),
        "timelines": cov.wal.timelines(),
    }
    inv.windows = [v.to_dict() for v in views]
    inv.restore_points = [r.to_dict() for r in cov.wal.restore_points()]
    return inv
