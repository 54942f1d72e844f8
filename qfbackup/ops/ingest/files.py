"""File-set snapshots of local directories: back up a tree, restore it byte-exact with modes and times.

Files are stored as streams (so retrained models deduplicate chunk by chunk), directories as TREE blobs.
Restore writes into a new or empty target and refuses to overwrite, because a restore that clobbers the
wrong directory at 3 a.m. is worse than one that stops and asks.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from qfbackup.catalog import kinds
from qfbackup.common.atomic import write_atomic
from qfbackup.errors import UsageError
from qfbackup.repo.catalog import Snapshot
from qfbackup.repo.objects import BlobType
from qfbackup.repo.tree import TreeEntry, decode_tree, encode_tree


@dataclass
class FilesResult:
    """A committed file-set snapshot; ``bytes_stored`` is what the repository grew by (snapshot object included)."""

    snapshot: Snapshot
    files: int
    dirs: int
    bytes_in: int
    bytes_new: int
    bytes_stored: int


def _store_dir(writer, path: Path, counts: dict, exclude) -> str:
    entries = []
    with os.scandir(path) as it:
        items = sorted(it, key=lambda e: e.name)
    for item in items:
        full = Path(item.path)
        if exclude and exclude(full):
            continue
        st = item.stat(follow_symlinks=False)
        common = {
            "name": item.name,
            "mode": stat.S_IMODE(st.st_mode),
            "mtime_ns": st.st_mtime_ns,
            "uid": st.st_uid,
            "gid": st.st_gid,
        }
        if item.is_symlink():
            entries.append(TreeEntry(type="symlink", target=os.readlink(full), **common))
        elif item.is_dir(follow_symlinks=False):
            counts["dirs"] += 1
            entries.append(TreeEntry(type="dir", tree=_store_dir(writer, full, counts, exclude), **common))
        elif item.is_file(follow_symlinks=False):
            counts["files"] += 1
            with open(full, "rb") as f:
                entries.append(TreeEntry(type="file", stream=writer.store_stream(f), **common))
        # sockets, fifos and devices are skipped: nothing in a config or model tree needs them
    return writer.add_blob(BlobType.TREE, encode_tree(entries)).hex()


def backup_directory(
    repo,
    path: Path,
    *,
    tags=(),
    exclude=None,
    level: int = 3,
    workers: int = 2,
    progress=None,
    meta: dict | None = None,
) -> FilesResult:
    path = path.absolute()
    if not path.is_dir():
        raise UsageError(f"{path} is not a directory")
    counts = {"files": 0, "dirs": 0}
    with repo.writer(level=level, workers=workers, progress=progress) as w:
        root = _store_dir(w, path, counts, exclude)
        snap = w.commit(
            Snapshot(
                kind=kinds.FILES,
                source=str(path),
                tags=list(tags),
                tree=root,
                meta=dict(meta or {}),
                stats=dict(counts),
            )
        )
        stats = w.stats
    return FilesResult(
        snap, counts["files"], counts["dirs"], stats["bytes_in"], stats["bytes_new"], stats["bytes_stored"]
    )


def _check_target(target: Path) -> None:
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise UsageError(
            f"restore target {target} exists and is not empty", hint="restore into a new or empty directory"
        )


def restore_directory(repo, snap: Snapshot, target: Path, *, progress=None) -> int:
    """Restore a files snapshot into ``target``; returns the number of files written."""
    if snap.tree is None:
        raise UsageError(f"snapshot {snap.short_id} is a {snap.kind} snapshot, not a file set")
    _check_target(target)
    target.mkdir(parents=True, exist_ok=True)
    return _restore_tree(repo, bytes.fromhex(snap.tree), target, progress, os.geteuid() == 0)


def _restore_tree(repo, tree_id: bytes, dest: Path, progress, chown: bool) -> int:
    written = 0
    dirs = []
    for e in decode_tree(repo.read_blob(tree_id)):
        out = dest / e.name
        if "/" in e.name or e.name in ("", ".", ".."):
            raise UsageError(f"refusing unsafe file name {e.name!r} in snapshot")
        if e.type == "dir":
            out.mkdir()
            written += _restore_tree(repo, bytes.fromhex(e.tree), out, progress, chown)
            dirs.append((out, e))
            continue
        if e.type == "symlink":
            os.symlink(e.target, out)
        else:
            # a file only appears once its content verified
            write_atomic(out, repo.read_stream(e.stream, progress=progress), mode=0o600)
            written += 1
        _apply_meta(out, e, chown)
    for out, e in dirs:  # directories last: writing into them changed their mtime
        _apply_meta(out, e, chown)
    return written


def _apply_meta(path: Path, e: TreeEntry, chown: bool) -> None:
    if chown:
        os.chown(path, e.uid, e.gid, follow_symlinks=False)
    if e.type != "symlink":
        os.chmod(path, e.mode)
    os.utime(path, ns=(e.mtime_ns, e.mtime_ns), follow_symlinks=False)
