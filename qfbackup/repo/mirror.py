"""Copying a repository to its off-site mirror (S3): only what is missing, verified, in commit order.

Objects are immutable and named by content, so "missing" is decided by name and size, a re-run after a cut
copies only the rest (resumable), and every copied pack/index/snapshot is hashed before upload so a corrupt
local object is never spread to the mirror. The order is the writer's: keys and config, packs, indexes,
snapshots last, so the mirror is consistent at every moment. Key wrappings are mirrored exactly (a removed or
changed passphrase stops working off-site too); data is never deleted off-site by a copy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from qfbackup.errors import IntegrityError, UsageError
from qfbackup.repo.crypto import content_hash
from qfbackup.repo.lock import RepoLock
from qfbackup.repo.repository import CONFIG_NAME, Repository
from qfbackup.repo.store import Store

CONTENT_ADDRESSED = ("data/", "index/", "snapshots/")


@dataclass
class CopyReport:
    copied: int = 0
    bytes_copied: int = 0
    present: int = 0
    keys_removed: list[str] = field(default_factory=list)
    corrupt: list[str] = field(default_factory=list)  # local objects that failed their hash: not copied


def _check_same_repo(src: Store, dst: Store) -> None:
    src_cfg = Repository.read_config(src)
    if dst.exists(CONFIG_NAME):
        dst_cfg = Repository.read_config(dst)
        if dst_cfg.id != src_cfg.id:
            raise UsageError(
                f"{dst.url} holds another repository (id {dst_cfg.id}, not {src_cfg.id})",
                hint="point offsite.url at an empty prefix or at this repository's own mirror",
            )


def copy_repository(
    src: Store, dst: Store, *, progress=None, command: str = "copy", lock_wait: float = 0.0, warn=None
) -> CopyReport:
    """Mirror ``src`` into ``dst`` under a shared lock on ``dst`` (the caller holds one on ``src``)."""
    _check_same_repo(src, dst)
    with RepoLock(dst, exclusive=False, command=f"{command} (destination)", wait=lock_wait, warn=warn):
        return _copy_all(src, dst, progress)


def _copy_all(src: Store, dst: Store, progress) -> CopyReport:
    report = CopyReport()
    src_keys = {o.name: o.size for o in src.list("keys/")}
    if not src_keys:
        raise UsageError(f"{src.url} has no keys: refusing to mirror a repository nobody could open")
    dst_keys = {o.name: o.size for o in dst.list("keys/")}
    for name in sorted(src_keys):
        if dst_keys.get(name) != src_keys[name]:
            _copy(src, dst, name, report, verify=False)
        else:
            report.present += 1
    if not dst.exists(CONFIG_NAME):
        _copy(src, dst, CONFIG_NAME, report, verify=False)
    else:
        report.present += 1
    # List in reverse commit order (snapshots, then indexes, then packs), copy in commit order: everything a
    # listed snapshot needs was durable before it, so it is in the later listings even if backups run meanwhile.
    listings = {prefix: sorted(src.list(prefix), key=lambda o: o.name) for prefix in reversed(CONTENT_ADDRESSED)}
    for prefix in CONTENT_ADDRESSED:
        have = {o.name: o.size for o in dst.list(prefix)}
        for obj in listings[prefix]:
            if have.get(obj.name) == obj.size:
                report.present += 1
                continue
            try:
                _copy(src, dst, obj.name, report, verify=True)
            except IntegrityError:
                # Keep mirroring everything healthy: one bad local pack must not freeze the off-site copy.
                report.corrupt.append(obj.name)
            if progress:
                progress(obj.size)
    for name in sorted(set(dst_keys) - set(src_keys)):
        dst.delete(name)
        report.keys_removed.append(name)
    return report


def _copy(src: Store, dst: Store, name: str, report: CopyReport, *, verify: bool) -> None:
    # Objects are bounded (packs ~16 MiB), so hashing before upload keeps memory bounded too.
    data = src.get(name)
    if verify and content_hash(data) != name.rsplit("/", 1)[1]:
        raise IntegrityError(f"local {name} is corrupt; not copied", hint="run `qfbackup verify --read-data`")
    dst.put(name, data)
    report.copied += 1
    report.bytes_copied += len(data)
