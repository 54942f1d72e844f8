"""The text of `restore` and `restore dump`, from hand-built documents that satisfy their contracts."""

from __future__ import annotations

from qfbackup.output.contract import validate
from qfbackup.output.contract.restore import RESTORE, RESTORE_DUMP
from qfbackup.output.document import document
from qfbackup.output.text.restore import dump_plan_text, restore_dump_text, restore_text

BACKUP, DUMP, OTHER = "a1" * 32, "d3" * 32, "e4" * 32
SEG5 = "000000010000000000000005"


def _plan(**over) -> dict:
    plan = {
        "cluster": "main",
        "target": {"kind": "time", "value": "2026-12-03T19:14:00+01:00", "inclusive": False},
        "timeline": 1,
        "backup": {"id": BACKUP, "stopped_at": "2026-12-03T17:00:00+00:00",
                   "consistent_at": "2026-12-03T17:00:01.5+00:00", "start_lsn": "0/2000028",
                   "stop_lsn": "0/2000100", "bytes": 48_166_912},
        "wal": {"files": 4, "bytes": 4 * 16 * 1024 * 1024, "first": "00000002.history", "last": SEG5},
        "reachable": {"lsn": "0/6000000", "time": "2026-12-03T18:20:00+00:00", "segment": SEG5},
        "gap": None,
        "would_reach": None,
        "newer_elsewhere": None,
        "restore_point": None,
        "unreadable_snapshots": [],
        "estimated_seconds": 75.4,
        "notes": [{"message": "the position of xid 7 is only known during replay"}],
    }  # fmt: skip
    return {**plan, **over}


def _restored(**over) -> dict:
    done = {
        "data_dir": "/srv/restore",
        "host": None,
        "spool": "/srv/restore.qfbackup-wal",
        "restore_command": "cp /srv/restore.qfbackup-wal/%f %p",
        "action": "pause",
        "archive_dir": None,
        "bytes_written": 48_166_912,
        "write_seconds": 1.25,
        "wal_files": 4,
        "fetch_seconds": 0.31,
        "next_steps": [{"message": "start it: pg_ctl -D /srv/restore start"}],
    }
    return {**done, **over}


def test_dry_run_prints_the_plan_in_units():
    doc = document("restore", dry_run=True, plan=_plan(), restored=None)
    assert validate(doc, RESTORE) == []
    assert restore_text(doc).splitlines() == [
        "restore plan for cluster main, target time 2026-12-03 18:14:00 UTC (exclusive), timeline 1",
        f"  base backup   {BACKUP[:12]}  consistent 2026-12-03 17:00:01.5 UTC  LSN 0/2000028..0/2000100  45.9 MiB",
        f"  WAL           4 files, 64.0 MiB  00000002.history..{SEG5}",
        f"  reachable     up to the end of {SEG5} (archived 2026-12-03 18:20:00 UTC)",
        "  estimate      ~1 min 15 s to write and replay",
        "  note          the position of xid 7 is only known during replay",
        "(dry run: nothing was changed)",
    ]


def test_a_plan_cut_by_a_gap_names_the_exact_position_and_what_it_misses():
    plan = _plan(
        target={"kind": "latest", "value": None, "inclusive": True},
        gap="000000010000000000000006",
        would_reach={"segment": "000000010000000000000009", "archived_at": "2026-12-03T19:00:00+00:00"},
        newer_elsewhere={"segment": "000000020000000000000009", "archived_at": "2026-12-03T19:05:00+00:00",
                         "timeline": 2, "message": "newer WAL on timeline 2"},
        unreadable_snapshots=[{"id": OTHER, "message": "snapshots/e4e4: damaged"}],
        notes=[],
    )  # fmt: skip
    doc = document("restore", dry_run=True, plan=plan, restored=None)
    assert validate(doc, RESTORE) == []
    text = restore_text(doc)
    assert "target the latest stored WAL, timeline 1" in text
    assert f"up to LSN 0/6000000, the end of {SEG5} (archived 2026-12-03 18:20:00 UTC)" in text


def test_restore_says_what_was_written_and_what_to_do_next():
    doc = document("restore", dry_run=False, plan=_plan(), restored=_restored())
    assert validate(doc, RESTORE) == []
    assert restore_text(doc).splitlines() == [
        f"restored base backup {BACKUP[:12]} into /srv/restore (1.2 s); staged 4 WAL files in "
        "/srv/restore.qfbackup-wal (0.3 s)",
        "recovery target: time 2026-12-03 18:14:00 UTC (exclusive), then pause",
        "a copy: archive_mode = off (it never archives; restore with --as-primary to make a new primary)",
        "next:",
        "  start it: pg_ctl -D /srv/restore start",
    ]
    primary = document(
        "restore",
        dry_run=False,
        plan=_plan(),
        restored=_restored(host="standby-vm", archive_dir="/arch", next_steps=[]),
    )
    assert validate(primary, RESTORE) == []
    text = restore_text(primary)
    assert "into standby-vm:/srv/restore" in text and "the new primary: archives WAL into /arch from the start" in text
    assert "next:" not in text


