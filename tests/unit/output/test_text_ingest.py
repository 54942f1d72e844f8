"""The ingest commands' text, written from hand-built documents that satisfy their contracts."""

from __future__ import annotations

import re

from qfbackup.output.contract import validate
from qfbackup.output.contract.ingest import BACKUP_BASE, BACKUP_DUMP, WAL_PULL, WAL_STATUS
from qfbackup.output.document import document
from qfbackup.output.text import ingest as text

SEG1, SEG2, SEG3 = "000000010000000000000003", "000000010000000000000004", "000000010000000000000007"
ID = "0123abcd" * 8
GAP = {"first": SEG2, "last": SEG2, "segments": 1, "message": f"missing {SEG2}"}


def pulled(**over) -> dict:
    cluster = {
        "cluster": "main", "pulled": [SEG1], "bytes_in": 16 * 2**20, "bytes_stored": 1_782_579,
        "quarantined": [], "in_progress": [], "ignored": [], "removed_from_host": [], "gaps": [], "reconnects": 0,
        "duration_s": 2.25,
    }  # fmt: skip
    return document("wal pull", clusters=[{**cluster, **over}])


def test_wal_pull_figures_in_units():
    doc = pulled()
    assert validate(doc, WAL_PULL) == []
    assert text.wal_pull(doc) == "main: stored 1 WAL file, 16.0 MiB read, 1.70 MiB added to the repository, in 2.2 s"


def test_wal_pull_quarantine_and_gaps_one_line_each():
    quarantined = [
        {"name": SEG3, "check": "segment", "message": f"WAL segment {SEG3}: size is 5 bytes", "previously": False},
        {"name": "00000002.history", "check": None, "message": "not a history file", "previously": True},
    ]
    doc = pulled(quarantined=quarantined, gaps=[GAP], in_progress=[SEG1, SEG2], reconnects=1)
    assert validate(doc, WAL_PULL) == []
    lines = text.wal_pull(doc).splitlines()
    assert f"  QUARANTINED {SEG3}: WAL segment {SEG3}: size is 5 bytes" in lines
    assert "  QUARANTINED 00000002.history: not a history file (already quarantined)" in lines
    assert f"  GAP missing {SEG2}" in lines
    # a multi-line value: its further lines under its first, in the value column
    at = lines.index(f"  {'still being archived':<22} {SEG1}")
    assert lines[at + 1] == " " * 25 + SEG2
    assert "  connection lost" in "\n".join(lines) and "reconnected 1 time" in lines[at + 2]


def status_cluster(**over) -> dict:
    cluster = {
        "cluster": "main", "stored_files": 12, "newest_segment": SEG1,
        "newest_archived_at": "2026-12-03T17:29:50+00:00", "current_lsn": "0/5000060", "current_segment": SEG2,
        "server_timeline": 1, "archive_mode": "on", "lag_segments": 0, "lag_bytes": 0, "lag_seconds": 0.0,
        "archiver": {"last_archived_wal": SEG1, "last_archived_time": "2026-12-03T17:29:50+00:00",
                     "failed_count": 0, "last_failed_wal": None, "last_failed_time": None},
        "gaps": [], "superseded_gaps": [], "timelines": {"2": 3, "1": 12}, "quarantined": [], "problems": [],
    }  # fmt: skip
    return {**cluster, **over}


def test_wal_status_protected():
    doc = document("wal status", clusters=[status_cluster()])
    assert validate(doc, WAL_STATUS) == []
    out = text.wal_status(doc)
    assert out.splitlines()[0] == "cluster main: 12 WAL files stored"
    assert f"newest stored segment  {SEG1} (archived 2026-12-03 17:29:50 UTC)" in out
    assert f"last archived {SEG1} at 2026-12-03 17:29:50 UTC" in out
    assert "lag                    0 segments (0 B), 0.0 s" in out
    assert "timelines              1 (12 seg), 2 (3 seg)" in out  # numeric order, as the runbooks quote it
    assert "GAP" not in out and "PROBLEM" not in out


def test_wal_status_never_archived_and_unreachable():
    """A cluster with nothing stored and a primary that cannot be reached: no time reads as 1970."""
    problem = {"kind": "primary_unreachable", "message": "cannot query the primary: Cannot connect to db:22",
               "fix": None, "timeline": None, "file": None}  # fmt: skip
    empty = status_cluster(
        stored_files=0, newest_segment=None, newest_archived_at=None, current_lsn=None, current_segment=None,
        server_timeline=None, archive_mode=None, lag_segments=None, lag_bytes=None, lag_seconds=None, archiver=None,
        timelines={}, problems=[problem],
    )  # fmt: skip
    doc = document("wal status", clusters=[empty])
    assert validate(doc, WAL_STATUS) == []
    out = text.wal_status(doc)
    assert "newest stored segment  -\n" in out and "primary position       unknown in -" in out
    assert "archiver" not in out and "lag " not in out and "1970" not in out
    assert out.splitlines()[-1] == "  PROBLEM cannot query the primary: Cannot connect to db:22"


