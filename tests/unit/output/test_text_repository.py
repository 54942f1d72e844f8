"""The repository commands' text, from hand-built documents that satisfy their contracts: kinds named apart,
IEC sizes, UTC times, problems as lines naming the object, nothing of Python's reprs."""

from __future__ import annotations

import pytest

from qfbackup.output.contract import all_contracts, validate
from qfbackup.output.document import document
from qfbackup.output.text import repository as text

SNAP = "5f0c9a1be2d34c7f8a6b1e0d9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b"
BASE = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
PACK = "0c1d2e3f405162738495a6b7c8d9eafb0c1d2e3f405162738495a6b7c8d9eafb"
KEY, OTHER_KEY = "8e1f0a2b3c4d5e6f", "1234567890abcdef"
T = "2026-12-03T17:29:50+00:00"


def conforming(command: str, **data) -> dict:
    doc = document(command, **data)
    assert validate(doc, all_contracts()[command]) == []
    return doc


def _verify(**over) -> dict:
    data = dict(
        ok=True,
        snapshots={"wal": 16, "basebackup": 1, "files": 2},
        indexes=3,
        packs=12,
        read_data=True,
        subset=100.0,
        packs_read=12,
        bytes_read=48 * 1024 * 1024,
        blobs_checked=1234,
        errors=[],
        orphan_packs=[],
    )
    return conforming("verify", **{**data, **over})


def test_verify_names_kinds_apart_and_says_ok():
    out = text.verify(_verify())
    assert out.splitlines() == [
        "checked 1 base backup, 16 WAL batches, 2 file-set snapshots; 3 index files, 12 packs",
        "read 12 packs (48.0 MiB), 1234 blobs checked",
        "repository OK",
    ]


def test_verify_subset_and_structure_only():
    assert "a random 25% of them" in text.verify(_verify(subset=25.0, packs_read=3))
    structure = text.verify(_verify(read_data=False, packs_read=0, bytes_read=0, blobs_checked=0))
    assert "read" not in structure and structure.endswith("repository OK")
    assert text.verify(_verify(snapshots={})).startswith("checked no snapshots;")


def test_verify_problems_name_object_and_affected_snapshots():
    errors = [
        {
            "kind": "pack",
            "object": f"data/0c/{PACK}",
            "object_id": PACK,
            "message": "missing (named by an index)",
            "affected": [{"snapshot_id": BASE, "kind": "basebackup"}, {"snapshot_id": SNAP, "kind": "wal"}],
        },
        {"kind": "blob", "object": None, "object_id": SNAP, "message": "data chunk is in no index", "affected": []},
    ]
    out = text.verify(_verify(ok=False, errors=errors, orphan_packs=[f"data/0c/{PACK}"]))
    lines = out.splitlines()
    assert f"ERROR pack data/0c/{PACK}: missing (named by an index)" in lines
    assert "  affects base backup a1b2c3d4e5f6, WAL batch 5f0c9a1be2d3" in lines
    assert f"ERROR blob {SNAP[:16]}: data chunk is in no index" in lines
    assert "1 unreferenced pack from interrupted backups" in out
    assert "repository OK" not in out and "{" not in out


def test_snapshot_create_and_restore():
    doc = conforming(
        "snapshot create",
        id=SNAP,
        kind="files",
        source="/opt/quantum-forge-db",
        time=T,
        tags=["config"],
        files=3,
        dirs=1,
        bytes_in=3_000_000,
        bytes_new=2_999_000,
        bytes_stored=1536,
    )
    assert text.snapshot_create(doc) == (
        "file-set snapshot 5f0c9a1be2d3 of /opt/quantum-forge-db: 3 files, 1 directory; "
        "read 2.86 MiB, 2.86 MiB new, 1.50 KiB stored"
    )
    restored = conforming("snapshot restore", snapshot_id=SNAP, target="/tmp/r", files=1)
    assert text.snapshot_restore(restored) == "restored 1 file of file-set snapshot 5f0c9a1be2d3 into /tmp/r"


def test_snapshot_list_is_a_table_in_words():
    rows = [
        dict(id=BASE, time=T, kind="basebackup", source="main", host="vm", tags=[], bytes_in=2**30, bytes_stored=5),
        dict(id=SNAP, time=T, kind="wal", source="main", host="vm", tags=["x"], bytes_in=None, bytes_stored=None),
    ]
    lines = text.snapshot_list(conforming("snapshot list", snapshots=rows)).splitlines()
    assert lines[0].split() == ["ID", "TIME", "KIND", "SIZE", "SOURCE", "TAGS"]
    assert lines[1].startswith("a1b2c3d4e5f6  2026-12-03 17:29:50 UTC  base backup  1.00 GiB")
    assert "WAL batch" in lines[2] and lines[2].endswith("main    x")
    assert text.snapshot_list(conforming("snapshot list", snapshots=[])) == "no snapshots"