def _dump(**over) -> dict:
    doc = {
        "dry_run": False,
        "cluster": "main",
        "database": "signalcartel",
        "snapshot_id": DUMP,
        "snapshot_time": "2026-12-03T17:49:46.650014+00:00",
        "dump_bytes": 93_491,
        "globals_snapshot_id": OTHER,
        "globals_bytes": 526,
        "to_dsn": {
            "target": "user=postgres host=db dbname=copy1 password=<redacted>",
            "target_db": "copy1",
            "create": "CREATE DATABASE",
            "apply_globals": True,
            "jobs": 2,
            "staging_dir": "/var/cache/qfbackup",
            "pg_bin_dir": "/usr/lib/postgresql/15/bin",
            "pg_restore_version": "pg_restore (PostgreSQL) 15.18",
            "target_server_version_num": 150018,
        },
        "to_file": None,
        "warnings": [{"message": "restoring under another name (copy1)"}],
        "next_steps": [],
        "restored": {
            "bytes": 93_491,
            "seconds": 2.5,
            "globals_errors_ignored": [{"message": 'ERROR:  role "postgres" already exists'}],
            "globals_seconds": 0.1,
            "staging_seconds": 0.4,
            "pg_restore_seconds": 2.0,
        },
    }
    return document("restore dump", **{**doc, **over})


def test_restore_dump_into_a_server():
    doc = _dump()
    assert validate(doc, RESTORE_DUMP) == []
    assert restore_dump_text(doc).splitlines() == [
        f"restored signalcartel from dump snapshot {DUMP[:12]} into database copy1 (91.3 KiB, pg_restore 2.0 s, "
        "staging 0.4 s)",
        "globals: 1 expected error ignored (objects exist):",
        '  ERROR:  role "postgres" already exists',
    ]
    plan = dump_plan_text(doc, with_warnings=False)
    assert plan.splitlines() == [
        f"dump of signalcartel from snapshot {DUMP[:12]} (2026-12-03 17:49:46.650014 UTC, 91.3 KiB) of cluster main",
        "target: user=postgres host=db dbname=copy1 password=<redacted> (server 150018); database copy1: "
        "CREATE DATABASE",
        f"1. globals from snapshot {OTHER[:12]} (526 B) via psql",
        "2. staged as a 0600 file in /var/cache/qfbackup, then pg_restore --jobs 2; tools from "
        "/usr/lib/postgresql/15/bin (pg_restore (PostgreSQL) 15.18)",
    ]
    dry = _dump(dry_run=True, restored=None)
    assert validate(dry, RESTORE_DUMP) == []
    assert restore_dump_text(dry) == (
        f"{plan}\nwarning: restoring under another name (copy1)\n(dry run: nothing was changed)"
    )


def test_restore_dump_to_files():
    doc = _dump(
        to_dsn=None,
        to_file={"dump_file": "/tmp/x.dump", "globals_file": "/tmp/x.dump.globals.sql"},
        warnings=[],
        next_steps=[{"message": "psql -X -f /tmp/x.dump.globals.sql"}, {"message": "pg_restore /tmp/x.dump"}],
        restored={"bytes": 94_017, "seconds": 0.2, "globals_errors_ignored": [], "globals_seconds": None,
                  "staging_seconds": None, "pg_restore_seconds": None},
    )  # fmt: skip
    assert validate(doc, RESTORE_DUMP) == []
    assert restore_dump_text(doc).splitlines() == [
        f"wrote /tmp/x.dump (91.3 KiB, pg_dump custom format) from dump snapshot {DUMP[:12]} "
        "(2026-12-03 17:49:46.650014 UTC)",
        "wrote /tmp/x.dump.globals.sql (roles and tablespaces)",
        "to restore:",
        "  psql -X -f /tmp/x.dump.globals.sql",
        "  pg_restore /tmp/x.dump",
    ]
    dry = _dump(to_dsn=None, to_file={"dump_file": "/tmp/x.dump", "globals_file": None}, warnings=[], restored=None)
    assert validate(dry, RESTORE_DUMP) == []
    assert restore_dump_text(dry).splitlines()[1:] == ["to /tmp/x.dump", "(dry run: nothing was changed)"]
