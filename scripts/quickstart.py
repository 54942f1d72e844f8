"""The quickstart's main job on a built-in sandbox (run by ./scripts/quickstart after it installed everything).

A sandbox "database host" (a real PostgreSQL 15 archiving WAL, behind a real sshd with its own host key) and a
local S3 server stand in for the VMS host and the off-site store. The real ``qfbackup`` CLI then runs the whole
cycle, each command printed as an operator would type it: WAL pull, base backup, dump and a config snapshot
while a trades workload runs, a full verify, the off-site copy, and a restore drill to a random point in time in
a network-less container, whose report ends the run. Exit status is the drill's.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.harness.pg import PgCluster  # noqa: E402  (the same real services the tests use)
from tests.harness.seaweed import SeaweedS3  # noqa: E402
from tests.harness.sshd import SshServer  # noqa: E402
from tests.support.sandbox import sandbox_policy  # noqa: E402

SANDBOX = Path(os.environ.get("QFBACKUP_SANDBOX", "/tmp/qfbackup-quickstart"))
CACHE = Path(os.environ.get("QFBACKUP_QUICKSTART_CACHE", "/var/cache/qfbackup"))  # keeps the drill image
QFBACKUP = [str(ROOT / ".venv" / "bin" / "qfbackup")]

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


def main() -> None:
    shutil.rmtree(SANDBOX, ignore_errors=True)
    SANDBOX.mkdir(parents=True)
    rnd = random.Random()
    say("starting the sandbox: a database host (PostgreSQL 15 + sshd) and an off-site S3 store (SeaweedFS)")
    with PgCluster(archive_timeout=10) as pg, SshServer() as sshd, SeaweedS3() as s3:
        pg.psql("create database signalcartel")
        pg.psql(
            "create table trades (id bigserial primary key, ts timestamptz not null default now(),"
            " symbol text not null, price numeric not null, qty int not null)",
            dbname="signalcartel",
        )
        bucket = s3.create_bucket("qfbackup-offsite")
        creds = SANDBOX / "s3-credentials"
        creds.write_text(f"access_key={s3.access_key}\nsecret_key={s3.secret_key}\n")
        creds.chmod(0o600)
        offsite = (
            f'\n[offsite]\nurl = "{s3.url(bucket, "quantum-forge")}"\nendpoint = "{s3.endpoint}"\n'
            f'credentials_file = "{creds}"\n'
        )
        policy = sandbox_policy(
            SANDBOX / "site",
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
        qf("repo", "init", "--escrow-keyfile", str(SANDBOX / "escrow.key"), env=env)

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
            str(make_config_tree(SANDBOX / "vms-host" / "opt" / "quantum-forge-db")),
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
        code = qf("drill", "run", env=env, check=False)
        qf("drill", "history", env=env)
    print(f"\nsandbox: {SANDBOX} (policy, escrow key); drill image cache: {CACHE / 'drill'}")
    if code != 0:
        raise SystemExit(f"quickstart: the restore drill FAILED (exit {code})")
    print("quickstart: OK")


if __name__ == "__main__":
    main()
