"""In-memory backend for unit tests of pure repository logic (never the proof that storage works)."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from typing import BinaryIO

from qfbackup.errors import ObjectMissing
from qfbackup.repo.store import ObjectInfo, validate_name


class MemStore:
    def __init__(self, url: str = "mem://") -> None:
        self.url = url
        self.objects: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def put(self, name: str, data: bytes | BinaryIO) -> None:
        blob = bytes(data) if isinstance(data, bytes | bytearray | memoryview) else data.read()
        with self._lock:
            self.objects[validate_name(name)] = blob

    def get(self, name: str) -> bytes:
        try:
            return self.objects[name]
        except KeyError:
            raise ObjectMissing(name) from None

    def get_range(self, name: str, offset: int, length: int) -> bytes:
        return self.get(name)[offset : offset + length]

    def open(self, name: str) -> BinaryIO:
        return io.BytesIO(self.get(name))

    def stat(self, name: str) -> ObjectInfo:
        return ObjectInfo(name, len(self.get(name)))

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        with self._lock:
            items = [(k, len(v)) for k, v in self.objects.items() if k.startswith(prefix)]
        for k, n in items:
            yield ObjectInfo(k, n)

    def delete(self, name: str) -> None:
        with self._lock:
            self.objects.pop(name, None)

    def exists(self, name: str) -> bool:
        return name in self.objects
