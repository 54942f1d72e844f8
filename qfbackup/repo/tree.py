"""TREE blobs: one JSON document per directory of a file-set snapshot.

``{"entries": [{"name", "type": "file"|"dir"|"symlink", "mode", "mtime_ns", "uid", "gid",
"size", "hash", "lists": [...]}, ...]}`` where a file carries its stream's size, hash and LIST blob ids,
a directory carries ``"tree"`` (its own TREE blob id) and a symlink ``"target"``. Entries are sorted by name,
so an unchanged directory produces the same blob and deduplicates.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from qfbackup.repo.catalog import StreamRef


@dataclass(frozen=True)
class TreeEntry:
    name: str
    type: str
    mode: int
    mtime_ns: int
    uid: int = 0
    gid: int = 0
    stream: StreamRef | None = None
    tree: str | None = None
    target: str | None = None

    def to_dict(self) -> dict:
        d: dict = {
            "name": self.name,
            "type": self.type,
            "mode": self.mode,
            "mtime_ns": self.mtime_ns,
            "uid": self.uid,
            "gid": self.gid,
        }
        if self.stream is not None:
            d.update(
                size=self.stream.size,
                hash=self.stream.hash,
                lists=self.stream.lists,
                chunks=self.stream.chunks,
            )
        if self.tree is not None:
            d["tree"] = self.tree
        if self.target is not None:
            d["target"] = self.target
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TreeEntry:
        stream = StreamRef.from_dict(d) if d["type"] == "file" else None
        return cls(
            d["name"],
            d["type"],
            d["mode"],
            d["mtime_ns"],
            d.get("uid", 0),
            d.get("gid", 0),
            stream,
            d.get("tree"),
            d.get("target"),
        )


def encode_tree(entries: list[TreeEntry]) -> bytes:
    doc = {"entries": [e.to_dict() for e in sorted(entries, key=lambda e: e.name)]}
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


def decode_tree(data: bytes) -> list[TreeEntry]:
    return [TreeEntry.from_dict(d) for d in json.loads(data)["entries"]]
