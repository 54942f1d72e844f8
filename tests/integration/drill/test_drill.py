"""Restore drills end to end: real PostgreSQL 15 backups restored in real containers, and the ways they must fail."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from qfbackup.drill.run import Drill
from qfbackup.output.contract import check
from qfbackup.pg import wal
from tests.integration.ingest.conftest import make_ingest
from tests.integration.restore.test_pitr import run_workload
from tests.support.tty import run_with_terminal

pytestmark = [pytest.mark.pg, pytest.mark.sshd, pytest.mark.container]

DRILL = """
[drill]
cluster = "main"
memory_mib = 1024
timeout_minutes = 5

[[drill.checks]]
name = "trades-present"
sql = "select count(*) from trades"
expect = ">= 1"
database = "signalcartel"

[[drill.checks]]
name = "no-null-price"
sql = "select count(*) from trades where price is null"
expect = "== 0"
database = "signalcartel"

[[drill.checks]]
name = "trades-reach-target"
sql = "select max(ts) from trades"
expect = "within 10m before target"
database = "signalcartel"
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory, sshd, drill_cache, drill_image, drill_engine):
    """One workload for the module: backups and WAL of a trades database, with a drill policy."""
    from qfbackup.sandbox.pg import PgCluster

    tmp = tmp_path_factory.mktemp("drill")
    pg = PgCluster().start()
    try:
        pg.psql("create database signalcartel")
        ing = make_ingest(tmp, sshd, {"main": pg}, databases={"main": ["signalcartel"]}, extra=DRILL)
        # drills share the machine's test image cache: <repository.cache_dir>/drill -> it
        cache = tmp / "site" / "cache"
        cache.mkdir(parents=True, exist_ok=True)
        (cache / "drill").symlink_to(drill_cache)
        run_workload(pg, ing.cli, batches=4)
        for i in range(3):  # WAL well past the newest base backup, so losing a segment of it matters
            pg.psql(f"insert into trades (batch, price) values ({100 + i}, 5)", dbname="signalcartel")
            pg.switch_wal()
        ing.cli.run("wal", "pull")
        ing.cli.run("backup", "dump", "--cluster", "main")
        yield ing, pg
    finally:
        pg.stop()


ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def leftovers(engine, drill_cache: Path) -> tuple[list, list]:
    work = drill_cache / "work"
    return engine.list_containers(), sorted(work.iterdir()) if work.exists() else []


def test_random_pitr_drill_passes_with_phases_rto_rpo_and_history(site, drill_engine, drill_cache):
    ing, _ = site
    out = ing.cli.run("--json", "drill", "run", "--seed", "7")
    r = json.loads(out.stdout)
    print(f"drill --seed 7: target {r['target']}")
    assert r["passed"], r["failures"]
    assert r["target"]["kind"] == "time" and set(r["phases"]) == {"fetch", "restore", "replay", "checks"}
    assert r["rto_seconds"] == pytest.approx(sum(r["phases"].values()), abs=0.05) and r["rto_seconds"] > 0
    assert r["rpo_seconds"] >= 0 and r["target_to_newest_wal_seconds"] > 0
    proofs = [p["message"] for p in r["proofs"]]
    assert any("recovery stopping" in p for p in proofs) and any("amcheck" in p for p in proofs)
    assert [c["ok"] for c in r["checks"]] == [True, True, True]
    assert "\x1b[" not in out.stderr and "replay and checks" not in out.stderr  # no phases drawn off a terminal
    hist = json.loads(ing.cli.run("--json", "drill", "history").stdout)
    assert hist["drills"][0]["id"] == r["id"] and hist["trend"]["passed"] >= 1
    assert leftovers(drill_engine, drill_cache) == ([], [])


def test_latest_and_dump_drills_pass_showing_their_phases_on_a_terminal(site):
    """Run with stderr on a terminal: the phases show as they happen (the restore with a percentage) while stdout
    stays exactly the document; with -q the terminal stays empty."""
    ing, _ = site
    shown = run_with_terminal(["--json", "drill", "run", "--target", "latest"], ing.cli.env)
    assert shown.returncode == 0, shown.terminal
    latest = json.loads(shown.stdout)
    assert check(latest) == [] and latest["passed"], latest["failures"]
    assert any("inside the newest stored WAL" in p["message"] for p in latest["proofs"])
    terminal = ESCAPES.sub("", shown.terminal)
    assert all(phase in terminal for phase in ("prepare", "plan", "restore", "replay and checks")), terminal
    assert re.search(r"restore\s+\S+\s+\d+% ", terminal), terminal
    quiet = run_with_terminal(["-q", "--json", "drill", "run", "--dump"], ing.cli.env)
    assert quiet.returncode == 0 and quiet.terminal == "", quiet.terminal
    dump = json.loads(quiet.stdout)
    assert check(dump) == [] and dump["passed"], dump["failures"]
    assert dump["kind"] == "dump" and all(c["ok"] for c in dump["checks"])
    assert dump["target"]["database"] == "signalcartel" and dump["target_to_newest_wal_seconds"] is None


