"""The quickstart's main job on a built-in sandbox (run by ./scripts/quickstart after it installed everything).

It drives the real ``qfbackup`` CLI, printing each command as an operator would type it: init an encrypted
repository with an escrow key file, back up a config + model tree, back it up again after a "retrain" to show
deduplication, verify every byte, mirror to a local SeaweedFS S3 server, restore from the local repository and
from the S3 mirror alone, and compare both restores with the source byte for byte.
"""

from __future__ import annotations

import filecmp
import json
import os
import random
import secrets
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.harness.seaweed import SeaweedS3  # noqa: E402  (the same real S3 server the tests use)

SANDBOX = Path(os.environ.get("QFBACKUP_SANDBOX", "/tmp/qfbackup-quickstart"))
QFBACKUP = [str(ROOT / ".venv" / "bin" / "qfbackup")]


def say(text: str) -> None:
    print(f"\n== {text}", flush=True)


def qf(*args: str, env: dict, json_out: bool = False) -> dict | list | None:
    shown = " ".join(shlex.quote(a) for a in ("qfbackup", *args))
    print(f"$ {shown}", flush=True)
    argv = [*QFBACKUP, *(("--json",) if json_out else ()), *args]
    proc = subprocess.run(argv, env=env, text=True, capture_output=json_out)
    if proc.returncode != 0:
        if json_out:
            sys.stderr.write(proc.stderr)
        raise SystemExit(f"quickstart: `{shown}` failed with exit code {proc.returncode}")
    if json_out:
        sys.stderr.write(proc.stderr)
        return json.loads(proc.stdout)
    return None


def make_source(src: Path) -> None:
    """A stand-in for the VMS host's /opt/quantum-forge-db and dev server 2's model directory."""
    (src / "init-scripts").mkdir(parents=True)
    (src / "pgbouncer").mkdir()
    (src / "models" / "pattern-net").mkdir(parents=True)
    (src / "docker-compose.yml").write_text("services:\n  signalcartel-db-primary:\n    image: postgres:15\n")
    env = src / ".env"
    env.write_text(f"DB_PASSWORD={secrets.token_hex(16)}\nANALYTICS_PASSWORD={secrets.token_hex(16)}\n")
    env.chmod(0o600)
    (src / "init-scripts" / "01-schema.sql").write_text("CREATE TABLE trades (id bigserial, price numeric);\n")
    (src / "pgbouncer" / "pgbouncer.ini").write_text("[databases]\nsignalcartel = host=127.0.0.1 port=5432\n")
    rnd = random.Random(42)
    for i in range(3):
        (src / "models" / "pattern-net" / f"layer-{i}.bin").write_bytes(rnd.randbytes(16 * 1024 * 1024))


def retrain(src: Path) -> None:
    """Change ~1% of one model file, as a fine-tuning run would."""
    path = src / "models" / "pattern-net" / "layer-1.bin"
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid : mid + len(data) // 100] = random.Random(7).randbytes(len(data) // 100)
    path.write_bytes(bytes(data))


def same_tree(a: Path, b: Path) -> bool:
    cmp = filecmp.dircmp(a, b)
    if cmp.left_only or cmp.right_only or cmp.diff_files or cmp.funny_files:
        return False
    files_equal = all(filecmp.cmp(a / n, b / n, shallow=False) for n in cmp.common_files)
    return files_equal and all(same_tree(a / d, b / d) for d in cmp.common_dirs)


def main() -> None:
    shutil.rmtree(SANDBOX, ignore_errors=True)
    SANDBOX.mkdir(parents=True)
    passfile = SANDBOX / "passphrase"
    passfile.write_text(secrets.token_urlsafe(24) + "\n")
    passfile.chmod(0o600)
    src = SANDBOX / "vms-host" / "opt" / "quantum-forge-db"
    make_source(src)
    env = {k: v for k, v in os.environ.items() if not k.startswith("QFBACKUP_")}
    env.update(QFBACKUP_REPO=str(SANDBOX / "repo"), QFBACKUP_PASSPHRASE_FILE=str(passfile))

    say("starting a local S3 server (SeaweedFS) as the off-site store")
    with SeaweedS3() as s3:
        bucket = s3.create_bucket("qfbackup-offsite")
        env.update({k: v for k, v in s3.env().items() if k.startswith("AWS_")})
        mirror = s3.url(bucket, "quantum-forge")

        say("create an encrypted repository; keep the escrow key file offline")
        qf("repo", "init", "--escrow-keyfile", str(SANDBOX / "escrow.key"), env=env)
        say("back up configuration and models, then again after a retrain")
        first = qf("snapshot", "create", str(src), "--tag", "config", "--tag", "models", env=env, json_out=True)
        retrain(src)
        second = qf("snapshot", "create", str(src), "--tag", "config", "--tag", "models", env=env, json_out=True)
        qf("snapshot", "list", env=env)
        say("verify every stored byte")
        report = qf("verify", "--read-data", env=env, json_out=True)
        say("mirror to S3, then restore from the local repository and from the S3 mirror alone")
        qf("copy", "--to", mirror, env=env)
        qf("snapshot", "restore", second["snapshot"][:12], str(SANDBOX / "restore-local"), env=env)
        s3_env = {**env, "QFBACKUP_REPO": mirror}
        qf("verify", "--read-data", env=s3_env)
        qf("snapshot", "restore", second["snapshot"][:12], str(SANDBOX / "restore-s3"), env=s3_env)

    local_ok = same_tree(src, SANDBOX / "restore-local")
    s3_ok = same_tree(src, SANDBOX / "restore-s3")
    say("report")
    rows = [
        ("first backup: bytes read / stored", f"{first['stats']['bytes_in']:,} / {first['stats']['bytes_stored']:,}"),
        ("after retrain: bytes read / new", f"{second['stats']['bytes_in']:,} / {second['stats']['bytes_stored']:,}"),
        ("verify --read-data", f"ok, {report['blobs_checked']} blobs in {report['packs_read']} packs"),
        ("restore from local repository", "identical to source" if local_ok else "DIFFERS"),
        ("restore from S3 mirror alone", "identical to source" if s3_ok else "DIFFERS"),
        ("sandbox", str(SANDBOX)),
    ]
    for label, value in rows:
        print(f"  {label:36} {value}")
    if not (local_ok and s3_ok and report["ok"]):
        raise SystemExit("quickstart: FAILED")
    print("\nquickstart: OK")


if __name__ == "__main__":
    main()
