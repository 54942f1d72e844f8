"""backup_label / backup_manifest parsing, the WAL a backup needs, and the pg_basebackup / pg_dump command lines."""

from __future__ import annotations

import json
from pathlib import PurePosixPath

import pytest

from qfbackup.errors import BadBackupMetadata, IntegrityError, UsageError
from qfbackup.pg.basebackup import (
    ManifestInfo,
    WalRange,
    backup_position,
    basebackup_argv,
    parse_backup_label,
    parse_manifest_tail,
)
from qfbackup.pg.dump import check_db_name, pg_dump_argv, pg_dumpall_globals_argv
from qfbackup.pg.wal import parse_lsn

LABEL = b"""START WAL LOCATION: 0/2000028 (file 000000010000000000000002)
CHECKPOINT LOCATION: 0/2000060
BACKUP METHOD: streamed
BACKUP FROM: standby
START TIME: 2026-11-26 00:43:12 UTC
LABEL: nightly: main
START TIMELINE: 1
"""

MiB16 = 16 * 1024 * 1024


def manifest(ranges: list[dict], files: int = 3) -> bytes:
    doc = {
        "PostgreSQL-Backup-Manifest-Version": 1,
        "Files": [{"Path": f"base/1/{i}", "Size": 8192} for i in range(files)],
        "WAL-Ranges": ranges,
        "Manifest-Checksum": "ab" * 32,
    }
    return json.dumps(doc, indent=1).encode()


def test_backup_label() -> None:
    label = parse_backup_label(LABEL)
    assert label.start_lsn == parse_lsn("0/2000028") and label.checkpoint_lsn == parse_lsn("0/2000060")
    assert (label.start_timeline, label.backup_from, label.label) == (1, "standby", "nightly: main")
    assert label.start_wal_file == "000000010000000000000002"
    assert label.start_time == "2026-11-26 00:43:12 UTC"
    with pytest.raises(BadBackupMetadata, match="START TIMELINE"):
        parse_backup_label(LABEL.replace(b"START TIMELINE: 1\n", b""))
    with pytest.raises(IntegrityError, match="START WAL LOCATION"):
        parse_backup_label(b"LABEL: x\n")


def test_manifest_tail_is_enough() -> None:
    raw = manifest([{"Timeline": 1, "Start-LSN": "0/2000028", "End-LSN": "0/2000100"}], files=2000)
    for data in (raw, raw[-300:]):
        info = parse_manifest_tail(data)
        assert info.wal_ranges == (WalRange(1, parse_lsn("0/2000028"), parse_lsn("0/2000100")),)
        assert info.checksum == "ab" * 32
    with pytest.raises(BadBackupMetadata, match="WAL-Ranges"):
        parse_manifest_tail(raw[:-400])
    with pytest.raises(BadBackupMetadata):
        parse_manifest_tail(manifest([]))


def test_position_and_needed_segments() -> None:
    label = parse_backup_label(LABEL)
    info = ManifestInfo((WalRange(1, parse_lsn("0/2000028"), parse_lsn("0/5000000")),), "x")
    pos = backup_position(label, info, MiB16)
    # the end LSN is exclusive: 0/5000000 ends in segment 4, not 5
    assert (pos.first_segment, pos.last_segment) == ("000000010000000000000002", "000000010000000000000004")
    assert pos.to_meta()["stop_lsn"] == "0/5000000" and pos.to_meta()["start_lsn"] == "0/2000028"


def test_position_across_timelines_on_a_standby() -> None:
    """A standby backup during which the timeline switched: start from the oldest range, end from the newest
    (whatever order the manifest lists them in)."""
    label = parse_backup_label(LABEL)
    info = parse_manifest_tail(
        manifest(
            [
                {"Timeline": 2, "Start-LSN": "0/3000000", "End-LSN": "0/3000200"},
                {"Timeline": 1, "Start-LSN": "0/2000028", "End-LSN": "0/3000000"},
            ]
        )
    )
    pos = backup_position(label, info, MiB16)
    assert (pos.start_timeline, pos.end_timeline) == (1, 2)
    assert (pos.first_segment, pos.last_segment) == ("000000010000000000000002", "000000020000000000000003")


def test_label_and_manifest_must_agree() -> None:
    label = parse_backup_label(LABEL)
    other = ManifestInfo((WalRange(1, parse_lsn("0/7000028"), parse_lsn("0/7000100")),), "x")
    with pytest.raises(BadBackupMetadata, match="starts at 0/2000028"):
        backup_position(label, other)


def test_basebackup_argv() -> None:
    argv = basebackup_argv(PurePosixPath("/usr/lib/postgresql/15/bin"), socket_dir=PurePosixPath("/run/pg"),
                           port=5433, user="postgres", label="it's; $(x)")  # fmt: skip
    assert argv[0] == "/usr/lib/postgresql/15/bin/pg_basebackup"
    assert argv[argv.index("-D") + 1] == "-" and argv[argv.index("-X") + 1] == "fetch" and "-Ft" in argv
    assert argv[argv.index("-l") + 1] == "it's; $(x)"  # one argument; quoting is the SSH layer's job
    assert {"-c", "fast", "--no-password"} <= set(argv)
    with pytest.raises(ValueError, match="stream"):
        basebackup_argv(PurePosixPath("/b"), socket_dir=PurePosixPath("/s"), port=1, user="u", label="l",
                        wal_method="stream")  # fmt: skip


def test_dump_argv_and_names() -> None:
    conn = {"socket_dir": PurePosixPath("/run/pg"), "port": 5432, "user": "postgres"}
    argv = pg_dump_argv(PurePosixPath("/b"), dbname="signalcartel", **conn)
    assert argv[:3] == ["/b/pg_dump", "-Fc", "-Z0"] and argv[-2:] == ["-d", "signalcartel"]
    assert pg_dumpall_globals_argv(PurePosixPath("/b"), **conn)[:2] == ["/b/pg_dumpall", "--globals-only"]
    for bad in ("dbname=x host=evil", "-fout", "a b", "x;rm", "", "1abc", "a" * 64):
        with pytest.raises(UsageError):
            check_db_name(bad)
    assert check_db_name("_Trades_2026") == "_Trades_2026"