def test_wal_status_problems_gaps_and_archiver_failures():
    problems = [
        {"kind": "archive_command_failing", "message": "archive_command is failing on the primary",
         "fix": "make archive_command succeed", "timeline": None, "file": SEG2},
        {"kind": "gap", "message": "1 gap(s) in the stored WAL", "fix": None, "timeline": None, "file": None},
    ]  # fmt: skip
    archiver = {"last_archived_wal": None, "last_archived_time": None, "failed_count": 3,
                "last_failed_wal": SEG2, "last_failed_time": "2026-12-03T17:30:00.25+00:00"}  # fmt: skip
    hole = {"first": SEG1, "last": SEG2, "segments": 2, "message": f"missing 2 segments {SEG1}..{SEG2}"}
    doc = document("wal status", clusters=[status_cluster(problems=problems, gaps=[GAP], superseded_gaps=[hole],
                                                         archiver=archiver)])  # fmt: skip
    assert validate(doc, WAL_STATUS) == []
    lines = text.wal_status(doc).splitlines()
    assert f"  GAP missing {SEG2}" in lines
    assert f"  hole in the PITR window (a newer base backup covers it): missing 2 segments {SEG1}..{SEG2}" in lines
    at = lines.index("  PROBLEM archive_command is failing on the primary")
    assert lines[at + 1] == "          fix: make archive_command succeed"  # indented under its problem
    assert lines[-1] == "  PROBLEM 1 gap(s) in the stored WAL"
    at = next(i for i, line in enumerate(lines) if line.startswith("  archiver"))
    assert lines[at].endswith("nothing archived yet")
    assert lines[at + 1].strip() == f"3 failures, the last on {SEG2} at 2026-12-03 17:30:00.25 UTC"


def base_doc(**over) -> dict:
    doc = document(
        "backup base", id=ID, kind="basebackup", cluster="main", streams={"base.tar": 23_068_672},
        bytes_in=23_068_672, bytes_new=23_000_000, bytes_stored=3_355_443, duration_s=1.5,
        started_at="2026-12-03T17:29:50+00:00", stopped_at="2026-12-03T17:29:51+00:00", server_version="15.20",
        source_cluster="main", from_standby=False, start_lsn="0/2000028", stop_lsn="0/2000100", start_timeline=1,
        stop_timeline=1, wal_first_segment=SEG1, wal_last_segment=SEG1,
        end_time="2026-12-03T17:29:51.123456+00:00", system_identifier="7323456789012345678",
    )  # fmt: skip
    return {**doc, **over}


def test_backup_base_text():
    doc = base_doc()
    assert validate(doc, BACKUP_BASE) == []
    lines = text.backup_base(doc).splitlines()
    assert lines[0] == (
        "base backup 0123abcd0123 of main: 22.0 MiB read, 3.20 MiB added to the repository, in 1.5 s (14.7 MiB/s)"
    )
    assert lines[1:] == [
        f"  {'WAL':<22} {SEG1}..{SEG1}",
        f"  {'LSN':<22} 0/2000028..0/2000100",
        f"  {'consistent at':<22} 2026-12-03 17:29:51.123456 UTC",
    ]


def test_backup_base_from_standby_without_server_clock():
    doc = base_doc(source_cluster="sb", from_standby=True, end_time=None)
    assert validate(doc, BACKUP_BASE) == []
    out = text.backup_base(doc)
    assert out.startswith("base backup 0123abcd0123 of main (from sb): ") and "consistent at" not in out


def test_backup_dump_text_with_a_failure():
    ok = {"status": "ok", "stream": "db/signalcartel.dump", "size": 1_048_576, "duration_s": 0.4, "error": None}
    failed = {
        "status": "failed", "stream": None, "size": 0, "duration_s": 0.1,
        "error": {"message": 'pg_dump exited with status 1: pg_dump: error: database "nosuchdb" does not exist\n'
                             "pg_dump: detail: second line", "exit_status": 1, "stderr": "pg_dump: error: ..."},
    }  # fmt: skip
    globals_ = {"status": "ok", "stream": "globals.sql", "size": 2150, "duration_s": 0.1, "error": None}
    doc = document(
        "backup dump", id=ID, kind="dump", cluster="main", streams={"db/signalcartel.dump": 1_048_576,
        "globals.sql": 2150}, bytes_in=1_050_726, bytes_new=1_050_726, bytes_stored=310_000, duration_s=0.8,
        started_at="2026-12-03T17:29:50+00:00", stopped_at="2026-12-03T17:29:51+00:00",
        server_version="15.20", status="partial", databases={"signalcartel": ok, "nosuchdb": failed},
        globals=globals_, failed=["nosuchdb"],
    )  # fmt: skip
    assert validate(doc, BACKUP_DUMP) == []
    lines = text.backup_dump(doc).splitlines()
    assert re.fullmatch(r"dump 0123abcd0123 of main: 1\.00 MiB read, 303 KiB added to the repository, in 0\.8 s \(.*\)",
                        lines[0])  # fmt: skip
    assert lines[1] == f"  {'signalcartel':<22} 1.00 MiB in 0.4 s"
    assert (
        lines[2] == f'  {"nosuchdb":<22} FAILED: pg_dump exited with status 1: pg_dump: error: database "nosuchdb" '
        "does not exist"
    )
    assert lines[3] == " " * 25 + "pg_dump: detail: second line"
    assert lines[4] == f"  {'globals':<22} 2.10 KiB in 0.1 s"


def test_no_python_reprs_in_any_text():
    outs = [text.wal_pull(pulled(gaps=[GAP])), text.wal_status(document("wal status", clusters=[status_cluster()])),
            text.backup_base(base_doc())]  # fmt: skip
    for out in outs:
        assert not re.search(r"[{}\[\]]|None|True|False", out), out