def test_policy_check_of_the_drill_site(site):
    """`policy check` on the site's policy: the verdict and the drill checks counted; the policy only with --show."""
    ing, _ = site
    text = ing.cli.run("policy", "check").stdout
    assert text.splitlines()[0] == f"policy {ing.policy} is valid.", text
    doc = json.loads(ing.cli.run("--json", "policy", "check").stdout)
    assert doc["valid"] and doc["summary"]["drill_checks"] == 3 and "policy" not in doc, doc
    shown = json.loads(ing.cli.run("--json", "policy", "check", "--show").stdout)
    assert [c["name"] for c in shown["policy"]["drill"]["checks"]] == [
        "trades-present",
        "no-null-price",
        "trades-reach-target",
    ]


def failing(ing, before_start=None, target="random", seed=3):
    """A point-in-time drill through the library, ``before_start`` mutating its workspace; seed and target printed."""
    repo, policy = ing.open_repo()
    r = Drill(repo, policy, before_start=before_start).pitr("main", target, seed=seed)
    print(f"drill seed {seed}: target {r.target}, failures {r.failures}")
    return r


def test_restore_command_that_cannot_read_wal_fails(site, drill_engine, drill_cache):
    ing, _ = site

    def wrong_owner(work: Path) -> None:  # as if the container's postgres uid differed from the host's
        for f in (work / "wal").iterdir():
            os.chown(f, 54321, 54321)
            f.chmod(0o600)

    r = failing(ing, wrong_owner)
    assert not r.passed and not r.proofs and not r.checks, r
    # Every restore_command fails, so recovery ends at the base backup's own WAL, short of the target, and
    # PostgreSQL stops with this FATAL a few milliseconds after it began accepting read-only connections.
    # Whether `pg_ctl -w start` (polling every 0.1 s) saw those milliseconds decides only how the script names
    # the server's end (failed-to-start, usually, or died); the reason quoted from the server log is the outcome.
    assert len(r.failures) == 1, r.failures
    assert re.fullmatch(
        r"server (failed-to-start|died): recovery ended before configured recovery target was reached", r.failures[0]
    ), r.failures
    assert leftovers(drill_engine, drill_cache) == ([], [])


def test_wal_missing_before_target_fails(site):
    ing, _ = site
    seen: dict[str, str] = {}

    def drop_one(work: Path) -> None:
        segments = sorted(p for p in (work / "wal").iterdir() if len(p.name) == 24)
        segments[-2].unlink()  # past the base backup: the tar's own pg_wal cannot stand in for it
        seen.update(dropped=segments[-2].name, newest=segments[-1].name)

    r = failing(ing, drop_one, target="latest")
    assert not r.passed, r
    # Replay ends where the archive does (before the dropped segment) and, no target being set, promotes there:
    # the verdict sees replay short of the newest staged segment.
    assert len(r.failures) == 1, r.failures
    match = re.fullmatch(
        rf"replay stopped at (\S+), before the newest stored WAL {seen['newest']} \(starts at \S+\): WAL was not read",
        r.failures[0],
    )
    assert match, (seen, r.failures)
    dropped_start = wal.segment_start_lsn(wal.parse_segment_name(seen["dropped"])[1])
    assert wal.parse_lsn(match.group(1)) <= dropped_start, (match.group(1), seen)


def test_corrupted_chunk_fails(site, tmp_path):
    ing, _ = site
    repo_dir = ing.dir / "repo"
    backup = tmp_path / "repo-copy"
    shutil.copytree(repo_dir, backup)
    try:
        for pack in (repo_dir / "data").rglob("*"):
            if pack.is_file():
                data = bytearray(pack.read_bytes())
                data[len(data) // 3] ^= 0x55
                pack.write_bytes(bytes(data))
        r = failing(ing)
        assert not r.passed and any("Integrity check failed" in f for f in r.failures), r.failures
    finally:
        shutil.rmtree(repo_dir)
        shutil.copytree(backup, repo_dir)


def test_wrong_key_fails(site):
    ing, _ = site
    good = (ing.dir / "passphrase").read_text()
    (ing.dir / "passphrase").write_text("not the passphrase\n")
    try:
        proc = ing.cli.run("drill", "run", check=False)
        assert proc.returncode == 5 and "wrong passphrase" in proc.stderr
    finally:
        (ing.dir / "passphrase").write_text(good)


def test_invariant_that_does_not_hold_fails(site):
    ing, _ = site
    original = ing.policy.read_text()
    ing.policy.write_text(original.replace('expect = "== 0"', 'expect = "== 42"'))
    try:
        proc = ing.cli.run("--json", "drill", "run", "--target", "latest", check=False)
        r = json.loads(proc.stdout)
        assert proc.returncode == 12 and not r["passed"]
        assert any("no-null-price" in f["message"] and "42" in f["message"] for f in r["failures"]), r["failures"]
    finally:
        ing.policy.write_text(original)


def test_interrupted_drill_leaves_nothing(site, drill_engine, drill_cache):
    ing, _ = site
    proc = ing.cli.popen("drill", "run", "--target", "latest", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not drill_engine.list_containers():
        exited = proc.poll() is not None
        assert time.monotonic() < deadline and not exited, proc.stderr.read() if exited else "no container in 120 s"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    assert leftovers(drill_engine, drill_cache) == ([], [])


def test_no_engine_says_what_to_install(site):
    ing, _ = site
    env = dict(ing.cli.env, PATH="/nonexistent")
    proc = subprocess.run(
        [ing.cli.env.get("PYTHON", os.sys.executable), "-m", "qfbackup", "drill", "run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 11, proc.stderr
    assert "podman" in proc.stderr and "install" in proc.stderr.lower()
