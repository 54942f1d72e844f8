"""Per-cluster inventory (``list``): base backups, dumps, WAL, and the window a restore can reach on each timeline;
and one snapshot's record as ``show`` reports it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from qfbackup.catalog import kinds
from qfbackup.catalog.window import Coverage
from qfbackup.repo.catalog import Snapshot


@dataclass
class Inventory:
    """What ``list`` reports of one cluster; JSON-ready through ``output.document`` (docs/json.md)."""

    cluster: str
    base_backups: list[dict] = field(default_factory=list)
    dumps: list[dict] = field(default_factory=list)
    wal: dict = field(default_factory=dict)
    windows: list[dict] = field(default_factory=list)  # per timeline: from, to (or why none)
    restore_points: list[dict] = field(default_factory=list)  # name, lsn, time, timeline, segment


def cluster_inventory(repo, snapshots, cluster: str) -> Inventory:
    inv = Inventory(cluster)
    cov = Coverage(repo, cluster, snapshots)
    inv.base_backups = [
        {
            "id": b.id,
            "stopped_at": b.snapshot.meta.get("stopped_at"),
            "consistent_at": b.end_time,
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
        if s.kind == kinds.DUMP and s.source == cluster
    ]
    segs = cov.wal.segments()
    views = cov.views()
    gaps = {g.first_name: g for v in views for g in v.open_gaps}
    inv.wal = {
        "files": len(cov.wal.files),
        "first": segs[0] if segs else None,
        "last": segs[-1] if segs else None,
        "gaps": [gaps[n].to_dict() for n in sorted(gaps)],
        "quarantined": sorted(cov.wal.quarantined),
        "timelines": cov.wal.timelines(),
    }
    inv.windows = [v.to_dict() for v in views]
    inv.restore_points = [r.to_dict() for r in cov.wal.restore_points()]
    return inv


def _iso(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def snapshot_record(snap: Snapshot) -> dict[str, Any]:
    """Everything a snapshot records, as ``show`` reports it: its fields under their names with ``id``, each
    stream's size and chunk count, and the metadata as stored except that the Unix times WAL batches record
    (a file's ``mtime``, a restore point's ``time``; docs/format.md) become times with a zone."""
    meta = dict(snap.meta)
    if snap.kind in (kinds.WAL, kinds.WAL_QUARANTINE) and isinstance(meta.get("files"), dict):
        files = {}
        for name, info in meta["files"].items():
            info = dict(info)
            if isinstance(info.get("mtime"), int | float):
                info["mtime"] = _iso(info["mtime"])
            if info.get("restore_points"):
                info["restore_points"] = [
                    {**rp, "time": _iso(rp["time"])} if isinstance(rp.get("time"), int | float) else rp
                    for rp in info["restore_points"]
                ]
            files[name] = info
        meta["files"] = files
    return {
        "id": snap.id,
        "kind": snap.kind,
        "source": snap.source,
        "time": snap.time,
        "host": snap.host,
        "tags": list(snap.tags),
        "tree": snap.tree,
        "streams": {k: {"size": v.size, "chunks": v.chunks} for k, v in snap.streams.items()},
        "stats": dict(snap.stats),
        "meta": meta,
    }
