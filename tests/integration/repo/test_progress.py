"""On a terminal, `verify --read-data`, `copy` and `snapshot restore` draw a bar with the total they will move,
known before they start; with -q, on a pipe (cron) and on --json's stdout there is nothing of it."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from qfbackup.output.contract import check
from qfbackup.output.humanize import size
from tests.integration.repo.conftest import CliEnv
from tests.support.seed import rng
from tests.support.tty import bar_totals, plain, run_with_terminal


def tree_size(root: Path, prefixes: tuple[str, ...]) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and p.relative_to(root).parts[0] in prefixes)


@dataclass
class Stored:
    cli: CliEnv
    snapshot: dict  # `snapshot create --json`


@pytest.fixture
def stored(cli, tmp_path) -> Stored:
    pick = rng("progress-tree")
    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        (src / f"model-{i}.bin").write_bytes(pick.randbytes(4 * 1024 * 1024 + pick.randrange(1000)))
    return Stored(cli, json.loads(cli.run("--json", "snapshot", "create", str(src)).stdout))


def test_verify_copy_and_restore_show_their_total_on_a_terminal(stored, tmp_path):
    cli, snap = stored.cli, stored.snapshot
    repo = Path(cli.repo)
    packs = tree_size(repo, ("data",))
    run = run_with_terminal(["verify", "--read-data"], cli.env)
    assert run.returncode == 0 and "repository OK" in run.stdout
    assert bar_totals(run.terminal, "reading packs") == {size(packs)}

    mirror = tmp_path / "mirror"
    run = run_with_terminal(["copy", "--to", str(mirror)], cli.env)
    assert run.returncode == 0 and "copied" in run.stdout
    copied = tree_size(mirror, ("keys", "config", "data", "index", "snapshots"))
    assert copied == tree_size(repo, ("keys", "config", "data", "index", "snapshots")) > packs
    assert bar_totals(run.terminal, "copying to the mirror") == {size(copied)}

    run = run_with_terminal(["snapshot", "restore", snap["id"], str(tmp_path / "out")], cli.env)
    assert run.returncode == 0 and "restored 3 files" in run.stdout
    assert bar_totals(run.terminal, "restoring") == {size(snap["bytes_in"])}


def test_quiet_pipe_and_json_stdout_carry_no_bar(stored, tmp_path):
    cli = stored.cli
    quiet = run_with_terminal(["-q", "verify", "--read-data"], cli.env)
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.terminal.strip() == ""

    as_json = run_with_terminal(["--json", "copy", "--to", str(tmp_path / "mirror")], cli.env)
    assert as_json.returncode == 0 and "copying to the mirror" in plain(as_json.terminal)
    doc = json.loads(as_json.stdout)  # stdout is the document and nothing else
    assert check(doc) == [] and doc["copied"] > 0

    piped = cli.run("verify", "--read-data")  # stderr is a pipe, as under cron
    assert piped.stderr == "" and "reading packs" not in piped.stdout
    again = cli.run("--json", "copy", "--to", str(tmp_path / "mirror"))
    assert again.stderr == "" and json.loads(again.stdout)["present"] == doc["copied"]
    assert os.listdir(tmp_path / "mirror" / "snapshots")