def test_repo_info_labels_values_and_indents_locks():
    lock = dict(
        id="00ff" * 8,
        exclusive=False,
        command="snapshot create",
        host="vm",
        pid=4242,
        created=T,
        refreshed=T,
        stale=True,
    )
    doc = conforming(
        "repo info",
        repository="/srv/qfbackup",
        id="0123456789abcdef0123456789abcdef",
        format_version=1,
        created=T,
        chunk_avg=1024 * 1024,
        pack_size=16 * 1024 * 1024,
        packs=2,
        stored_bytes=20 * 1024 * 1024,
        snapshots={"dump": 1, "wal": 2},
        locks=[lock],
    )
    lines = text.repo_info(doc).splitlines()
    assert "created         2026-12-03 17:29:50 UTC" in lines
    assert "stored          20.0 MiB in 2 packs" in lines
    assert "holds           1 dump, 2 WAL batches" in lines
    assert lines[-2] == "locks"
    assert lines[-1].startswith("  shared lock by 'snapshot create' on vm pid 4242, taken 2026-12-03 17:29:50 UTC")
    assert lines[-1].endswith("(id 00ff00ff00ff); probably stale")
    no_locks = text.repo_info({**doc, "locks": [], "snapshots": {}})
    assert "locks           none" in no_locks and "holds           no snapshots" in no_locks


def test_repo_init_and_cleanup():
    init = conforming(
        "repo init", repository="/r", id="ab" * 16, key_id=KEY, escrow_key_id=OTHER_KEY, escrow_keyfile="/k"
    )
    assert text.repo_init(init).splitlines() == [
        f"created repository {'ab' * 16} at /r",
        f"escrow key file /k (key {OTHER_KEY}): keep it offline",
    ]
    plain = conforming("repo init", repository="/r", id="ab" * 16, key_id=KEY, escrow_key_id=None, escrow_keyfile=None)
    assert "escrow" not in text.repo_init(plain)
    packs = [f"data/0c/{PACK}"]
    done = conforming("repo cleanup", dry_run=False, packs=packs, bytes=2048, temp_files=0)
    assert text.repo_cleanup(done) == "removed 1 unreferenced pack (2.00 KiB) and 0 temporary files"
    dry = conforming("repo cleanup", dry_run=True, packs=packs, bytes=2048, temp_files=0)
    assert text.repo_cleanup(dry).splitlines() == ["would remove 1 unreferenced pack (2.00 KiB)", f"  {packs[0]}"]


def test_copy_lists_removed_keys_and_corrupt_objects():
    doc = conforming(
        "copy",
        to="s3://b/p",
        copied=12,
        bytes_copied=3 * 1024**3,
        present=3,
        keys_removed=[KEY],
        corrupt=[f"data/0c/{PACK}"],
    )
    assert text.copy(doc).splitlines() == [
        "copied 12 objects (3.00 GiB) to s3://b/p; 3 already there",
        "removed 1 key gone here from the mirror:",
        f"  {KEY}",
        "not copied, corrupt here: 1 object",
        f"  data/0c/{PACK}",
    ]


@pytest.mark.parametrize("label", ["", "escrow"])
def test_key_commands(label):
    added = conforming("key add", id=KEY, kind="keyfile", label=label, created=T)
    assert text.key_add(added) == f"added keyfile key {KEY}" + (" (escrow)" if label else "")
    keys = [
        dict(id=OTHER_KEY, kind="passphrase", label="", created=T, host="vm", current=True),
        dict(id=KEY, kind="keyfile", label=label, created=T, host="vm", current=False),
    ]
    lines = text.key_list(conforming("key list", keys=keys)).splitlines()
    assert lines[1] == f"*  {OTHER_KEY}  passphrase  2026-12-03 17:29:50 UTC  vm"
    assert lines[2].startswith(f"   {KEY}  keyfile") and lines[-1].startswith("(* the key")
    assert text.key_remove(conforming("key remove", id=KEY)) == f"removed key {KEY}"
    passwd = conforming("key passwd", id=KEY, replaced_key_id=OTHER_KEY)
    assert text.key_passwd(passwd) == f"passphrase changed: key {KEY} replaces key {OTHER_KEY}"
