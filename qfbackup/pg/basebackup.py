"""pg_basebackup facts as pure functions: its command line, and what its ``backup_label`` and ``backup_manifest`` say.

A base backup is only useful together with the WAL from its start to its end position; restore and retention
need those positions without reading the tar again. PostgreSQL writes them into two members of the tar:
``backup_label`` (start LSN, checkpoint, start timeline, start time, label, primary or standby) and
``backup_manifest`` (``WAL-Ranges``: per timeline, the start and end LSN). This module turns them into typed
values and computes the WAL segments the backup needs. No I/O here: ops/ingest/base_backup.py feeds it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from qfbackup.errors import BadBackupMetadata
from qfbackup.pg.wal import (
    DEFAULT_SEGMENT_SIZE,
    format_lsn,
    parse_lsn,
    segment_name,
    segment_of_end_lsn,
    segment_of_lsn,
)

LABEL_MEMBER = "backup_label"
MANIFEST_MEMBER = "backup_manifest"
#: Members every base backup tar of a data directory has; a tar without them is not a base backup.
REQUIRED_MEMBERS = ("PG_VERSION", "global/pg_control", LABEL_MEMBER, MANIFEST_MEMBER)


def basebackup_argv(
    bin_dir: PurePosixPath,
    *,
    socket_dir: PurePosixPath,
    port: int,
    user: str,
    label: str,
    wal_method: str = "fetch",
    checkpoint: str = "fast",
) -> list[str]:
    """The pg_basebackup command writing one tar to stdout.

    ``-X fetch`` puts the WAL the backup needs into the tar (so it is restorable on its own); ``-X stream``
    cannot write to stdout. ``-c fast`` starts at once instead of waiting for the next scheduled checkpoint
    (on a standby: restartpoint). ``--no-password`` makes a missing credential fail instead of waiting for a
    prompt nobody will answer. The manifest is on by default; it is what tells us the end LSN.
    """
    if wal_method not in ("fetch", "none"):
        raise ValueError(f"wal_method {wal_method!r}: only fetch or none can write to stdout")
    return [
        str(bin_dir / "pg_basebackup"),
        "-h",
        str(socket_dir),
        "-p",
        str(port),
        "-U",
        user,
        "-D",
        "-",
        "-Ft",
        "-X",
        wal_method,
        "-c",
        checkpoint,
        "-l",
        label,
        "--no-password",
    ]


# --- backup_label ----------------------------------------------------------------------------------------------

_START_WAL_RE = re.compile(r"^START WAL LOCATION: (\S+) \(file ([0-9A-F]{24})\)$")


@dataclass(frozen=True)
class BackupLabel:
    """The fields of ``backup_label`` (PostgreSQL 15: written by do_pg_backup_start)."""

    start_lsn: int
    start_wal_file: str
    checkpoint_lsn: int
    start_timeline: int
    start_time: str
    label: str
    backup_method: str
    backup_from: str  # "primary" or "standby"
    text: str


def parse_backup_label(raw: bytes) -> BackupLabel:
    text = raw.decode("utf-8", "replace")
    fields: dict[str, str] = {}
    start_lsn, start_file = None, ""
    for line in text.splitlines():
        if match := _START_WAL_RE.match(line):
            start_lsn, start_file = parse_lsn(match.group(1)), match.group(2)
        elif ": " in line:
            key, _, value = line.partition(": ")
            fields[key] = value
    try:
        if start_lsn is None:
            raise KeyError("START WAL LOCATION")
        return BackupLabel(
            start_lsn=start_lsn,
            start_wal_file=start_file,
            checkpoint_lsn=parse_lsn(fields["CHECKPOINT LOCATION"]),
            start_timeline=int(fields["START TIMELINE"]),
            start_time=fields["START TIME"],
            label=fields.get("LABEL", ""),
            backup_method=fields.get("BACKUP METHOD", ""),
            backup_from=fields.get("BACKUP FROM", "primary"),
            text=text,
        )
    except (KeyError, ValueError) as e:
        raise BadBackupMetadata(LABEL_MEMBER, f"missing or invalid field {e}") from None


# --- backup_manifest -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WalRange:
    timeline: int
    start_lsn: int
    end_lsn: int

    def to_dict(self) -> dict[str, int | str]:
        return {"timeline": self.timeline, "start_lsn": format_lsn(self.start_lsn), "end_lsn": format_lsn(self.end_lsn)}


@dataclass(frozen=True)
class ManifestInfo:
    """The end of ``backup_manifest``: WAL ranges and the manifest's own checksum (the per-file list is not
    kept: it is in the stored tar, and pg_verifybackup reads it there)."""

    wal_ranges: tuple[WalRange, ...]
    checksum: str

    @property
    def start(self) -> WalRange:
        return min(self.wal_ranges, key=lambda r: r.timeline)

    @property
    def end(self) -> WalRange:
        return max(self.wal_ranges, key=lambda r: r.timeline)


def _value_after(text: str, key: str) -> object:
    at = text.rfind(f'"{key}"')
    if at < 0:
        raise KeyError(key)
    colon = text.index(":", at + len(key) + 2)
    start = colon + 1
    while text[start] in " \t\r\n":
        start += 1
    return json.JSONDecoder().raw_decode(text, start)[0]


def parse_manifest_tail(raw: bytes) -> ManifestInfo:
    """Parse ``WAL-Ranges`` and ``Manifest-Checksum`` from the manifest, or from just its last bytes.

    PostgreSQL writes them after the per-file list, so a bounded tail capture is enough however many files the
    cluster has; that is why this does not need the whole document to be valid JSON.
    """
    text = raw.decode("utf-8", "replace")
    try:
        ranges_doc = _value_after(text, "WAL-Ranges")
        checksum = _value_after(text, "Manifest-Checksum")
        if not isinstance(ranges_doc, list) or not ranges_doc or not isinstance(checksum, str):
            raise ValueError("empty or not a list")
        ranges = tuple(
            WalRange(int(r["Timeline"]), parse_lsn(r["Start-LSN"]), parse_lsn(r["End-LSN"])) for r in ranges_doc
        )
    except (KeyError, ValueError, TypeError, IndexError) as e:
        raise BadBackupMetadata(MANIFEST_MEMBER, f"no valid WAL-Ranges/Manifest-Checksum ({e})") from None
    return ManifestInfo(ranges, checksum)


# --- what the backup needs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BackupPosition:
    """Start and end of a base backup in the WAL, and the segments a restore must replay (first..last)."""

    start_lsn: int
    start_timeline: int
    end_lsn: int
    end_timeline: int
    first_segment: str
    last_segment: str
    wal_ranges: tuple[WalRange, ...]

    def to_meta(self) -> dict[str, object]:
        return {
            "start_lsn": format_lsn(self.start_lsn),
            "start_timeline": self.start_timeline,
            "stop_lsn": format_lsn(self.end_lsn),
            "stop_timeline": self.end_timeline,
            "wal_first_segment": self.first_segment,
            "wal_last_segment": self.last_segment,
            "wal_ranges": [r.to_dict() for r in self.wal_ranges],
        }


def backup_position(
    label: BackupLabel, manifest: ManifestInfo, segment_size: int = DEFAULT_SEGMENT_SIZE
) -> BackupPosition:
    """Combine label and manifest, checking they describe the same backup.

    The needed WAL runs from the segment holding the start LSN (on the start timeline) to the segment holding
    the last byte before the end LSN (on the end timeline): PostgreSQL's own XLByteToSeg / XLByteToPrevSeg.
    """
    start, end = manifest.start, manifest.end
    if start.start_lsn != label.start_lsn or start.timeline != label.start_timeline:
        raise BadBackupMetadata(
            "metadata",
            f"backup_label starts at {format_lsn(label.start_lsn)} on timeline {label.start_timeline} but the "
            f"manifest's WAL range starts at {format_lsn(start.start_lsn)} on timeline {start.timeline}",
        )
    if end.end_lsn < label.start_lsn:
        raise BadBackupMetadata("metadata", "the manifest's end LSN is before the backup's start")
    return BackupPosition(
        start_lsn=label.start_lsn,
        start_timeline=label.start_timeline,
        end_lsn=end.end_lsn,
        end_timeline=end.timeline,
        first_segment=segment_name(label.start_timeline, segment_of_lsn(label.start_lsn, segment_size), segment_size),
        last_segment=segment_name(end.timeline, segment_of_end_lsn(end.end_lsn, segment_size), segment_size),
        wal_ranges=manifest.wal_ranges,
    )
