"""``verify``: prove the repository's invariants (docs/format.md), naming every missing or corrupt object.

Structure check (always): every index and snapshot opens under its name; every pack an index names exists with
the recorded size; every blob a snapshot reaches (LIST, TREE, DATA) is in an index. With ``read_data``: every
referenced pack (or a random subset) is downloaded, its hash compared with its name, its header and every blob
authenticated, decompressed and checked against its id. Problems name the object and the snapshots affected.
Packs no index names are orphans of an interrupted writer: reported, not an error (``repo cleanup`` removes them).
"""

from __future__ import annotations

import random
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from qfbackup.errors import CorruptObject, IntegrityError, ObjectMissing
from qfbackup.repo.catalog import SNAPSHOT_PREFIX, load_snapshot, snapshot_ids
from qfbackup.repo.crypto import content_hash
from qfbackup.repo.index import pack_name
from qfbackup.repo.objects import open_blob
from qfbackup.repo.pack import read_header
from qfbackup.repo.tree import decode_tree

#: what a problem is about (``Problem.kind``)
PACK, INDEX, SNAPSHOT, KEY, BLOB = "pack", "index", "snapshot", "key", "blob"


@dataclass(frozen=True)
class Affected:
    """A snapshot that needs a damaged object: restoring it may fail until the object is repaired."""

    snapshot_id: str
    kind: str


@dataclass
class Problem:
    """One missing or damaged object, as data (the text is the renderer's): what it is, its name in the store
    (None for a blob no index places anywhere), its id, what is wrong, and the snapshots that need it."""

    kind: str
    object: str | None
    object_id: str
    message: str
    affected: list[Affected] = field(default_factory=list)


def _named(kind: str, name: str, message: str) -> Problem:
    """A problem with a stored object ``<prefix>/.../<id>``."""
    return Problem(kind, name, name.rsplit("/", 1)[1], message)


@dataclass
class VerifyReport:
    #: snapshots checked, by kind (an unreadable one is in ``errors`` instead: its kind cannot be known)
    snapshots: dict[str, int] = field(default_factory=dict)
    indexes: int = 0
    packs: int = 0
    packs_read: int = 0
    bytes_read: int = 0
    blobs_checked: int = 0
    errors: list[Problem] = field(default_factory=list)
    orphan_packs: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


class _Walker:
    """Walks every snapshot's blob graph, recording what each pack is needed for."""

    def __init__(self, repo, report: VerifyReport) -> None:
        self.repo = repo
        self.report = report
        self.pack_users: dict[str, set[str]] = defaultdict(set)
        self.kinds: dict[str, str] = {}  # snapshot id -> kind
        self.seen: set[bytes] = set()

    def affected(self, snap_ids) -> list[Affected]:
        return [Affected(s, self.kinds[s]) for s in sorted(snap_ids)]

    def _blob_problem(self, blob_id: bytes, pack: str | None, message: str, snap: str) -> None:
        where = pack_name(pack) if pack else None
        self.report.errors.append(Problem(BLOB, where, blob_id.hex(), message, self.affected([snap])))

    def _need(self, blob_id: bytes, snap: str, what: str) -> bool:
        loc = self.repo.index.get(blob_id)
        if loc is None:
            self._blob_problem(blob_id, None, f"{what} is in no index", snap)
            return False
        self.pack_users[loc.pack].add(snap)
        return True

    def _read(self, blob_id: bytes, snap: str, what: str) -> bytes | None:
        if not self._need(blob_id, snap, what):
            return None
        try:
            return self.repo.read_blob(blob_id)
        except IntegrityError as e:
            loc = self.repo.index.get(blob_id)
            self._blob_problem(blob_id, loc.pack if loc else None, f"{what}: {e.message}", snap)
            return None

    def snapshot(self, snap) -> None:
        self.kinds[snap.id] = snap.kind
        for ref in snap.streams.values():
            self.stream(ref.lists, snap.id)
        if snap.tree:
            self.tree(snap.tree, snap.id)

    def stream(self, lists: list[str], snap: str) -> None:
        for list_hex in lists:
            ids = self._read(bytes.fromhex(list_hex), snap, "chunk list")
            if ids is None:
                continue
            for i in range(0, len(ids), 32):
                blob_id = ids[i : i + 32]
                if blob_id not in self.seen:
                    self.seen.add(blob_id)
                    self._need(blob_id, snap, "data chunk")
                else:
                    loc = self.repo.index.get(blob_id)
                    if loc:
                        self.pack_users[loc.pack].add(snap)

    def tree(self, tree_hex: str, snap: str) -> None:
        data = self._read(bytes.fromhex(tree_hex), snap, "directory tree")
        if data is None:
            return
        for entry in decode_tree(data):
            if entry.stream is not None:
                self.stream(entry.stream.lists, snap)
            if entry.tree:
                self.tree(entry.tree, snap)


def _check_keys(repo, report: VerifyReport) -> None:
    """Key objects are plain JSON: a damaged one would only show when someone needs that key."""
    from qfbackup.repo.keys import check_key_object

    for obj in repo.store.list("keys/"):
        problem = check_key_object(repo.store, obj.name)
        if problem:
            report.errors.append(_named(KEY, obj.name, problem))


