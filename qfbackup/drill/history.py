"""Drill history: one row per drill in a SQLite file in the cache directory, for trends of RTO, RPO and failures."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

SCHEMA = """
create table if not exists drills (
    id text primary key,
    repo_id text not null,
    kind text not null,
    cluster text not null,
    started_at text not null,
    passed integer not null,
    target text not null,
    rto_seconds real,
    rpo_seconds real,
    result text not null
)
"""


def _connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    db = sqlite3.connect(path)
    db.execute(SCHEMA)
    return db


def record(path: Path, repo_id: str, result: dict) -> None:
    with _connect(path) as db:
        db.execute(
            "insert or replace into drills values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (result["id"], repo_id, result["kind"], result["cluster"], result["started_at"], int(result["passed"]),
             json.dumps(result["target"]), result["rto_seconds"], result["rpo"].get("newest_wal_to_now_s"),
             json.dumps(result, default=str)),
        )  # fmt: skip


def history(path: Path, repo_id: str, *, cluster: str | None = None, limit: int = 50) -> list[dict]:
    if not path.exists():
        return []
    with _connect(path) as db:
        rows = db.execute(
            "select result from drills where repo_id = ? and (? is null or cluster = ?)"
            " order by started_at desc, rowid desc limit ?",  # same-second drills: the later insert first
            (repo_id, cluster, cluster, limit),
        ).fetchall()
    return [json.loads(r[0]) for r in rows]


def trend(rows: list[dict]) -> dict:
    """Pass rate and RTO of the recent drills against the ones before, so a slowly growing RTO is noticed."""
    if not rows:
        return {}
    rtos = [r["rto_seconds"] for r in rows if r.get("rto_seconds") is not None]
    half = len(rtos) // 2
    out = {
        "drills": len(rows),
        "passed": sum(1 for r in rows if r["passed"]),
        "last_rto_seconds": rtos[0] if rtos else None,
    }
    if half:
        out["rto_recent_mean_s"] = round(sum(rtos[:half]) / half, 1)
        out["rto_older_mean_s"] = round(sum(rtos[half:]) / (len(rtos) - half), 1)
    return out
