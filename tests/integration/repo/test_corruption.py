"""Damage on disk is found by ``verify --read-data`` (object named, exit 4) and makes restores fail loudly."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.support.seed import rng

FILES = {"a.bin": 2_500_000, "b.bin": 1_500_000}


@pytest.fixture
def backed_up(cli, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name, size in FILES.items():
        (src / name).write_bytes(os.urandom(size))
    snap = json.loads(cli.run("--json", "snapshot", "create", str(src)).stdout)["id"]
    return cli, Path(cli.repo), snap


def objects(repo: Path, prefix: str) -> list[Path]:
    return sorted(p for p in (repo / prefix).rglob("*") if p.is_file())


def verify_errors(cli) -> tuple[int, str, dict]:
    proc = cli.run("--json", "verify", "--read-data", check=False)
    return proc.returncode, proc.stderr, json.loads(proc.stdout)


def restore_fails(cli, snap, target) -> str:
    proc = cli.run("snapshot", "restore", snap, str(target), check=False)
    assert proc.returncode != 0, "restore of damaged data must fail"
    assert "Traceback" not in proc.stderr
    return proc.stderr


@pytest.mark.parametrize("prefix", ["data", "index", "snapshots"])
def test_flipped_byte_named(backed_up, tmp_path, prefix):
    cli, repo, snap = backed_up
    pick = rng(f"flipped-byte-{prefix}")
    victim = pick.choice(objects(repo, prefix))
    data = bytearray(victim.read_bytes())
    data[pick.randrange(len(data))] ^= 0x01
    victim.write_bytes(bytes(data))
    code, _, report = verify_errors(cli)
    name = str(victim.relative_to(repo))
    assert code == 4 and any(e["object"] == name for e in report["errors"]), report["errors"]
    restore_fails(cli, snap, tmp_path / "out")


@pytest.mark.parametrize("prefix", ["data", "index", "snapshots"])
def test_truncated_object_named(backed_up, tmp_path, prefix):
    cli, repo, snap = backed_up
    victim = objects(repo, prefix)[0]
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])
    code, _, report = verify_errors(cli)
    assert code == 4 and any(e["object"] == str(victim.relative_to(repo)) for e in report["errors"])
    restore_fails(cli, snap, tmp_path / "out")


def test_deleted_pack_named_with_affected_snapshot(backed_up, tmp_path):
    cli, repo, snap = backed_up
    victim = objects(repo, "data")[0]
    victim.unlink()
    code, _, report = verify_errors(cli)
    named = [e for e in report["errors"] if e["object"] == str(victim.relative_to(repo))]
    assert code == 4 and named and [a["snapshot_id"] for a in named[0]["affected"]] == [snap]
    assert "missing" in restore_fails(cli, snap, tmp_path / "out")


def test_deleted_index_reported(backed_up, tmp_path):
    cli, repo, snap = backed_up
    objects(repo, "index")[0].unlink()
    code, _, report = verify_errors(cli)
    assert code == 4 and any("in no index" in e["message"] for e in report["errors"])
    assert report["orphan_packs"], "the index's packs become visible as unreferenced"
    restore_fails(cli, snap, tmp_path / "out")


def test_swapped_snapshot_named(cli, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    ids = []
    for i in range(2):
        (src / "f").write_bytes(os.urandom(100_000 + i))
        ids.append(json.loads(cli.run("--json", "snapshot", "create", str(src)).stdout)["id"])
    repo = Path(cli.repo)
    a, b = repo / "snapshots" / ids[0], repo / "snapshots" / ids[1]
    da, db = a.read_bytes(), b.read_bytes()
    a.write_bytes(db)
    b.write_bytes(da)
    code, _, report = verify_errors(cli)
    named = {e["object"] for e in report["errors"]}
    assert code == 4 and named == {f"snapshots/{ids[0]}", f"snapshots/{ids[1]}"}
    restore_fails(cli, ids[0], tmp_path / "out")


def test_edited_config_detected(backed_up):
    cli, repo, _ = backed_up
    cfg = json.loads((repo / "config").read_text())
    cfg["chunk_avg"] *= 2
    (repo / "config").write_text(json.dumps(cfg))
    proc = cli.run("snapshot", "list", check=False)
    assert proc.returncode == 4 and "config has been modified" in proc.stderr


def test_verify_reports_clean_repository(backed_up):
    cli, _, _ = backed_up
    code, _, report = verify_errors(cli)
    assert code == 0 and report["ok"] and report["blobs_checked"] > 10 and report["errors"] == []