def _check_pack(repo, name: str, indexed: dict[bytes, tuple]) -> tuple[int, int, list[str]]:
    """Read one whole pack and check everything in it; returns (bytes, blobs, problems)."""
    try:
        data = repo.store.get(name)
    except ObjectMissing:
        return 0, 0, ["missing"]
    problems = []
    if content_hash(data) != name.rsplit("/", 1)[1]:
        problems.append("content does not match its name (corrupted or truncated)")
    try:
        entries = {e.id: e for e in read_header(repo.keys, data)}
    except CorruptObject as e:
        return len(data), 0, [*problems, f"unreadable header: {e}"]
    checked = 0
    for blob_id, (offset, length, raw_len) in indexed.items():
        e = entries.get(blob_id)
        if e is None or (e.offset, e.length, e.raw_len) != (offset, length, raw_len):
            problems.append(f"blob {blob_id.hex()[:16]} not where the index says")
            continue
        try:
            open_blob(repo.keys, blob_id, memoryview(data)[offset : offset + length], raw_len)
            checked += 1
        except CorruptObject as err:
            problems.append(f"blob {blob_id.hex()[:16]}: {err}")
    return len(data), checked, problems


@dataclass(frozen=True)
class ReadPlan:
    """The packs ``--read-data`` will download (each with the blobs the indexes place in it) and their size in
    all, known before the first byte is read so that progress can show a total."""

    blobs: dict[str, dict[bytes, tuple[int, int, int]]]
    bytes: int


class Verifier:
    """verify in steps, so a caller can show the reading's total before it starts: the constructor checks the
    structure (always), ``plan_read`` chooses the packs, ``read_data`` reads them; ``report`` holds the findings."""

    def __init__(self, repo) -> None:
        self.repo = repo
        self.report = VerifyReport()
        self._walker = _Walker(repo, self.report)
        self._stored: dict[str, int] = {}
        self._check_structure()

    def _check_structure(self) -> None:
        repo, report = self.repo, self.report
        # Snapshots first: a backup committing meanwhile then adds index entries we see, never a snapshot we can't.
        snap_ids = snapshot_ids(repo.store)
        _check_keys(repo, report)
        repo.invalidate_index()
        repo._index = repo.load_index(
            on_corrupt=lambda name, e: report.errors.append(_named(INDEX, name, f"corrupt index: {e}"))
        )
        report.indexes = len(repo.index_names())
        self._stored = {o.name: o.size for o in repo.store.list("data/")}
        for pack in repo.index.packs():
            name = pack_name(pack)
            report.packs += 1
            if name not in self._stored:
                report.errors.append(_named(PACK, name, "missing (named by an index)"))
            elif self._stored[name] != repo.index.pack_sizes[pack]:
                report.errors.append(
                    _named(
                        PACK,
                        name,
                        f"size {self._stored[name]} but index says {repo.index.pack_sizes[pack]} (truncated?)",
                    )
                )
        indexed_names = {pack_name(p) for p in repo.index.packs()}
        report.orphan_packs = sorted(n for n in self._stored if n not in indexed_names)

        for snap_id in snap_ids:
            try:
                snap = load_snapshot(repo.store, repo.keys, snap_id)
            except IntegrityError as e:
                report.errors.append(_named(SNAPSHOT, SNAPSHOT_PREFIX + snap_id, e.message.split(": ", 2)[-1]))
                continue
            except ObjectMissing:
                report.errors.append(_named(SNAPSHOT, SNAPSHOT_PREFIX + snap_id, "vanished during verify"))
                continue
            report.snapshots[snap.kind] = report.snapshots.get(snap.kind, 0) + 1
            self._walker.snapshot(snap)
        for problem in report.errors:
            if problem.kind == PACK:
                problem.affected = self._walker.affected(self._walker.pack_users.get(problem.object_id, ()))

    def plan_read(self, subset: float = 100.0) -> ReadPlan:
        """Every pack any index record names (every copy of every blob, not only the one the index serves), or a
        random ``subset`` percentage of them (at least one)."""
        per_pack: dict[str, dict[bytes, tuple[int, int, int]]] = defaultdict(dict)
        for rec in self.repo.pack_records():
            for blob_id, _btype, _comp, offset, length, raw_len in rec.blobs:
                per_pack[rec.id][blob_id] = (offset, length, raw_len)
        packs = sorted(per_pack)
        if subset < 100.0:
            packs = random.sample(packs, max(1, round(len(packs) * subset / 100.0))) if packs else []
        chosen = {p: per_pack[p] for p in packs}
        return ReadPlan(chosen, sum(self._stored.get(pack_name(p), 0) for p in chosen))

    def read_data(self, plan: ReadPlan, *, progress=None, workers: int = 2) -> None:
        """Download and check the planned packs; ``progress(nbytes)`` after each."""
        report = self.report
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="qfbackup-verify") as pool:
            results = pool.map(lambda p: (p, _check_pack(self.repo, pack_name(p), plan.blobs[p])), plan.blobs)
            for pack, (nbytes, blobs, problems) in results:
                report.packs_read += 1
                report.bytes_read += nbytes
                report.blobs_checked += blobs
                if progress:
                    progress(nbytes)
                already = {p.object for p in report.errors}
                affected = self._walker.affected(self._walker.pack_users.get(pack, ()))
                for msg in problems:
                    if msg == "missing" and pack_name(pack) in already:
                        continue
                    report.errors.append(Problem(PACK, pack_name(pack), pack, msg, affected))


def verify(repo, *, read_data: bool = False, subset: float = 100.0, progress=None, workers: int = 2) -> VerifyReport:
    """Every step in one call, for callers that show no total."""
    verifier = Verifier(repo)
    if read_data:
        verifier.read_data(verifier.plan_read(subset), progress=progress, workers=workers)
    return verifier.report
