"""On a terminal, `restore` and `restore dump` draw a bar with the total they will write, known from the plan
before they start (the base backup's tar plus the WAL staged; the dump's size); with -q nothing of it shows, and
under --json stdout is the document alone."""

from __future__ import annotations

import json
import re

import pytest

from qfbackup.output.contract import check
from tests.integration.ingest.conftest import make_ingest
from tests.integration.restore.test_pitr import restore_root as restore_root  # noqa: F401 (a fixture)
from tests.integration.restore.test_pitr import run_workload
from tests.support.tty import run_with_terminal

pytestmark = [pytest.mark.pg, pytest.mark.sshd]

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
#: rich's download column once a total is known ("3.1/78.2 MB"), then its time-remaining column ("0:00:01")
DONE_OF_TOTAL_ETA = re.compile(r"([\d,]+\.\d)/([\d,]+\.\d) ([kMG]B) .*?(\d+:\d\d:\d\d|-:--:--)")


def totals_shown(terminal: str, description: str) -> set[str]:
    """The totals the bar showed after ``description``, each with its ETA (one, as the total is known at once)."""
    plain = ANSI.sub("", terminal)
    assert description in plain, plain[-2000:]
    return {f"{m.group(2)} {m.group(3)}" for m in DONE_OF_TOTAL_ETA.finditer(plain)}


def mb(nbytes: int) -> str:
    return f"{nbytes / 1e6:,.1f} MB"


@pytest.fixture
def site(tmp_path, pg_factory, sshd):
    pg = pg_factory()
    pg.psql("create database signalcartel")
    ing = make_ingest(tmp_path, sshd, {"main": pg}, databases={"main": ["signalcartel"]})
    run_workload(pg, ing.cli, batches=2)
    ing.cli.run("backup", "dump", "--cluster", "main")
    return ing


def test_restore_and_restore_dump_show_their_total_on_a_terminal(site, restore_root):
    ing = site
    plan = json.loads(ing.cli.run("--json", "restore", "--cluster", "main", "--latest", "--dry-run").stdout)["plan"]
    shown = run_with_terminal(
        ["restore", "--cluster", "main", "--latest", "--to", str(restore_root / "a")], ing.cli.env
    )
    assert shown.returncode == 0 and "restored base backup" in shown.stdout, shown.terminal[-2000:]
    total = plan["backup"]["bytes"] + plan["wal"]["bytes"]
    assert totals_shown(shown.terminal, "restoring base backup + WAL") == {mb(total)}

    quiet = run_with_terminal(["-q", "restore", "--cluster", "main", "--latest", "--to", str(restore_root / "b")],
                              ing.cli.env)  # fmt: skip
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.terminal.strip() == "", quiet.terminal
    assert (restore_root / "b" / "recovery.signal").exists()  # quiet, not idle
    # on a pipe (as under cron): the document alone, checked against its contract by CliEnv.run
    piped = json.loads(
        ing.cli.run("--json", "restore", "--cluster", "main", "--latest", "--to", str(restore_root / "c")).stdout
    )
    assert piped["dry_run"] is False and piped["plan"] == plan
    assert piped["restored"]["bytes_written"] == plan["backup"]["bytes"]
    assert piped["restored"]["wal_files"] == plan["wal"]["files"] and piped["restored"]["action"] == "promote"

    out = restore_root / "signalcartel.dump"
    as_json = run_with_terminal(
        ["--json", "restore", "dump", "--cluster", "main", "--db", "signalcartel", "--to-file", str(out)], ing.cli.env
    )
    assert as_json.returncode == 0, as_json.terminal[-2000:]
    doc = json.loads(as_json.stdout)  # stdout is the document and nothing else
    assert check(doc) == [] and doc["restored"]["bytes"] >= doc["dump_bytes"] == out.stat().st_size
    (shown_total,) = totals_shown(as_json.terminal, "writing signalcartel.dump")
    value, unit = shown_total.split()
    assert float(value.replace(",", "")) * {"kB": 1e3, "MB": 1e6, "GB": 1e9}[unit] == pytest.approx(
        doc["dump_bytes"], rel=0.01
    ), shown_total
