"""On a terminal, `restore` and `restore dump` draw a bar with the total they will write, known from the plan
before they start (the base backup's tar plus the WAL staged; the dump's size); with -q nothing of it shows, and
under --json stdout is the document alone."""

from __future__ import annotations

import json

import pytest

from qfbackup.output.contract import check
from qfbackup.output.humanize import size
from tests.integration.ingest.conftest import make_ingest
from tests.integration.restore.test_pitr import restore_root as restore_root  # noqa: F401 (a fixture)
from tests.integration.restore.test_pitr import run_workload
from tests.support.tty import bar_totals, run_with_terminal

pytestmark = [pytest.mark.pg, pytest.mark.sshd]


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
    assert bar_totals(shown.terminal, "restoring base backup + WAL", with_eta=True) == {size(total)}

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
    assert bar_totals(as_json.terminal, "writing signalcartel.dump", with_eta=True) == {size(doc["dump_bytes"])}
