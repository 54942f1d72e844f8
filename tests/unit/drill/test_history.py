"""The drill history: what a drill records, what ``drill history`` reads back, and the RTO trend."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict
from pathlib import Path

from qfbackup.drill.history import DrillRecord, Trend, history, record, trend
from qfbackup.drill.run import DrillResult, DrillTarget


def result(i: str, started: str, *, passed: bool = True, rto: float | None = 5.0, cluster: str = "main") -> dict:
    r = DrillResult(i, "pitr", cluster, started, DrillTarget("latest", "latest"), passed=passed, rto_seconds=rto,
                    rpo_seconds=12.5, failures=[] if passed else ["replay stopped short"])  # fmt: skip
    return r.to_dict()


def test_recorded_drills_read_back_newest_first_per_repository_and_cluster(tmp_path: Path):
    db = tmp_path / "drill" / "history.sqlite"
    record(db, "repo-a", result("a1", "2026-12-01T10:00:00+00:00"))
    record(db, "repo-a", result("a2", "2026-12-02T10:00:00+00:00", passed=False, rto=None))
    record(db, "repo-a", result("a3", "2026-12-02T10:00:00+00:00", cluster="other"))  # same second, later insert
    record(db, "repo-b", result("b1", "2026-12-03T10:00:00+00:00"))
    rows = history(db, "repo-a")
    assert [r.id for r in rows] == ["a3", "a2", "a1"]
    assert rows[1] == DrillRecord(
        "a2", "pitr", "main", "2026-12-02T10:00:00+00:00", False, None, 12.5, ["replay stopped short"]
    )
    assert [r.id for r in history(db, "repo-a", cluster="main")] == ["a2", "a1"]
    assert [r.id for r in history(db, "repo-a", limit=1)] == ["a3"]
    assert history(tmp_path / "none.sqlite", "repo-a") == []


def test_rows_written_by_an_earlier_version_read_the_same(tmp_path: Path):
    """Before the figures had names of their own the result JSON held ``rpo: {newest_wal_to_now_s: ...}`` and
    ``backup``; the columns were the same, and they are what is read."""
    db = tmp_path / "history.sqlite"
    record(db, "r", result("new", "2026-12-02T10:00:00+00:00"))
    old = {"id": "old", "kind": "dump", "cluster": "main", "started_at": "2026-12-01T10:00:00+00:00",
           "target": {"spec": "dump", "kind": "dump", "value": "db @ 2026-12-01T09:00:00+00:00"}, "passed": False,
           "failures": ["pg_restore failed"], "rto_seconds": 3.5, "rpo": {"newest_wal_to_now_s": 3600.0},
           "backup": "ab" * 32}  # fmt: skip
    with sqlite3.connect(db) as c:
        c.execute(
            "insert into drills values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ("old", "r", "dump", "main", old["started_at"], 0, json.dumps(old["target"]), 3.5, 3600.0, json.dumps(old)),
        )
    assert history(db, "r")[1] == DrillRecord(
        "old", "dump", "main", "2026-12-01T10:00:00+00:00", False, 3.5, 3600.0, ["pg_restore failed"]
    )


def test_the_stored_result_is_the_whole_drill_result(tmp_path: Path):
    db = tmp_path / "history.sqlite"
    r = result("x", "2026-12-02T10:00:00+00:00")
    record(db, "r", r)
    with sqlite3.connect(db) as c:
        ((stored, target, rpo),) = c.execute("select result, target, rpo_seconds from drills").fetchall()
    assert json.loads(stored) == r and json.loads(target) == asdict(DrillTarget("latest", "latest")) and rpo == 12.5


def rec(i: int, rto: float | None, passed: bool = True) -> DrillRecord:
    return DrillRecord(f"d{i}", "pitr", "main", "2026-12-01T10:00:00+00:00", passed, rto, None)


def test_trend_compares_the_newer_half_of_measured_rtos_with_the_older():
    rows = [rec(1, 6.0), rec(2, None, passed=False), rec(3, 4.0), rec(4, 2.0), rec(5, 2.5, passed=False)]
    # measured, newest first: 6.0, 4.0 | 2.0, 2.5; the drill without an RTO counts in the pass rate only
    assert trend(rows) == Trend(5, 3, 6.0, 5.0, 2.2)


def test_trend_of_too_few_drills_has_no_means():
    assert trend([rec(1, None, passed=False), rec(2, 3.0)]) == Trend(2, 1, 3.0, None, None)
    assert trend([rec(1, None, passed=False)]) == Trend(1, 0, None, None, None)
    assert trend([]) == Trend(0, 0, None, None, None)


def test_a_drill_result_as_json_is_what_docs_json_md_says():
    """The document ``drill run --json`` prints from a result: sentences become objects with a ``message``."""
    from qfbackup.cli.drill_run_cmd import _run_document
    from qfbackup.output.contract import check

    r = DrillResult("4c29164ce321", "pitr", "main", "2026-12-02T10:00:00+00:00",
                    DrillTarget("random", "time", time="2026-12-02T09:59:00.250000+00:00"), passed=False,
                    failures=["check 'c' (db): expected a value, got NULL"], proofs=["amcheck: 3 B-tree index(es)"],
                    checks=[{"name": "c", "database": "db", "value": None, "expect": "is not null", "ok": False,
                             "why": "expected a value, got NULL"},
                            {"name": "d", "database": "db", "value": "1", "expect": "== 1", "ok": True, "why": None}],
                    phases={"fetch": 0.1, "restore": 0.2}, rto_seconds=0.3, rpo_seconds=61.0,
                    target_to_newest_wal_seconds=4.0, snapshot_id="ab" * 32, wal_files=2, engine="podman")  # fmt: skip
    doc = _run_document(r)
    assert check(doc) == []
    assert doc["failures"] == [{"message": "check 'c' (db): expected a value, got NULL"}]
    assert doc["proofs"] == [{"message": "amcheck: 3 B-tree index(es)"}]
    assert [c["failure"] for c in doc["checks"]] == [{"message": "expected a value, got NULL"}, None]
    assert doc["target"] == {"spec": "random", "kind": "time", "time": "2026-12-02T09:59:00.250000+00:00",
                             "lsn": None, "database": None}  # fmt: skip
