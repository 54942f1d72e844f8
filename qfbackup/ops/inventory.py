"""Per-cluster inventory: base backups, dumps, WAL, and the window a restore can reach on each timeline."""

from __future__ import annotations

from dataclasses import dataclass, field

from qfbackup.errors import QfError
from qfbackup.ops.restore_plan import base_backups, plan_restore
from qfbackup.ops.wal_catalog import QUARANTINE_KIND, WAL_KIND, WalCatalog
from qfbackup.pg.recovery import Target


@dataclass
class Inventory:
    cluster: str
    base_backups: list[dict] = field(default_factory=list)
    dumps: list[dict] = field(default_factory=list)
    wal: dict = field(default_factory=dict)
    windows: list[dict] = field(default_factory=list)  # per timeline: from, to (or why none)

    def to_dict(self) -> dict:
        return self.__dict__

    def describe(self) -> str:
        lines = [f"cluster {self.cluster}"]
        lines.append(f"  base backups ({len(self.base_backups)}):")
        lines += [
            f"    {b['id'][:12]}  {b['stopped_at']}  tl {b['timeline']}  {b['start_lsn']}..{b['stop_lsn']}  "
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
        for win in self.windows:
            if win.get("error"):
                lines.append(f"  timeline {win['timeline']}: not restorable ({win['error']})")
            else:
                lines.append(f"  timeline {win['timeline']}: restorable from {win['from']} to {win['to']}")
        return "\n".join(lines)


def cluster_inventory(repo, snapshots, cluster: str) -> Inventory:
    inv = Inventory(cluster)
    backups = base_backups(snapshots, cluster)
    inv.base_backups = [
        {
            "id": b.id,
            "stopped_at": b.meta.get("stopped_at"),
            "timeline": b.meta.get("start_timeline"),
            "start_lsn": b.meta.get("start_lsn"),
            "stop_lsn": b.meta.get("stop_lsn"),
            "bytes": b.streams["base.tar"].size,
            "from_standby": b.meta.get("from_standby", False),
        }
        for b in backups
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
    cat = WalCatalog.from_snapshots(cluster, [s for s in snapshots if s.kind in (WAL_KIND, QUARANTINE_KIND)])
    segs = cat.segments()
    inv.wal = {
        "files": len(cat.files),
        "first": segs[0] if segs else None,
        "last": segs[-1] if segs else None,
        "gaps": [str(g) for g in cat.gaps()],
        "quarantined": sorted(cat.quarantined),
        "timelines": cat.timelines(),
    }
    for tli in sorted({*cat.timelines(), *(b["timeline"] for b in inv.base_backups)}):
        try:
            inv.windows.append(_window(repo, snapshots, cluster, backups, tli))
        except (QfError, ValueError) as e:
            inv.windows.append({"timeline": tli, "error": getattr(e, "message", str(e))})
    return inv


def _window(repo, snapshots, cluster: str, backups, tli: int) -> dict:
    """The continuous restorable window: from the oldest backup whose WAL runs unbroken to the newest point."""
    plans = []
    for b in backups:
        if b.meta["start_timeline"] > tli:
            continue
        plan = plan_restore(repo, cluster, Target("latest"), timeline=tli, backup_id=b.id, snapshots=snapshots)
        plans.append((b, plan))
    unbroken = [(b, p) for b, p in plans if not p.gap]
    if not unbroken:
        raise QfError("every base backup on this timeline is cut off by a WAL gap")
    first, plan = unbroken[0]
    window = {"timeline": tli, "from": first.meta["stopped_at"], "to": plan.reachable_until}
    if len(unbroken) < len(plans):
        window["note"] = f"{len(plans) - len(unbroken)} older base backup(s) are cut off by WAL gaps"
    return window
