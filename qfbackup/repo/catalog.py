"""Snapshots: the encrypted manifests that make stored data visible, committed last and atomically.

A snapshot is one whole object ``snapshots/<hash>``. It is written only after every pack and index it depends
on is durable, with one atomic ``put``; so a crash leaves either no snapshot or a complete one.
Streams are referenced through LIST blobs (each a slice of the stream's chunk ids), which keeps a snapshot
small whatever the stream size.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from qfbackup.errors import CorruptObject, IntegrityError, NotFound, UsageError
from qfbackup.repo.crypto import RepoKeys
from qfbackup.repo.objects import ObjectKind, open_object, seal_object
from qfbackup.repo.store import Store

SNAPSHOT_PREFIX = "snapshots/"


@dataclass(frozen=True)
class StreamRef:
    """A stored byte stream: its size, keyed hash and the LIST blobs naming its chunks in order."""

    size: int
    hash: str
    lists: list[str]
    chunks: int

    @classmethod
    def from_dict(cls, d: dict) -> StreamRef:
        return cls(d["size"], d["hash"], list(d["lists"]), d["chunks"])


@dataclass
class Snapshot:
    kind: str  # "files", "stream", later "basebackup", "wal", "dump"
    source: str
    time: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="microseconds"))
    host: str = ""
    tags: list[str] = field(default_factory=list)
    meta: dict = field(default_factory=dict)
    streams: dict[str, StreamRef] = field(default_factory=dict)
    tree: str | None = None
    stats: dict = field(default_factory=dict)
    id: str = ""

    @property
    def short_id(self) -> str:
        return self.id[:12]

    def to_doc(self) -> dict:
        d = asdict(self)
        d.pop("id")
        d["version"] = 1
        return d

    @classmethod
    def from_doc(cls, snap_id: str, d: dict) -> Snapshot:
        d = dict(d)
        d.pop("version", None)
        d["streams"] = {k: StreamRef.from_dict(v) for k, v in d.get("streams", {}).items()}
        return cls(id=snap_id, **d)

    def blob_roots(self) -> list[str]:
        """Ids of the LIST and TREE blobs this snapshot references directly."""
        roots = [lst for ref in self.streams.values() for lst in ref.lists]
        if self.tree:
            roots.append(self.tree)
        return roots


def save_snapshot(store: Store, keys: RepoKeys, snap: Snapshot) -> Snapshot:
    name, data = seal_object(keys, ObjectKind.SNAPSHOT, snap.to_doc())
    store.put(SNAPSHOT_PREFIX + name, data)
    snap.id = name
    return snap


# The keys of a snapshot document and the JSON types their values must have (``to_doc``'s output).
_REQUIRED = ("kind", "source")
_DOC_TYPES: dict[str, type | tuple[type, ...]] = {
    "version": int,
    "kind": str,
    "source": str,
    "time": str,
    "host": str,
    "tags": list,
    "meta": dict,
    "streams": dict,
    "tree": (str, type(None)),
    "stats": dict,
}
_STREAM_TYPES: dict[str, type] = {"size": int, "hash": str, "lists": list, "chunks": int}


def _layout_problem(doc: dict) -> str | None:
    """What makes ``doc`` not a snapshot document ``Snapshot.from_doc`` can read, or None. Checked before reading
    it, so a malformed (but authentic) snapshot is reported as such and a bug in the reader is not."""
    if unknown := sorted(set(doc) - set(_DOC_TYPES)):
        return f"unknown keys {unknown}"
    if missing := [k for k in _REQUIRED if k not in doc]:
        return f"missing keys {missing}"
    for k, v in doc.items():
        if not isinstance(v, _DOC_TYPES[k]):
            return f"{k} is a {type(v).__name__}"
    if not all(isinstance(tag, str) for tag in doc.get("tags", [])):
        return "tags holds something other than text"
    for label, ref in doc.get("streams", {}).items():
        if not isinstance(ref, dict) or set(ref) != set(_STREAM_TYPES):
            return f"stream {label!r} is not a stream reference"
        if not all(isinstance(ref[k], want) for k, want in _STREAM_TYPES.items()):
            return f"stream {label!r} has a value of the wrong type"
        if not all(isinstance(lst, str) for lst in ref["lists"]):
            return f"stream {label!r} lists something other than blob ids"
    return None


def load_snapshot(store: Store, keys: RepoKeys, snap_id: str) -> Snapshot:
    """Read, authenticate and check one snapshot. Raises IntegrityError for damaged bytes or a malformed document."""
    name = SNAPSHOT_PREFIX + snap_id
    data = store.get(name)
    try:
        doc = open_object(keys, ObjectKind.SNAPSHOT, snap_id, data)
    except CorruptObject as e:
        raise IntegrityError(f"{name}: {e}") from None
    if problem := _layout_problem(doc):
        raise IntegrityError(f"{name}: unexpected snapshot layout ({problem})")
    return Snapshot.from_doc(snap_id, doc)


def snapshot_ids(store: Store) -> list[str]:
    return [o.name.removeprefix(SNAPSHOT_PREFIX) for o in store.list(SNAPSHOT_PREFIX)]


def resolve_snapshot_id(store: Store, prefix: str) -> str:
    """Accept a unique id prefix (at least 4 hex digits), as operators type short ids from ``list``."""
    if len(prefix) < 4:
        raise UsageError(f"snapshot id {prefix!r} is too short: give at least 4 characters")
    matches = [i for i in snapshot_ids(store) if i.startswith(prefix)]
    if not matches:
        raise NotFound(f"no snapshot {prefix!r}", hint="run `qfbackup snapshot list`")
    if len(matches) > 1:
        raise UsageError(f"snapshot id {prefix!r} is ambiguous ({len(matches)} match): give more characters")
    return matches[0]
