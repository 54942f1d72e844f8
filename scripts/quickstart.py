"""The quickstart's main job on a built-in sandbox (run by ./scripts/quickstart after it installed everything).

A sandbox "database host" (a real PostgreSQL 15 archiving WAL, behind a real sshd with its own host key) and a
local S3 server stand in for the VMS host and the off-site store (``qfbackup.sandbox``, the services the tests
use). The real ``qfbackup`` CLI then runs the whole cycle, each command printed as an operator would type it: WAL
pull, base backup, dump and a config snapshot while a trades workload runs, a full verify, the off-site copy, and
a restore drill to a random point in time in a network-less container, whose report ends the run. Exit status is
the drill's.

The sandbox directory is created by the run and marked (``qfbackup.sandbox.marker``): the next run replaces only
a directory so marked, so ``--dir`` naming an existing directory is refused and left untouched.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

from qfbackup.sandbox import HarnessError
from qfbackup.sandbox.marker import create_dir, remove_dir
from qfbackup.sandbox.pg import PgCluster
from qfbackup.sandbox.seaweed import SeaweedS3
from qfbackup.sandbox.site import sandbox_policy
from qfbackup.sandbox.sshd import SshServer

CREATOR = "quickstart"
CACHE = Path(os.environ.get("QFBACKUP_QUICKSTART_CACHE", "/var/cache/qfbackup"))  # keeps the drill image
QFBACKUP = [str(Path(sys.executable).parent / "qfbackup")]  # the installed entry point, as an operator runs it

DRILL = """
[drill]
cluster = "signalcartel"
memory_mib = 1024
timeout_minutes = 10

[[drill.checks]]
name = "trades-present"
sql = "select count(*) from trades"
expect = ">= 1"

[[drill.checks]]
name = "no-null-price"
sql = "select count(*) from trades where price is null"
expect = "== 0"

