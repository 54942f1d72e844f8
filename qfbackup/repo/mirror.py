"""Copying a repository to its off-site mirror (S3): only what is missing, verified, in commit order.

Objects are immutable and named by content, so "missing" is decided by name and size, a re-run after a cut
copies only the rest (resumable), and every copied pack/index/snapshot is hashed before upload so a corrupt
local object is never spread to the mirror. The order is the writer's: keys and config, packs, indexes,
snapshots last, so the mirror is consistent at every moment. Key wrappings are mirrored exactly (a removed or
changed passphrase stops working off-site too); data is never deleted off-site by a copy.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
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
    keys_removed: list[str] = field(default_factory=list)  # ids of wrappings gone from the source
    corrupt: list[str] = field(default_factory=list)  # local objects that failed their hash: not copied


@dataclass(frozen=True)
class Transfer:
    name: str
    size: int
    verify: bool  # content-addressed: hashed before upload


@dataclass
class CopyPlan:
    """What a copy will do, decided from both sides' listings before the first byte moves (so progress knows
    its total): the objects to copy in commit order, the key wrappings to drop, how many are already there."""

    src: Store
    dst: Store
    transfers: list[Transfer]
    keys_to_remove: list[str]
    present: int

    @property
    def bytes(self) -> int:
        return sum(t.size for t in self.transfers)


def _check_same_repo(src: Store, dst: Store) -> None:
    src_cfg = Repository.read_config(src)
    if dst.exists(CONFIG_NAME):
        dst_cfg = Repository.read_config(dst)
        if dst_cfg.id != src_cfg.id:
            raise UsageError(
                f"{dst.url} holds another repository (id {dst_cfg.id}, not {src_cfg.id})",
                hint="point offsite.url at an empty prefix or at this repository's own mirror",
            )


@contextmanager
def destination_lock(
    src: Store, dst: Store, *, command: str = "copy", lock_wait: float = 0.0, warn=None
) -> Iterator[None]:
    """Refuse a ``dst`` holding another repository, then hold a shared lock on it (the caller holds one on
    ``src``) for as long as the copy is planned and run."""
    _check_same_repo(src, dst)
    with RepoLock(dst, exclusive=False, command=f"{command} (destination)", wait=lock_wait, warn=warn):
        yield


def copy_repository(src: Store, dst: Store, *, command: str = "copy", lock_wait: float = 0.0, warn=None) -> CopyReport:
    """Mirror ``src`` into ``dst``: lock, plan, copy (for callers that show no progress)."""
    with destination_lock(src, dst, command=command, lock_wait=lock_wait, warn=warn):
        return run_copy(plan_copy(src, dst))


def plan_copy(src: Store, dst: Store) -> CopyPlan:
    """Everything ``dst`` lacks, by name and size; call it under ``destination_lock``."""
    src_keys = {o.name: o.size for o in src.list("keys/")}
    if not src_keys:
        raise UsageError(f"{src.url} has no keys: refusing to mirror a repository nobody could open")
    dst_keys = {o.name: o.size for o in dst.list("keys/")}
    transfers = [Transfer(n, size, False) for n, size in sorted(src_keys.items()) if dst_keys.get(n) != size]
    present = len(src_keys) - len(transfers)
    if not dst.exists(CONFIG_NAME):
        transfers.append(Transfer(CONFIG_NAME, src.stat(CONFIG_NAME).size, False))
    else:
        present += 1
    # List in reverse commit order (snapshots, then indexes, then packs), copy in commit order: everything a
    # listed snapshot needs was durable before it, so it is in the later listings even if backups run meanwhile.
    listings = {prefix: sorted(src.list(prefix), key=lambda o: o.name) for prefix in reversed(CONTENT_ADDRESSED)}
    for prefix in CONTENT_ADDRESSED:
        have = {o.name: o.size for o in dst.list(prefix)}
        for obj in listings[prefix]:
            if have.get(obj.name) == obj.size:
                present += 1
            else:
                transfers.append(Transfer(obj.name, obj.size, True))
    return CopyPlan(src, dst, transfers, sorted(set(dst_keys) - set(src_keys)), present)


def run_copy(plan: CopyPlan, *, progress=None) -> CopyReport:
    """Copy what ``plan`` lists, in its order; ``progress(nbytes)`` after each object."""
    report = CopyReport(present=plan.present)
    for t in plan.transfers:
        try:
            _copy(plan.src, plan.dst, t, report)
        except IntegrityError:
            # Keep mirroring everything healthy: one bad local pack must not freeze the off-site copy.
            report.corrupt.append(t.name)
        if progress:
            progress(t.size)
    for name in plan.keys_to_remove:
        plan.dst.delete(name)
        report.keys_removed.append(name.removeprefix("keys/"))
    return report


def _copy(src: Store, dst: Store, t: Transfer, report: CopyReport) -> None:
    # Objects are bounded (packs ~16 MiB), so hashing before upload keeps memory bounded too.
    data = src.get(t.name)
    if t.verify and content_hash(data) != t.name.rsplit("/", 1)[1]:
        raise IntegrityError(f"local {t.name} is corrupt; not copied", hint="run `qfbackup verify --read-data`")
    dst.put(t.name, data)
    report.copied += 1
    report.bytes_copied += len(data)
