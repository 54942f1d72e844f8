"""Drill history: one row per drill in a SQLite file in the cache directory, for trends of RTO, RPO and failures.

A row keeps the drill's figures in typed columns and its whole result as JSON. Reading takes the figures from the
columns, so rows written by an earlier version read the same; of the JSON only the failures (a list of sentences
in every version) are read back.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class DrillRecord:
    """One past drill as the history lists it. ``started_at`` is ISO 8601 with offset; RTO and RPO are None when
    the drill did not measure them (it failed before restoring)."""

    id: str
    kind: str
    cluster: str
    started_at: str
    passed: bool
    rto_seconds: float | None
    rpo_seconds: float | None
    failures: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Trend:
    """Pass rate over the listed drills, the newest RTO, and the mean RTO of the newer half of the drills that
    measured one against the older half (None with fewer than two), so a slowly growing RTO is noticed."""

    drills: int
    passed: int
    last_rto_seconds: float | None
    recent_mean_rto_seconds: float | None
    older_mean_rto_seconds: float | None


def _connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    db = sqlite3.connect(path)
    db.execute(SCHEMA)
    return db


def record(path: Path, repo_id: str, result: dict) -> None:
    """Store one drill's result (``DrillResult.to_dict()``)."""
    with _connect(path) as db:
        db.execute(
            "insert or replace into drills values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (result["id"], repo_id, result["kind"], result["cluster"], result["started_at"], int(result["passed"]),
             json.dumps(result["target"]), result["rto_seconds"], result["rpo_seconds"], json.dumps(result)),
        )  # fmt: skip


def history(path: Path, repo_id: str, *, cluster: str | None = None, limit: int = 50) -> list[DrillRecord]:
    """This repository's drills (of ``cluster``, when given), newest first."""
    if not path.exists():
        return []
    with _connect(path) as db:
        rows = db.execute(
            "select id, kind, cluster, started_at, passed, rto_seconds, rpo_seconds, result from drills"
            " where repo_id = ? and (? is null or cluster = ?)"
            " order by started_at desc, rowid desc limit ?",  # same-second drills: the later insert first
            (repo_id, cluster, cluster, limit),
        ).fetchall()
    return [
        DrillRecord(i, kind, c, started, bool(passed), rto, rpo, list(json.loads(result).get("failures", [])))
        for i, kind, c, started, passed, rto, rpo, result in rows
    ]


def trend(records: Sequence[DrillRecord]) -> Trend:
    """The trend of ``records`` (newest first). Drills that measured no RTO count in the pass rate only."""
    rtos = [r.rto_seconds for r in records if r.rto_seconds is not None]
    half = len(rtos) // 2
    return Trend(
        drills=len(records),
        passed=sum(1 for r in records if r.passed),
        last_rto_seconds=rtos[0] if rtos else None,
        recent_mean_rto_seconds=round(sum(rtos[:half]) / half, 1) if half else None,
        older_mean_rto_seconds=round(sum(rtos[half:]) / (len(rtos) - half), 1) if half else None,
    )
