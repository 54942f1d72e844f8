"""The rest of the drill's judgement: policy checks, amcheck and the full read, the dump verdict, whether it all
ran, and the RTO/RPO bounds. Facts and logs are recorded ones (tests/unit/drill/data), altered one at a time."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from qfbackup.drill.container import ContainerResult
from qfbackup.drill.verdict import (
    Verdict,
    judge_bounds,
    judge_checks,
    judge_completion,
    judge_dump,
    sql_value,
)
from tests.unit.drill.recorded import SITE_CHECKS, check, recorded_facts, recorded_text

LATEST_MOMENT = datetime(2026, 12, 3, 14, 33, 57, tzinfo=UTC)  # just after the recorded newest commit
DUMP_TIME = datetime(2026, 12, 3, 14, 33, 59, 297239, tzinfo=UTC)
BAD_CHECK = check("bad-sql", "select nope from trades", "== 1")


def judged(facts, checks=SITE_CHECKS, *, target_time=LATEST_MOMENT, logs=None) -> Verdict:
    v = Verdict()
    judge_checks(v, facts, checks, target_time=target_time, logs=logs or {})
    return v


# -- sql_value ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, value",
    [
        (None, None),
        ("t", True),
        ("f", False),
        ("1000", Decimal("1000")),
        ("-0.5", Decimal("-0.5")),
        ("2026-12-03 14:33:49.493863+00", datetime(2026, 12, 3, 14, 33, 49, 493863, tzinfo=UTC)),
        ("signalcartel", "signalcartel"),
        ("", ""),
    ],
)
def test_sql_value(text, value):
    assert sql_value(text) == value and type(sql_value(text)) is type(value)


# -- checks, amcheck, full read ---------------------------------------------------------------------------------


def test_recorded_checks_hold_and_amcheck_and_read_prove():
    v = judged(recorded_facts("pitr-latest"))
    assert v.failures == []
    assert [(c["name"], c["value"], c["ok"], c["why"]) for c in v.checks] == [
        ("trades-present", "2004", True, None),
        ("no-null-price", "0", True, None),
        ("trades-reach-target", "2026-12-03 14:33:56.752217+00", True, None),
    ]
    assert v.checks[0]["expect"] == ">= 1" and v.checks[0]["database"] == "signalcartel"
    assert v.proofs == [
        "amcheck: 162 B-tree index(es) of postgres verified",
        "amcheck: 164 B-tree index(es) of signalcartel verified",
        "every table of postgres read (pg_dump)",
        "every table of signalcartel read (pg_dump)",
    ]


def test_expectation_that_does_not_hold_fails_naming_check_and_value():
    checks = (*SITE_CHECKS[:1], check("no-null-price", "select 1", "== 42"), *SITE_CHECKS[2:])
    v = judged(recorded_facts("pitr-latest"), checks)
    assert v.failures == ["check 'no-null-price' (signalcartel): value 0 does not satisfy '== 42'"]
    assert [c["ok"] for c in v.checks] == [True, False, True]


def test_target_time_reaches_the_within_check():
    """The same recorded max(ts) is more than 10 minutes before a later target."""
    later = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
    v = judged(recorded_facts("pitr-latest"), target_time=later)
    assert v.failures == [
        "check 'trades-reach-target' (signalcartel): newest timestamp 2026-12-03T14:33:56.752217+00:00 is more "
        "than 0:10:00 before the target"
    ]


def test_query_that_failed_quotes_psql():
    facts = recorded_facts("pitr-latest-bad-check")
    logs = {"check-003.err": recorded_text("pitr-latest-bad-check", "check-003.err")}
    v = judged(facts, (*SITE_CHECKS, BAD_CHECK), logs=logs)
    assert v.failures == [
        "check 'bad-sql' (signalcartel): query failed: psql:/drill/input/checks/003.sql:1: ERROR:  column \"nope\" "
        "does not exist\nLINE 1: select nope from trades\n               ^"
    ]
    assert v.checks[3]["value"] is None and not v.checks[3]["ok"]


def test_check_that_never_ran_fails():
    facts = recorded_facts("pitr-latest")
    v = judged(facts, (*SITE_CHECKS, BAD_CHECK))  # a fourth check the recorded script never printed
    assert v.failures == ["check 'bad-sql' (signalcartel): did not run"]


def test_null_value_fails_is_not_null():
    """Recorded: max(ts) of the table a truncated dump left empty is NULL."""
    v = judged(recorded_facts("dump-truncated"), (*SITE_CHECKS[:2], check("ts", "select max(ts)", "is not null")))
    assert v.failures == [
        "check 'trades-present' (signalcartel): value 0 does not satisfy '>= 1'",
        "check 'ts' (signalcartel): expected a value, got NULL",
    ]


def test_amcheck_and_full_read_failures_quote_their_logs():
    facts = replace(
        recorded_facts("pitr-latest"),
        amcheck={"postgres": (0, "162"), "signalcartel": (3, "")},
        read_all={"postgres": 0, "signalcartel": 1},
    )
    logs = {
        "amcheck-signalcartel.err": 'ERROR:  index "trades_pkey" lacks a main relation fork\n',
        "readall-signalcartel.err": 'pg_dump: error: Dumping the contents of table "trades" failed\n',
    }
    v = judged(facts, logs=logs)
    assert v.failures == [
        'amcheck on signalcartel: ERROR:  index "trades_pkey" lacks a main relation fork',
        'reading every table of signalcartel failed: pg_dump: error: Dumping the contents of table "trades" failed',
    ]
    assert v.proofs == ["amcheck: 162 B-tree index(es) of postgres verified", "every table of postgres read (pg_dump)"]


# -- the dump verdict -------------------------------------------------------------------------------------------


def dump_verdict(facts, logs=None) -> Verdict:
    return judge_dump(
        facts, logs or {}, SITE_CHECKS, snapshot="7b96fb168df3", database="signalcartel", target_time=DUMP_TIME
    )


def test_dump_restored_is_proven_then_checked():
    v = dump_verdict(recorded_facts("dump-ok"), {"pg_restore.log": ""})
    assert v.failures == []
    assert v.proofs[0] == "dump 7b96fb168df3 of signalcartel restored into a fresh server"
    assert [c["ok"] for c in v.checks] == [True, True, True]
    assert v.passed


def test_dump_that_pg_restore_rejected_fails_with_its_log_and_runs_no_check():
    facts = recorded_facts("dump-truncated")
    v = dump_verdict(facts, {"pg_restore.log": recorded_text("dump-truncated", "pg_restore.log")})
    assert v == Verdict(failures=["pg_restore failed: pg_restore: error: could not read from input file: end of file"])


def test_dump_with_no_restore_fact_fails():
    """The script ended before pg_restore reported (killed, timed out): no proof of a restore."""
    v = dump_verdict(replace(recorded_facts("dump-ok"), restore_rc=None), {"pg_restore.log": ""})
    assert v == Verdict(failures=["pg_restore failed: "])


def test_dump_server_that_did_not_come_up_quotes_initdb():
    facts = replace(recorded_facts("dump-ok"), server="initdb-failed", restore_rc=None)
    v = dump_verdict(facts, {"initdb.log": 'initdb: error: directory "/drill/data" exists but is not empty\n'})
    assert v == Verdict(
        failures=['server initdb-failed: initdb: error: directory "/drill/data" exists but is not empty\n']
    )


# -- did everything run -----------------------------------------------------------------------------------------


def run_result(*, timed_out=False, stderr="", seconds=12.3) -> ContainerResult:
    return ContainerResult("qfbackup-drill-0", "podman", 0, "", stderr, seconds, timed_out=timed_out)


def completed(facts, run, *, amcheck=True, read_all=True) -> list[str]:
    v = Verdict()
    judge_completion(v, run, facts, amcheck=amcheck, read_all=read_all)
    return v.failures


def test_a_finished_script_with_amcheck_and_read_completes():
    assert completed(recorded_facts("pitr-latest"), run_result()) == []


def test_timed_out_container_fails():
    facts = replace(recorded_facts("pitr-latest"), done=False)
    assert completed(facts, run_result(timed_out=True, seconds=300.4)) == ["the drill container timed out after 300 s"]


def test_script_that_did_not_finish_quotes_stderr():
    facts = replace(recorded_facts("pitr-latest"), done=False)
    assert completed(facts, run_result(stderr="bash: line 9: psql: killed\n")) == [
        "the drill script did not finish: bash: line 9: psql: killed"
    ]


def test_checks_that_never_ran_fail_only_when_wanted():
    """Recorded: the server never started, so neither amcheck nor the full read ran."""
    facts = recorded_facts("pitr-wrong-owner")
    assert completed(facts, run_result()) == [
        "the drill script did not finish: ",
        "amcheck did not run on any database",
        "no database was read in full",
    ]
    assert completed(facts, run_result(), amcheck=False, read_all=False) == ["the drill script did not finish: "]


# -- RTO and RPO bounds -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rto, rpo, max_rto, max_rpo, failures",
    [
        (61.0, 3000.0, None, None, []),  # no bounds set
        (60.0, 600.0, 1, 10, []),  # exactly at the bound
        (61.0, 10.0, 1, 10, ["RTO 61 s exceeds max_rto_minutes 1"]),
        (10.0, 601.0, 1, 10, ["RPO 601 s exceeds max_rpo_minutes 10"]),
        (61.0, 601.0, 1, 10, ["RTO 61 s exceeds max_rto_minutes 1", "RPO 601 s exceeds max_rpo_minutes 10"]),
        (None, None, 1, 1, []),  # not measured (failed before restoring): no bound broken
    ],
)
def test_bounds(rto, rpo, max_rto, max_rpo, failures):
    v = Verdict(proofs=["replayed"])
    judge_bounds(v, rto_seconds=rto, rpo_seconds=rpo, max_rto_minutes=max_rto, max_rpo_minutes=max_rpo)
    assert v.failures == failures
    assert v.passed is (not failures)
