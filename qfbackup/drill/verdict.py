"""Judging a drill: did the restored server provably reach its target, and do the checks hold?

A server that merely started proves nothing (it may have replayed no WAL at all: the classic silent failure when
restore_command cannot read the archive). So a targeted drill passes only if PostgreSQL *paused at the target*
and logged where it stopped; a ``latest`` drill only if replay reached into the newest staged WAL segment; a dump
drill only if pg_restore succeeded. Then every policy check, amcheck on every B-tree index and a full read of every
table must succeed, they must all have run, and the measured RTO and RPO must be within the policy's bounds.
Every judgement here is a pure function of the facts the container printed and the logs it left, so each branch
is unit-tested from recorded ones (tests/unit/drill/).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from qfbackup.drill.script import Facts
from qfbackup.pg import wal
from qfbackup.pg.recovery import Target, parse_time

if TYPE_CHECKING:
    from qfbackup.drill.container import ContainerResult
    from qfbackup.policy.jobs import DrillCheck


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


_EXITED = re.compile(r"\(PID (\d+)\) (?:exited|was terminated)")
_PID = re.compile(r"\[(\d+)\] (?:FATAL|PANIC|ERROR):")


def last_fatal(log: str) -> str:
    """Why a server stopped, in its own words, without the log line prefix: the last PANIC, else the last
    FATAL/ERROR of a process the postmaster reports as exited (the startup process), else the last FATAL/ERROR. A
    connection refused while the server goes down ("the database system is in recovery mode") logs a FATAL of its
    own, later, that says nothing about why."""
    lines = [ln for ln in log.splitlines() if re.search(r"\b(FATAL|PANIC|ERROR)\b", ln)]
    exited = set(_EXITED.findall(log))
    panics = [ln for ln in lines if re.search(r"\bPANIC\b", ln)]
    own = [ln for ln in lines if (m := _PID.search(ln)) and m.group(1) in exited]
    chosen = panics or own or lines
    return chosen[-1].split(":  ", 1)[-1] if chosen else "no FATAL line in the server log"


def judge_replay(
    target: Target, facts: Facts, log: str, *, backup_stop_lsn: str, newest_segment: str | None
) -> Verdict:
    """A point-in-time drill's replay, from the script's facts and the server log: the server stayed up, reached a
    consistent state past the backup's end, and stopped at the target (paused with a 'recovery stopping' line) or,
    for ``latest``, promoted inside ``newest_segment`` (the newest staged segment; None when none was stored)."""
    v = Verdict()
    if facts.server:
        v.failures.append(f"server {facts.server}: {last_fatal(log)}")
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


def judge_checks(
    v: Verdict, facts: Facts, checks: Sequence[DrillCheck], *, target_time: datetime | None, logs: dict[str, str]
) -> None:
    """The policy's checks (in the order the script numbered them), amcheck and the full read, into ``v``."""
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


def judge_dump(
    facts: Facts,
    logs: dict[str, str],
    checks: Sequence[DrillCheck],
    *,
    snapshot: str,
    database: str,
    target_time: datetime | None,
) -> Verdict:
    """A dump drill: the fresh server came up and pg_restore exited 0 (a missing RESTORE fact is a failure too),
    then the database's checks. ``snapshot`` is the short id the proof names."""
    v = Verdict()
    if facts.server:
        v.failures.append(f"server {facts.server}: {logs.get('initdb.log', '')[-300:]}")
    elif facts.restore_rc != 0:
        v.failures.append(f"pg_restore failed: {logs.get('pg_restore.log', '').strip()[-500:]}")
    else:
        v.proofs.append(f"dump {snapshot} of {database} restored into a fresh server")
        judge_checks(v, facts, checks, target_time=target_time, logs=logs)
    return v


def judge_completion(v: Verdict, run: ContainerResult, facts: Facts, *, amcheck: bool, read_all: bool) -> None:
    """Checks that never ran are failures, not passes: a killed or timed-out container proves nothing more."""
    if run.timed_out:
        v.failures.append(f"the drill container timed out after {run.seconds:.0f} s")
    elif not facts.done:
        v.failures.append(f"the drill script did not finish: {run.stderr.strip()[-300:]}")
    if amcheck and not facts.amcheck:
        v.failures.append("amcheck did not run on any database")
    if read_all and not facts.read_all:
        v.failures.append("no database was read in full")


def judge_bounds(
    v: Verdict,
    *,
    rto_seconds: float | None,
    rpo_seconds: float | None,
    max_rto_minutes: int | None,
    max_rpo_minutes: int | None,
) -> None:
    """The policy's RTO and RPO bounds; a figure that was not measured (None) breaks no bound."""
    if max_rto_minutes and rto_seconds is not None and rto_seconds > max_rto_minutes * 60:
        v.failures.append(f"RTO {rto_seconds:.0f} s exceeds max_rto_minutes {max_rto_minutes}")
    if max_rpo_minutes and rpo_seconds is not None and rpo_seconds > max_rpo_minutes * 60:
        v.failures.append(f"RPO {rpo_seconds:.0f} s exceeds max_rpo_minutes {max_rpo_minutes}")
