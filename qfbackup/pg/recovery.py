"""Recovery targets and the settings that make a restored data directory replay to exactly that target.

Pure: builds the text appended to ``postgresql.auto.conf`` (PostgreSQL 12+ reads recovery settings from the
normal configuration, and ``recovery.signal`` starts targeted recovery). Two intents: a copy (tests, drills,
inspection: ``archive_mode = off``, it must never push WAL into the production archive) or the new primary
(archiving on from the start, into the cluster's archive).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from datetime import datetime

from qfbackup.errors import UsageError
from qfbackup.pg.wal import parse_lsn

TARGET_KINDS = ("latest", "time", "lsn", "xid", "name")
ACTIONS = ("promote", "pause", "shutdown")


@dataclass(frozen=True)
class Target:
    kind: str  # one of TARGET_KINDS
    value: str = ""
    inclusive: bool = True

    def __post_init__(self) -> None:
        if self.kind not in TARGET_KINDS:
            raise UsageError(f"unknown recovery target kind {self.kind!r}")
        if self.kind == "time":
            parse_time(self.value)
        elif self.kind == "lsn":
            parse_lsn(self.value)
        elif self.kind == "xid" and not self.value.isdigit():
            raise UsageError(f"--target-xid must be a transaction id (digits), not {self.value!r}")
        elif self.kind == "name" and (not self.value or "'" in self.value or "\n" in self.value):
            raise UsageError("--target-name must be a non-empty restore point name without quotes")

    def describe(self) -> str:
        if self.kind == "latest":
            return "the latest stored WAL"
        edge = "" if self.inclusive else " (exclusive)"
        return f"{self.kind} {self.value}{edge}"

    @property
    def time(self) -> datetime | None:
        return parse_time(self.value) if self.kind == "time" else None

    @property
    def lsn(self) -> int | None:
        return parse_lsn(self.value) if self.kind == "lsn" else None


def parse_time(text: str) -> datetime:
    """An ISO-8601 time with an explicit zone: at 3 a.m. nobody should guess which clock a bare time meant."""
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"cannot read time {text!r}", hint="use ISO 8601, e.g. 2026-11-26T03:14:00+00:00") from None
    if t.tzinfo is None:
        raise UsageError(f"time {text!r} has no time zone", hint="add +00:00 (UTC) or the zone you mean")
    return t


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def archive_command_for(archive_dir: str) -> str:
    """Copy each finished WAL file into ``archive_dir``, never over an existing one (an ID clash must fail
    loudly, not overwrite another timeline's file)."""
    q = shlex.quote(archive_dir).replace("%", "%%")
    return f"test ! -f {q}/%f && cp %p {q}/%f"


def recovery_settings(
    target: Target,
    *,
    restore_command: str,
    timeline: str = "latest",
    action: str = "pause",
    note: str = "",
    archive_dir: str | None = None,
) -> str:
    """Lines for postgresql.auto.conf. ``timeline`` is 'latest', 'current' or a number.

    ``archive_dir`` None: a copy for testing or inspection, ``archive_mode = off`` so it can never push WAL into
    the production archive. Given: the restore will become the new primary, so it archives from its first
    moment (the history file of the timeline its promotion creates must reach the repository, or nothing on
    that timeline is restorable)."""
    if action not in ACTIONS:
        raise UsageError(f"--action must be one of {', '.join(ACTIONS)}")
    lines = [f"# {note}" if note else "# qfbackup restore", f"restore_command = {_quote(restore_command)}"]
    if target.kind == "time":
        lines.append(f"recovery_target_time = {_quote(parse_time(target.value).isoformat())}")
    elif target.kind != "latest":
        lines.append(f"recovery_target_{target.kind} = {_quote(target.value)}")
    if target.kind != "latest":
        lines.append(f"recovery_target_inclusive = {'on' if target.inclusive else 'off'}")
        lines.append(f"recovery_target_action = {_quote(action)}")
    lines.append(f"recovery_target_timeline = {_quote(str(timeline))}")
    if archive_dir is None:
        lines.append("archive_mode = 'off'  # a restored copy must never write into the production archive")
    else:
        lines.append("archive_mode = 'on'  # the new primary: its WAL and new timeline's history must be archived")
        lines.append(f"archive_command = {_quote(archive_command_for(archive_dir))}")
    return "\n".join(lines) + "\n"


# archive_library too: on PostgreSQL 15 it takes precedence over archive_command
_RECOVERY_KEY = re.compile(
    r"\s*(restore_command|recovery_target\w*|archive_mode|archive_command|archive_library)\s*=", re.I
)


def merge_auto_conf(existing: str, settings: str) -> str:
    """``postgresql.auto.conf`` with ``settings`` replacing every earlier recovery and archiving setting.

    A data directory restored from a backup of a restored server still carries the previous restore's lines
    (ALTER SYSTEM keeps them, without their comments); appending again would pile them up, and a stale
    ``archive_mode = off`` or restore_command could win over what this restore means."""
    kept = [ln for ln in existing.splitlines() if not _RECOVERY_KEY.match(ln) and not ln.startswith("# qfbackup")]
    while kept and not kept[-1].strip():
        kept.pop()
    return "\n".join(kept) + ("\n\n" if kept else "") + settings
