"""judge_replay, branch by branch, from recorded facts and real PostgreSQL 15 server logs.

Each recorded case is judged as it was (the proof or failure the real drill reported), then altered one fact or
one log line at a time so every branch is reached: the server stopped, no consistent state, nothing replayed,
replay before the backup's end, not paused / not promoted, no 'recovery stopping' line, a commit after the target,
an LSN short of the target, replay short of the newest segment, and nothing to prove 'latest' with.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from qfbackup.drill.verdict import Verdict, judge_replay, last_fatal
from qfbackup.pg.recovery import Target
from tests.unit.drill.recorded import recorded_facts, recorded_text

TIME_TARGET = Target("time", "2026-12-03T14:33:51.956475+00:00")
TIME_STOP_LSN = "0/2000100"  # pitr-time restored the older backup
LSN_TARGET = Target("lsn", "0/5015478")
NEWER_STOP_LSN = "0/4000100"  # pitr-lsn and the latest drills restored the newer one
NEWEST = "000000010000000000000008"
LATEST = Target("latest")


def log_of(case: str) -> str:
    return recorded_text(case, "server.log")


def without(log: str, text: str) -> str:
    kept = [line for line in log.splitlines() if text not in line]
    assert len(kept) < len(log.splitlines()), f"{text!r} is not in the log"
    return "\n".join(kept)


def time_drill(**fact_changes) -> tuple:
    return replace(recorded_facts("pitr-time"), **fact_changes), log_of("pitr-time")


# -- a time target ------------------------------------------------------------------------------------------------


def test_time_target_reached_is_proven_by_the_stop_line():
    facts, log = time_drill()
    v = judge_replay(TIME_TARGET, facts, log, backup_stop_lsn=TIME_STOP_LSN, newest_segment=NEWEST)
    assert v.failures == []
    assert v.proofs == [
        "replay on timeline 1 (last checkpoint), consistent state reached",
        "recovery stopping before commit of transaction 728, time 2026-12-03 14:33:53.562437+00 (replay LSN 0/5015478)",
    ]
    assert v.passed


def test_time_target_not_paused_fails():
    facts, log = time_drill(state="promoted")
    v = judge_replay(TIME_TARGET, facts, log, backup_stop_lsn=TIME_STOP_LSN, newest_segment=NEWEST)
    assert v.failures == ["expected replay paused at the target, server state is promoted"]
    assert not v.passed


def test_time_target_without_a_stop_line_was_never_reached():
    facts, log = time_drill()
    log = without(log, "recovery stopping")
    v = judge_replay(TIME_TARGET, facts, log, backup_stop_lsn=TIME_STOP_LSN, newest_segment=NEWEST)
    assert v.failures == ["the server log has no 'recovery stopping' line: the target was never reached"]
    assert not any("recovery stopping" in p for p in v.proofs)


def test_last_replayed_commit_after_the_target_fails():
    """The recorded replay stopped before 14:33:53.56 with the last commit at 14:33:49.49; a target before that
    commit means replay went past it."""
    facts, log = time_drill()
    early = Target("time", "2026-12-03T14:33:49.000000+00:00")
    v = judge_replay(early, facts, log, backup_stop_lsn=TIME_STOP_LSN, newest_segment=NEWEST)
    assert v.failures == [
        "last replayed commit 2026-12-03T14:33:49.494276+00:00 is after the target 2026-12-03T14:33:49.000000+00:00"
    ]


def test_last_commit_exactly_at_the_target_is_not_after_it():
    facts, log = time_drill()
    v = judge_replay(
        Target("time", facts.replay_time), facts, log, backup_stop_lsn=TIME_STOP_LSN, newest_segment=NEWEST
    )
    assert v.failures == []


def test_no_replayed_commit_is_no_time_failure():
    facts, log = time_drill(replay_time=None)
    v = judge_replay(TIME_TARGET, facts, log, backup_stop_lsn=TIME_STOP_LSN, newest_segment=NEWEST)
    assert v.failures == [] and v.passed


# -- an LSN target ------------------------------------------------------------------------------------------------


def test_lsn_target_reached():
    facts, log = recorded_facts("pitr-lsn"), log_of("pitr-lsn")
    v = judge_replay(LSN_TARGET, facts, log, backup_stop_lsn=NEWER_STOP_LSN, newest_segment=NEWEST)
    assert v.failures == []
    assert v.proofs[-1] == 'recovery stopping after WAL location (LSN) "0/5015478" (replay LSN 0/50154A0)'


def test_lsn_target_short_of_the_target_fails():
    facts, log = recorded_facts("pitr-lsn"), log_of("pitr-lsn")
    v = judge_replay(Target("lsn", "0/5100000"), facts, log, backup_stop_lsn=NEWER_STOP_LSN, newest_segment=NEWEST)
    assert v.failures == ["replay stopped at 0/50154A0, before the target LSN 0/5100000"]


def test_exclusive_lsn_target_may_stop_before_it():
    """recovery_target_inclusive = off stops *before* the record at the target: replay short of it is right."""
    facts, log = recorded_facts("pitr-lsn"), log_of("pitr-lsn")
    exclusive = Target("lsn", "0/5100000", inclusive=False)
    v = judge_replay(exclusive, facts, log, backup_stop_lsn=NEWER_STOP_LSN, newest_segment=NEWEST)
    assert v.failures == []


# -- latest ---------------------------------------------------------------------------------------------------------


def test_latest_promoted_inside_the_newest_segment():
    facts, log = recorded_facts("pitr-latest"), log_of("pitr-latest")
    v = judge_replay(LATEST, facts, log, backup_stop_lsn=NEWER_STOP_LSN, newest_segment=NEWEST)
    assert v.failures == []
    assert v.proofs == [
        "replay on timeline 2 (last checkpoint), consistent state reached",
        f"replayed to 0/9000000, inside the newest stored WAL {NEWEST}",
    ]


def test_latest_at_the_very_start_of_the_newest_segment_counts():
    facts, log = replace(recorded_facts("pitr-latest"), replay_lsn="0/8000000"), log_of("pitr-latest")
    v = judge_replay(LATEST, facts, log, backup_stop_lsn=NEWER_STOP_LSN, newest_segment=NEWEST)
    assert v.failures == [] and v.passed


def test_latest_with_a_missing_segment_stopped_short():
    """Recorded: segment 7 deleted from the staging; replay promoted at its start."""
    facts, log = recorded_facts("pitr-latest-missing"), log_of("pitr-latest-missing")
    v = judge_replay(LATEST, facts, log, backup_stop_lsn=NEWER_STOP_LSN, newest_segment=NEWEST)
    assert v.failures == [
        f"replay stopped at 0/7000000, before the newest stored WAL {NEWEST} (starts at 0/8000000): WAL was not read"
    ]


def test_latest_not_promoted_fails():
    facts, log = replace(recorded_facts("pitr-latest"), state="paused"), log_of("pitr-latest")
    v = judge_replay(LATEST, facts, log, backup_stop_lsn=NEWER_STOP_LSN, newest_segment=NEWEST)
    assert v.failures == ["expected promotion at the end of the WAL, server state is paused"]


def test_latest_with_no_wal_after_the_backup_is_unprovable():
    """The server promoted, but with no stored WAL past the backup nothing shows replay works at all."""
    facts, log = recorded_facts("pitr-latest"), log_of("pitr-latest")
    v = judge_replay(LATEST, facts, log, backup_stop_lsn=NEWER_STOP_LSN, newest_segment=None)
    assert v.failures == ["no WAL after the base backup was stored: nothing proves that replay works"]
    assert not v.passed


# -- what every target needs --------------------------------------------------------------------------------------


def test_server_that_stopped_quotes_the_fatal_line_and_proves_nothing():
    """Recorded: every restore_command failed (wrong owner), so recovery ended before the target."""
    facts, log = recorded_facts("pitr-wrong-owner"), log_of("pitr-wrong-owner")
    v = judge_replay(TIME_TARGET, facts, log, backup_stop_lsn=TIME_STOP_LSN, newest_segment=NEWEST)
    assert v == Verdict(
        failures=["server failed-to-start: recovery ended before configured recovery target was reached"]
    )


@pytest.mark.parametrize("server", ["died", "promote-failed"])
def test_any_server_failure_is_a_failure(server):
    facts, log = replace(recorded_facts("pitr-wrong-owner"), server=server), log_of("pitr-wrong-owner")
    v = judge_replay(LATEST, facts, log, backup_stop_lsn=TIME_STOP_LSN, newest_segment=NEWEST)
    assert v.failures == [f"server {server}: recovery ended before configured recovery target was reached"]


def testlast_fatal_takes_the_last_error_and_strips_the_prefix():
    log = log_of("pitr-wrong-owner")
    assert last_fatal(log) == "recovery ended before configured recovery target was reached"
    assert last_fatal(log + "\n2026-12-03 14:34:14.070 UTC [11] PANIC:  could not write to file") == (
        "could not write to file"
    )
    assert last_fatal(without(log, "FATAL")) == "no FATAL line in the server log"


def test_last_fatal_is_the_exited_process_reason_not_a_refused_connection():
    """Seen in CI under load: a connection attempt while the server went down logged its own FATAL last."""
    refused = "\n2026-12-03 14:34:14.068 UTC [21] FATAL:  the database system is in recovery mode"
    log = log_of("pitr-wrong-owner") + refused
    assert last_fatal(log) == "recovery ended before configured recovery target was reached"
    assert (
        last_fatal(without(log_of("pitr-wrong-owner"), "exited") + refused) == "the database system is in recovery mode"
    )


def test_no_consistent_state_fails():
    facts, log = time_drill()
    log = without(log, "consistent recovery state reached")
    v = judge_replay(TIME_TARGET, facts, log, backup_stop_lsn=TIME_STOP_LSN, newest_segment=NEWEST)
    assert v.failures == ["the server log never says 'consistent recovery state reached'"]


def test_nothing_replayed_stops_the_verdict():
    facts, log = time_drill(replay_lsn=None)
    v = judge_replay(TIME_TARGET, facts, log, backup_stop_lsn=TIME_STOP_LSN, newest_segment=NEWEST)
    assert v == Verdict(failures=["no WAL was replayed (pg_last_wal_replay_lsn is NULL)"])


def test_replay_before_the_backup_end_fails():
    facts, log = time_drill()
    v = judge_replay(TIME_TARGET, facts, log, backup_stop_lsn="0/6000000", newest_segment=NEWEST)
    assert v.failures == ["replay stopped at 0/5015478, before the base backup's end 0/6000000"]


def test_replay_exactly_at_the_backup_end_is_enough():
    facts, log = time_drill()
    v = judge_replay(TIME_TARGET, facts, log, backup_stop_lsn=facts.replay_lsn, newest_segment=NEWEST)
    assert v.failures == []


def test_unknown_timeline_gives_no_timeline_proof():
    facts, log = time_drill(timeline=None)
    v = judge_replay(TIME_TARGET, facts, log, backup_stop_lsn=TIME_STOP_LSN, newest_segment=NEWEST)
    assert v.failures == [] and len(v.proofs) == 1 and v.proofs[0].startswith("recovery stopping")


def test_a_verdict_without_proof_does_not_pass():
    assert not Verdict().passed
    assert Verdict(proofs=["x"]).passed
    assert not Verdict(proofs=["x"], failures=["y"]).passed
