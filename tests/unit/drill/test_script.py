"""The drill script's fact parser, on what real drill containers printed, and the script it renders.

The verdict trusts nothing but these facts and the logs, so each line kind must land in its field, NULLs must stay
None (never an empty string that passes "is not null"), and anything that is not a well-formed fact is ignored.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from qfbackup.drill.script import DUMP_SCRIPT, NULL, PITR_SCRIPT, Facts, parse, render
from tests.unit.drill.recorded import recorded_facts


def test_paused_time_drill():
    f = recorded_facts("pitr-time")
    assert set(f.times) == {"start", "started", "replay", "promoted", "checks"}
    assert f.times["start"] == pytest.approx(1796308441.424239168)
    assert f.times["start"] < f.times["started"] < f.times["replay"] < f.times["promoted"] < f.times["checks"]
    assert (f.server, f.state, f.replay_lsn, f.timeline) == (None, "paused", "0/5015478", 1)
    assert f.replay_time == "2026-12-03T14:33:49.494276+00:00"
    assert f.restore_rc is None  # only dump drills report one
    # a value with a space (a timestamp) is kept whole
    assert f.checks == {"000": (0, "1000"), "001": (0, "0"), "002": (0, "2026-12-03 14:33:49.493863+00")}
    assert f.amcheck == {"postgres": (0, "162"), "signalcartel": (0, "164")}
    assert f.read_all == {"postgres": 0, "signalcartel": 0}
    assert f.done


def test_lsn_drill_with_no_replayed_commit_has_no_replay_time():
    f = recorded_facts("pitr-lsn")
    assert (f.state, f.replay_lsn, f.replay_time, f.timeline) == ("paused", "0/50154A0", None, 1)


def test_promoted_latest_drill():
    f = recorded_facts("pitr-latest")
    assert (f.state, f.replay_lsn, f.timeline) == ("promoted", "0/9000000", 2)
    assert f.done


def test_server_that_failed_to_start_reports_only_that():
    f = recorded_facts("pitr-wrong-owner")
    assert f.server == "failed-to-start"
    assert set(f.times) == {"start", "replay"}
    assert (f.state, f.replay_lsn, f.checks, f.amcheck, f.read_all, f.done) == (None, None, {}, {}, {}, False)


def test_failed_check_is_its_exit_code_and_null():
    f = recorded_facts("pitr-latest-bad-check")
    assert f.checks["003"] == (3, None)
    assert f.checks["000"] == (0, "2004")


def test_dump_drills_report_pg_restore_exit():
    ok, truncated = recorded_facts("dump-ok"), recorded_facts("dump-truncated")
    assert (ok.restore_rc, ok.state, ok.replay_lsn, ok.done) == (0, None, None, True)
    assert truncated.restore_rc == 1
    assert truncated.checks["002"] == (0, None)  # max(ts) of an empty table: NULL, not ""


def test_lines_that_are_not_facts_are_ignored():
    """Anything else a tool prints on stdout (or a fact cut short) cannot forge or break a fact."""
    stdout = "\n".join(
        [
            "QFB STATE paused",
            "QFBX DONE",  # not the prefix
            " QFB DONE",  # not at the start of the line
            "qfb DONE",
            "QFB REPLAY 0/1000000 2026-12-03T00:00:00+00:00",  # two fields of three: ignored whole
            "QFB UNKNOWN 1 2 3",
            "psql: warning: something",
            "",
        ]
    )
    f = parse(stdout)
    assert f == Facts(state="paused")


def test_replay_with_null_lsn():
    f = parse(f"QFB REPLAY {NULL} {NULL} 1\n")
    assert (f.replay_lsn, f.replay_time, f.timeline) == (None, None, 1)


def test_last_fact_of_a_kind_wins():
    f = parse("QFB SERVER died\nQFB STATE paused\nQFB STATE promoted\nQFB CHECK 000 0 1\nQFB CHECK 000 1 x y\n")
    assert (f.server, f.state, f.checks) == ("died", "promoted", {"000": (1, "x y")})


def test_empty_output_is_no_facts():
    assert parse("") == Facts()
    assert not parse("").done


@pytest.mark.parametrize("template", [PITR_SCRIPT, DUMP_SCRIPT], ids=["pitr", "dump"])
@pytest.mark.parametrize("flags", [(True, True), (False, False)], ids=["checks-on", "checks-off"])
def test_rendered_script_is_valid_bash_with_the_settings(template, flags):
    amcheck, read_all = flags
    script = render(template, pgbin="/usr/lib/postgresql/15/bin", amcheck=amcheck, read_all=read_all, start_timeout=90)
    assert "PGBIN=/usr/lib/postgresql/15/bin\n" in script
    assert f'[ "{int(amcheck)}" = 1 ]' in script and f'[ "{int(read_all)}" = 1 ]' in script
    assert "-w -t 90" in script and f"-P null={NULL}" in script
    bash = shutil.which("bash")
    assert bash, "bash is needed to check the script's syntax"
    proc = subprocess.run([bash, "-n"], input=script, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_pgbin_with_a_space_is_quoted():
    script = render(PITR_SCRIPT, pgbin="/opt/pg 15/bin", amcheck=True, read_all=True, start_timeout=60)
    assert "PGBIN='/opt/pg 15/bin'\n" in script


SAMPLES = {
    "T": "QFB T start 1.5",
    "SERVER": "QFB SERVER died",
    "STATE": "QFB STATE paused",
    "REPLAY": "QFB REPLAY 0/1000000 2026-12-03T00:00:00+00:00 1",
    "RESTORE": "QFB RESTORE 0",
    "CHECK": "QFB CHECK 000 0 1",
    "AMCHECK": "QFB AMCHECK postgres 0 162",
    "READALL": "QFB READALL postgres 0",
    "DONE": "QFB DONE",
}


def test_every_fact_kind_the_scripts_print_is_read():
    """A fact renamed on one side only would silently vanish, and its proof with it."""
    printed = set(re.findall(r"\bfact ([A-Z]+)\b", PITR_SCRIPT + DUMP_SCRIPT))
    assert printed == set(SAMPLES)
    for kind, line in SAMPLES.items():
        assert parse(line + "\n") != Facts(), kind
