"""An opened, unlocked repository: config, keys, index and snapshots over one Store.

This is the library entry point tests and commands use::

    repo = Repository.open(open_store(url), credential)
    with repo.lock(command="backup"), repo.writer() as w:
        ref = w.store_stream(fileobj)
        w.commit(Snapshot(kind="stream", source="x", streams={"data": ref}))
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import socket
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace

from qfbackup.common.units import utc_now
from qfbackup.errors import (
    CorruptObject,
    IntegrityError,
    ObjectMissing,
    RepositoryExists,
    RepositoryNotFound,
    UnsupportedFormat,
    UsageError,
)
from qfbackup.repo import catalog, keys
from qfbackup.repo.catalog import Snapshot
from qfbackup.repo.crypto import MASTER_SECRET_LEN, RepoKeys, hkdf
from qfbackup.repo.index import Index, PackRecord, decode_index
from qfbackup.repo.lock import RepoLock
from qfbackup.repo.objects import MAX_SUPPORTED_WRITE_VERSION, MIN_SUPPORTED_READ_VERSION
from qfbackup.repo.store import Store

CONFIG_NAME = "config"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RepoConfig:
    version: int
    id: str
    created: str
    chunk_min: int
    chunk_avg: int
    chunk_max: int
    pack_size: int
    mac: str = ""

    def _body(self) -> bytes:
        d = asdict(self)
        d.pop("mac")
        return json.dumps(d, sort_keys=True, separators=(",", ":")).encode()

    def signed(self, master: bytes) -> RepoConfig:
        """The config is read before unlock, so it is plain JSON; a MAC made with the master key detects edits."""
        return replace(self, mac=hmac.new(hkdf(master, b"qfbackup/v1/config-mac"), self._body(), "sha256").hexdigest())

    def check(self, master: bytes) -> None:
        if not hmac.compare_digest(self.signed(master).mac, self.mac):
            raise IntegrityError(
                "the repository config has been modified", hint="restore `config` from the off-site copy"
            )

    @classmethod
    def new(cls, chunk_avg: int = 64 * 1024, pack_size: int = 16 * 1024 * 1024) -> RepoConfig:
        return cls(
            version=MAX_SUPPORTED_WRITE_VERSION,
            id=os.urandom(16).hex(),
            created=utc_now(),
            chunk_min=chunk_avg // 4,
            chunk_avg=chunk_avg,
            chunk_max=chunk_avg * 4,
            pack_size=pack_size,
        )


class Repository:
    def __init__(self, store: Store, config: RepoConfig, repo_keys: RepoKeys, key_id: str, master: bytes):
        self.store = store
        self.config = config
        self.keys = repo_keys
        self.key_id = key_id
        self._master = master
        self._index: Index | None = None
        self.unreadable_snapshots: dict[str, str] = {}  # filled by snapshots()

    def __repr__(self) -> str:
        return f"Repository({self.store.url!r}, id={self.config.id})"

    # -- life cycle ---------------------------------------------------------------------------------------
    @classmethod
    def init(
        cls,
        store: Store,
        cred: keys.Credential,
        *,
        chunk_avg: int = 64 * 1024,
        pack_size: int = 16 * 1024 * 1024,
    ) -> Repository:
        if store.exists(CONFIG_NAME):
            raise RepositoryExists(store.url, hint="use it as it is, or choose another path")
        master = os.urandom(MASTER_SECRET_LEN)
        config = RepoConfig.new(chunk_avg=chunk_avg, pack_size=pack_size).signed(master)
        # The key goes first: a config without a key would be a repository nobody can open.
        key_info = keys.add_key(store, config.id, master, cred, label=f"initial ({socket.gethostname()})")
        store.put(CONFIG_NAME, json.dumps(asdict(config), indent=1).encode())
        return cls(store, config, RepoKeys.from_master(master), key_info.id, master)

    @classmethod
    def read_config(cls, store: Store) -> RepoConfig:
        try:
            raw = json.loads(store.get(CONFIG_NAME))
        except ObjectMissing:
            raise RepositoryNotFound(
                store.url, hint="check the path, or create one with `qfbackup repo init`"
            ) from None
        except ValueError:
            raw = None
        if not isinstance(raw, dict):
            raise IntegrityError("the repository config is damaged", hint="restore `config` from the off-site copy")
        version = raw.get("version")
        if not isinstance(version, int) or not MIN_SUPPORTED_READ_VERSION <= version <= MAX_SUPPORTED_WRITE_VERSION:
            raise UnsupportedFormat(
                f"repository format version {version} is not supported by this qfbackup "
                f"(reads {MIN_SUPPORTED_READ_VERSION}..{MAX_SUPPORTED_WRITE_VERSION})",
                hint="upgrade qfbackup",
            )
        try:
            return RepoConfig(**raw)
        except TypeError:
            raise IntegrityError(
                "the repository config is damaged", hint="restore `config` from the off-site copy"
            ) from None

    @classmethod
    def open(cls, store: Store, cred: keys.Credential) -> Repository:
        config = cls.read_config(store)
        master, key_id = keys.unlock(store, config.id, cred)
        config.check(master)
        return cls(store, config, RepoKeys.from_master(master), key_id, master)

    # -- keys -------------------------------------------------------------------------------------------------
    def add_key(self, cred: keys.Credential, label: str = "") -> keys.KeyInfo:
        return keys.add_key(self.store, self.config.id, self._master, cred, label)

    def change_passphrase(self, new: keys.Credential) -> keys.KeyInfo:
        """Add the new wrapping first, then drop the old: at no moment is there no way in."""
        current = next(k for k in keys.list_keys(self.store) if k.id == self.key_id)
        if current.kind != "passphrase":
            raise UsageError(
                "you unlocked with a key file; `key passwd` changes the passphrase you unlock with",
                hint="unlock with the passphrase to change it (the key file stays valid)",
            )
        info = self.add_key(new, label="changed passphrase")
        old = self.key_id
        self.key_id = info.id
        self.store.delete(f"keys/{old}")
        return info

    # -- locking ----------------------------------------------------------------------------------------------
    def lock(
        self,
        *,
        command: str,
        exclusive: bool = False,
        wait: float = 0.0,
        break_lock: bool = False,
        warn=None,
        best_effort: bool = False,
    ):
        return RepoLock(
            self.store,
            exclusive=exclusive,
            command=command,
            wait=wait,
            break_lock=break_lock,
            warn=warn,
            best_effort=best_effort,
        )

    # -- index ------------------------------------------------------------------------------------------------
    @property
    def index(self) -> Index:
        if self._index is None:
            self._index = self.load_index()
        return self._index

    def index_names(self) -> list[str]:
        return [o.name for o in self.store.list("index/")]

    def load_index(self, on_corrupt=None) -> Index:
        """Read every index file. A corrupt one is an integrity error unless ``on_corrupt`` takes it (verify)."""
        idx = Index()
        for name in self.index_names():
            try:
                for rec in decode_index(self.keys, name.removeprefix("index/"), self.store.get(name)):
                    idx.add_pack(rec)
            except (CorruptObject, ObjectMissing) as e:
                if on_corrupt is None:
                    raise IntegrityError(f"{name}: {e}", hint="run `qfbackup verify` for the full picture") from None
                on_corrupt(name, e)
        return idx

    def pack_records(self) -> Iterator[PackRecord]:
        """Every pack record of every readable index file (verify reads them all, duplicates included)."""
        for name in self.index_names():
            try:
                yield from decode_index(self.keys, name.removeprefix("index/"), self.store.get(name))
            except (CorruptObject, ObjectMissing):
                continue  # already reported by load_index

    def invalidate_index(self) -> None:
        self._index = None

    # -- reading and writing ---------------------------------------------------------------------------------
    def writer(self, *, level: int = 3, workers: int = 2, progress=None):
        from qfbackup.repo.writer import RepoWriter

        return RepoWriter(self, level=level, workers=workers, progress=progress)

    def read_stream(self, ref: catalog.StreamRef, *, progress=None, workers: int = 2) -> Iterator[bytes]:
        from qfbackup.repo.reader import read_stream

        return read_stream(self, ref, progress=progress, workers=workers)

    def read_blob(self, blob_id: bytes) -> bytes:
        from qfbackup.repo.reader import read_blob

        return read_blob(self, blob_id)

    # -- snapshots --------------------------------------------------------------------------------------------
    def snapshots(self) -> list[Snapshot]:
        """Every readable snapshot. A damaged one is skipped with a warning (verify names it): one bad old object
        must not stop WAL archiving or every restore during an outage. The skipped ones stay listed in
        ``unreadable_snapshots`` (id -> why) so that a restore or drill can say what it may be missing."""
        snaps = []
        self.unreadable_snapshots = {}
        for snap_id in catalog.snapshot_ids(self.store):
            try:
                snaps.append(catalog.load_snapshot(self.store, self.keys, snap_id))
            except (IntegrityError, ObjectMissing) as e:
                self.unreadable_snapshots[snap_id] = str(e)
                log.warning("skipping unreadable snapshot %s: %s (run `qfbackup verify`)", snap_id[:12], e)
        return sorted(snaps, key=lambda s: s.time)

    def snapshot(self, id_or_prefix: str) -> Snapshot:
        return catalog.load_snapshot(self.store, self.keys, catalog.resolve_snapshot_id(self.store, id_or_prefix))