[[drill.checks]]
name = "trades-reach-target"
sql = "select max(ts) from trades"
expect = "within 15m before target"
"""


def say(text: str) -> None:
    print(f"\n== {text}", flush=True)


def qf(*args: str, env: dict, json_out: bool = False, check: bool = True):
    shown = " ".join(shlex.quote(a) for a in ("qfbackup", *args))
    print(f"$ {shown}", flush=True)
    argv = [*QFBACKUP, *(("--json",) if json_out else ()), *args]
    proc = subprocess.run(argv, env=env, text=True, capture_output=json_out)
    if json_out:
        sys.stderr.write(proc.stderr)
    if check and proc.returncode != 0:
        raise SystemExit(f"quickstart: `{shown}` failed with exit code {proc.returncode}")
    return json.loads(proc.stdout) if json_out and proc.stdout.strip() else proc.returncode


def trades(pg: PgCluster, batches: int, rnd: random.Random) -> None:
    for _ in range(batches):
        pg.psql(
            "insert into trades (symbol, price, qty) select (array['BTC','ETH','SOL'])[1 + g % 3],"
            f" {rnd.randint(100, 900)} + g % 50, 1 + g % 9 from generate_series(1, 2000) g",
            dbname="signalcartel",
        )
        time.sleep(0.2)


def make_config_tree(root: Path) -> Path:
    """A stand-in for /opt/quantum-forge-db on the VMS host: compose file, .env secrets, pgBouncer config."""
    (root / "pgbouncer").mkdir(parents=True)
    (root / "docker-compose.yml").write_text("services:\n  signalcartel-db-primary:\n    image: postgres:15\n")
    env = root / ".env"
    env.write_text(f"DB_PASSWORD={secrets.token_hex(16)}\n")
    env.chmod(0o600)
    (root / "pgbouncer" / "pgbouncer.ini").write_text("[databases]\nsignalcartel = host=127.0.0.1 port=5432\n")
    return root


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/quickstart", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--dir",
        type=Path,
        default=Path(os.environ.get("QFBACKUP_SANDBOX", "/tmp/qfbackup-quickstart")),
        help="the sandbox directory: must not exist, or be one an earlier quickstart made (default"
        " $QFBACKUP_SANDBOX or /tmp/qfbackup-quickstart)",
    )
    parser.add_argument("--seed", type=int, help="seed for the workload and the drill's target (to repeat a run)")
    parser.add_argument("--clean-up", action="store_true", help="remove the sandbox directory at the end (CI)")
    return parser.parse_args(argv)


def _sigterm_to_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    # A CI timeout sends SIGTERM, whose default action skips every `finally`: PostgreSQL would keep running.
    signal.signal(signal.SIGTERM, _sigterm_to_interrupt)
    sandbox = args.dir.absolute()
    try:
        remove_dir(sandbox, CREATOR)  # the previous run's sandbox; anything else is refused, untouched
        create_dir(sandbox, CREATOR)
    except HarnessError as e:
        raise SystemExit(f"quickstart: {e}") from None
    try:
        code = run_cycle(sandbox, random.SystemRandom().randrange(2**31) if args.seed is None else args.seed)
    finally:
        if args.clean_up:
            remove_dir(sandbox, CREATOR)
    kept = "removed" if args.clean_up else "kept (policy, escrow key)"
    print(f"\nsandbox {sandbox}: {kept}; drill image cache: {CACHE / 'drill'}")
    if code != 0:
        raise SystemExit(f"quickstart: the restore drill FAILED (exit {code})")
    print("quickstart: OK")


def run_cycle(sandbox: Path, seed: int) -> int:
    """Services up, the whole cycle through the CLI, services down; returns the drill's exit code."""
    print(f"seed: {seed} (repeat with --seed {seed})")
    rnd = random.Random(seed)
    say("starting the sandbox: a database host (PostgreSQL 15 + sshd) and an off-site S3 store (SeaweedFS)")
    with PgCluster(archive_timeout=10) as pg, SshServer() as sshd, SeaweedS3() as s3:
        pg.psql("create database signalcartel")
        pg.psql(
            "create table trades (id bigserial primary key, ts timestamptz not null default now(),"
            " symbol text not null, price numeric not null, qty int not null)",
            dbname="signalcartel",
        )
        bucket = s3.create_bucket("qfbackup-offsite")
        creds = sandbox / "s3-credentials"
        creds.write_text(f"access_key={s3.access_key}\nsecret_key={s3.secret_key}\n")
        creds.chmod(0o600)
        offsite = (
            f'\n[offsite]\nurl = "{s3.url(bucket, "quantum-forge")}"\nendpoint = "{s3.endpoint}"\n'
            f'credentials_file = "{creds}"\n'
        )
        policy = sandbox_policy(
            sandbox / "site",
            sshd=sshd,
            clusters={"signalcartel": pg},
            databases={"signalcartel": ["signalcartel"]},
            extra=offsite + DRILL,
            cache_dir=CACHE,
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("QFBACKUP_", "AWS_"))}
        env["QFBACKUP_POLICY"] = str(policy)
        print(f"policy: {policy}")

        say("check the policy, create the encrypted repository (keep the escrow key file offline)")
        qf("policy", "check", env=env)
        qf("repo", "init", "--escrow-keyfile", str(sandbox / "escrow.key"), env=env)

        say("nightly jobs while trades flow: base backup, WAL pull, dump, config snapshot")
        trades(pg, 3, rnd)
        qf("backup", "base", "--cluster", "signalcartel", env=env)
        trades(pg, 4, rnd)
        pg.switch_wal()
        qf("wal", "pull", env=env)
        qf("backup", "dump", "--cluster", "signalcartel", env=env)
        qf(
            "snapshot",
            "create",
            str(make_config_tree(sandbox / "vms-host" / "opt" / "quantum-forge-db")),
            "--tag",
            "config",
            env=env,
        )
        trades(pg, 4, rnd)
        pg.switch_wal()
        qf("wal", "pull", env=env)
        qf("wal", "status", env=env)
        qf("list", env=env)

        say("verify every stored byte, then mirror to the off-site store")
        qf("verify", "--read-data", env=env)
        qf("copy", "--to", "offsite", env=env)

        say("weekly restore drill: a random point in time, restored in a container with no network")
        qf("drill", "image", "build", env=env)
        code = qf("drill", "run", "--seed", str(seed), env=env, check=False)
        qf("drill", "history", env=env)
    return code


if __name__ == "__main__":
    main()
