"""Judging a drill: did the restored server provably reach its target, and do the checks hold?

A server that merely started proves nothing (it may have replayed no WAL at all: the classic silent failure when
restore_command cannot read the archive). So a targeted drill passes only if PostgreSQL *paused at the target*
and logged where it stopped; a ``latest`` drill only if replay reached into the newest staged WAL segment. Then
every policy check, amcheck on every B-tree index and a full read of every table must succeed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation

from qfbackup.drill.script import Facts
from qfbackup.pg import wal
from qfbackup.pg.recovery import Target, parse_time


@dataclass
class Verdict:
    proofs: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    checks: list[dict] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures and bool(self.proofs)


def sql_value(text: str | None) -> object:
    """psql's text for one value as the Python value an expectation compares (bool, Decimal, datetime, str)."""
    if text is None:
        return None
    if text in ("t", "f"):
        return text == "t"
    try:
        return Decimal(text)
    except InvalidOperation:
        pass
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return text


def _last_fatal(log: str) -> str:
    lines = [ln for ln in log.splitlines() if re.search(r"\b(FATAL|PANIC|ERROR)\b", ln)]
    return lines[-1].split(":  ", 1)[-1] if lines else "no FATAL line in the server log"


def judge_replay(
    target: Target, facts: Facts, log: str, *, backup_stop_lsn: str, newest_segment: str | None
) -> Verdict:
    v = Verdict()
    if facts.server:
        v.failures.append(f"server {facts.server}: {_last_fatal(log)}")
        return v
    if "consistent recovery state reached" not in log:
        v.failures.append("the server log never says 'consistent recovery state reached'")
    if facts.replay_lsn is None:
        v.failures.append("no WAL was replayed (pg_last_wal_replay_lsn is NULL)")
        return v
    replayed = wal.parse_lsn(facts.replay_lsn)
    if facts.timeline is not None:
        v.proofs.append(f"replay on timeline {facts.timeline} (last checkpoint), consistent state reached")
    if replayed < wal.parse_lsn(backup_stop_lsn):
        v.failures.append(f"replay stopped at {facts.replay_lsn}, before the base backup's end {backup_stop_lsn}")
    if target.kind == "latest":
        if facts.state != "promoted":
            v.failures.append(f"expected promotion at the end of the WAL, server state is {facts.state}")
        if newest_segment is None:
            v.failures.append("no WAL after the base backup was stored: nothing proves that replay works")
        else:
            need = wal.segment_start_lsn(wal.parse_segment_name(newest_segment)[1])
            if replayed < need:
                v.failures.append(
                    f"replay stopped at {facts.replay_lsn}, before the newest stored WAL {newest_segment} "
                    f"(starts at {wal.format_lsn(need)}): WAL was not read"
                )
            else:
                v.proofs.append(f"replayed to {facts.replay_lsn}, inside the newest stored WAL {newest_segment}")
        return v
    stop = re.findall(r"recovery stopping [^\n]*", log)
    if facts.state != "paused":
        v.failures.append(f"expected replay paused at the target, server state is {facts.state}")
    if not stop:
        v.failures.append("the server log has no 'recovery stopping' line: the target was never reached")
    else:
        v.proofs.append(f"{stop[-1].strip()} (replay LSN {facts.replay_lsn})")
    if target.kind == "time" and facts.replay_time and parse_time(facts.replay_time) > target.time:
        v.failures.append(f"last replayed commit {facts.replay_time} is after the target {target.value}")
    if target.kind == "lsn" and target.inclusive and replayed < target.lsn:
        v.failures.append(f"replay stopped at {facts.replay_lsn}, before the target LSN {target.value}")
    return v


def judge_checks(v: Verdict, facts: Facts, checks, *, target_time: datetime | None, logs: dict[str, str]) -> None:
    for i, check in enumerate(checks):
        rc, text = facts.checks.get(f"{i:03d}", (None, None))
        value = sql_value(text)
        if rc is None:
            why = "did not run"
        elif rc != 0:
            why = f"query failed: {logs.get(f'check-{i:03d}.err', '').strip()[-300:]}"
        else:
            why = check.expect.check(value, target_time=target_time)
        v.checks.append(
            {
                "name": check.name,
                "database": check.database,
                "value": text,
                "expect": check.expect.text,
                "ok": why is None,
                "why": why,
            }
        )
        if why is not None:
            v.failures.append(f"check {check.name!r} ({check.database}): {why}")
    for db, (rc, count) in facts.amcheck.items():
        if rc != 0:
            v.failures.append(f"amcheck on {db}: {logs.get(f'amcheck-{db}.err', '').strip()[-300:]}")
        else:
            v.proofs.append(f"amcheck: {count} B-tree index(es) of {db} verified")
    for db, rc in facts.read_all.items():
        if rc != 0:
            v.failures.append(f"reading every table of {db} failed: {logs.get(f'readall-{db}.err', '').strip()[-300:]}")
        else:
            v.proofs.append(f"every table of {db} read (pg_dump)")
