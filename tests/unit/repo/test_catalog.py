"""load_snapshot: damaged bytes and malformed documents are integrity errors (exit 4); a bug in reading one is not."""

from __future__ import annotations

import pytest

from qfbackup.errors import IntegrityError
from qfbackup.repo import catalog
from qfbackup.repo.catalog import Snapshot, StreamRef, load_snapshot, save_snapshot
from qfbackup.repo.crypto import RepoKeys
from qfbackup.repo.objects import ObjectKind, seal_object
from qfbackup.repo.store_mem import MemStore

KEYS = RepoKeys.from_master(b"k" * 64)
STREAM = {"size": 10, "hash": "ab", "lists": ["cd"], "chunks": 1}


def _stored(doc: dict) -> tuple[MemStore, str]:
    """A store holding ``doc`` as an authentic snapshot object (right key, right name)."""
    store = MemStore()
    name, data = seal_object(KEYS, ObjectKind.SNAPSHOT, doc)
    store.put(catalog.SNAPSHOT_PREFIX + name, data)
    return store, name


def _valid() -> dict:
    snap = Snapshot(kind="stream", source="main", tags=["t"], streams={"base.tar": StreamRef(**STREAM)}, tree="ef")
    return snap.to_doc()


def test_a_saved_snapshot_loads_back():
    store = MemStore()
    snap = save_snapshot(store, KEYS, Snapshot(kind="stream", source="main", streams={"s": StreamRef(**STREAM)}))
    again = load_snapshot(store, KEYS, snap.id)
    assert again == snap and again.streams["s"] == StreamRef(**STREAM)


@pytest.mark.parametrize(
    ("edit", "why"),
    [
        (lambda d: d.update(surprise=1), "unknown keys ['surprise']"),
        (lambda d: d.pop("kind"), "missing keys ['kind']"),
        (lambda d: d.update(tags="t"), "tags is a str"),
        (lambda d: d.update(tags=[1]), "tags holds something other than text"),
        (lambda d: d.update(meta=[]), "meta is a list"),
        (lambda d: d.update(tree=3), "tree is a int"),
        (lambda d: d.update(streams={"s": []}), "stream 's' is not a stream reference"),
        (lambda d: d.update(streams={"s": {**STREAM, "extra": 1}}), "stream 's' is not a stream reference"),
        (lambda d: d.update(streams={"s": {**STREAM, "size": "10"}}), "stream 's' has a value of the wrong type"),
        (lambda d: d.update(streams={"s": {**STREAM, "lists": [None]}}), "lists something other than blob ids"),
    ],
)
def test_malformed_document_is_an_integrity_error(edit, why):
    doc = _valid()
    store, name = _stored(doc)
    assert load_snapshot(store, KEYS, name).kind == "stream"  # the unedited document is fine
    edit(doc)
    store, name = _stored(doc)
    with pytest.raises(IntegrityError, match="unexpected snapshot layout") as e:
        load_snapshot(store, KEYS, name)
    assert why in str(e.value) and e.value.exit_code == 4


def test_damaged_bytes_are_an_integrity_error():
    store, name = _stored(_valid())
    key = catalog.SNAPSHOT_PREFIX + name
    data = bytearray(store.get(key))
    data[-1] ^= 0x01
    store.put(key, bytes(data))
    with pytest.raises(IntegrityError, match=f"{key}: content does not match its name"):
        load_snapshot(store, KEYS, name)


def test_a_bug_while_reading_a_snapshot_is_not_corruption(monkeypatch):
    """A KeyError raised by the reader itself propagates (exit 70 at the command line), not as exit 4."""
    store, name = _stored(_valid())

    def broken(cls, d):
        raise KeyError("a bug in the reader")

    monkeypatch.setattr(StreamRef, "from_dict", classmethod(broken))
    with pytest.raises(KeyError, match="a bug in the reader"):
        load_snapshot(store, KEYS, name)
