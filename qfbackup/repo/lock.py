"""Repository locks: shared for readers and appenders, exclusive for anything that deletes.

Appenders only add content-addressed objects, so any number may run together; prune and clean-up delete
objects another process may be about to reference, so they need the repository alone. A lock is an object
``locks/<random>`` holding host, process identity (pid, start time, boot id) and times; it is refreshed while held.
A lock whose process is gone (same host; the pid gone, or now another process's, see common/process.py) is stale
and removed with a warning. A lock from another host cannot be checked: it is
reported as probably stale once not refreshed for ``STALE_AFTER`` seconds, and only ``--break-lock`` removes it.
A live process on this host keeps its lock even against ``--break-lock``.
"""

from __future__ import annotations

import json
import os
import random
import socket
import threading
import time
from dataclasses import dataclass

from qfbackup.common.process import ProcessIdentity, current, is_alive
from qfbackup.errors import ObjectMissing, RepositoryLocked, StorageError
from qfbackup.repo.store import Store

REFRESH_EVERY = 300.0
STALE_AFTER = 1800.0


@dataclass(frozen=True)
class LockInfo:
    name: str
    host: str
    pid: int
    exclusive: bool
    created: float
    refreshed: float
    command: str
    #: the holder's start time and boot id (absent in locks written before they were recorded)
    start_ticks: int | None = None
    boot_id: str | None = None

    def describe(self) -> str:
        kind = "exclusive" if self.exclusive else "shared"
        age = int(time.time() - self.created)
        return f"{kind} lock by {self.command!r} on {self.host} pid {self.pid}, {age}s old ({self.name})"

    def is_stale(self, now: float) -> bool:
        if self.host == socket.gethostname():
            return not is_alive(ProcessIdentity(self.pid, self.start_ticks, self.boot_id))
        return now - self.refreshed > STALE_AFTER


def read_locks(store: Store) -> list[LockInfo]:
    locks = []
    for obj in store.list("locks/"):
        try:
            d = json.loads(store.get(obj.name))
            fields = {k: d[k] for k in LockInfo.__dataclass_fields__ if k in d and k != "name"}
            locks.append(LockInfo(name=obj.name, **fields))
        except (ObjectMissing, ValueError, KeyError, TypeError):
            continue  # removed meanwhile, or damaged: an unreadable lock protects nothing
    return locks


class RepoLock:
    """Hold a lock for the duration of a ``with`` block, refreshing it in the background."""

    def __init__(
        self,
        store: Store,
        *,
        exclusive: bool,
        command: str,
        wait: float = 0.0,
        break_lock: bool = False,
        warn=None,
        best_effort: bool = False,
    ) -> None:
        self.store = store
        self.exclusive = exclusive
        self.command = command
        self.wait = wait
        self.break_lock = break_lock
        self.warn = warn or (lambda msg: None)
        # Readers may run where the repository cannot be written (a read-only mirror during a disaster): they
        # still honour other locks, and go on without their own if it cannot be written.
        self.best_effort = best_effort
        self.held = False
        self.name = f"locks/{os.urandom(16).hex()}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._created = time.time()

    def _write(self) -> None:
        now = time.time()
        me = current()
        d = {
            "host": socket.gethostname(),
            "exclusive": self.exclusive,
            "created": self._created,
            "refreshed": now,
            "command": self.command,
            **me.to_dict(),
        }
        self.store.put(self.name, json.dumps(d).encode())

    def _conflicts(self) -> list[LockInfo]:
        now = time.time()
        conflicts = []
        for lock in read_locks(self.store):
            if lock.name == self.name:
                continue
            local = lock.host == socket.gethostname()
            if local and lock.is_stale(now):
                self.warn(f"removing stale {lock.describe()}")
                self.store.delete(lock.name)
                continue
            if not (self.exclusive or lock.exclusive):
                continue
            if self.break_lock and not local:
                # Another host's process cannot be checked from here: the operator vouches that it is gone.
                self.warn(f"breaking {lock.describe()} (--break-lock)")
                self.store.delete(lock.name)
                continue
            conflicts.append(lock)
        return conflicts

    def acquire(self) -> None:
        deadline = time.monotonic() + self.wait
        cleanup_temp = getattr(self.store, "cleanup_temp", None)
        if cleanup_temp:  # a writer killed while writing its lock leaves only the temporary file: never a holder
            cleanup_temp("locks/")
        while True:
            conflicts = self._conflicts()
            if not conflicts:
                try:
                    self._write()
                except StorageError as e:
                    if not self.best_effort:
                        raise
                    self.warn(f"cannot write a lock ({e.message}); reading without one")
                    return
                # Two processes may have checked at the same moment: look again after writing.
                conflicts = self._conflicts()
                if not conflicts:
                    break
                self.store.delete(self.name)
            if time.monotonic() >= deadline:
                holder = conflicts[0]
                hint = "wait for it to finish"
                if holder.is_stale(time.time()):
                    hint = "that lock looks stale; if its process is really gone, rerun with --break-lock"
                raise RepositoryLocked(holder.describe(), hint=hint)
            time.sleep(min(1.0 + random.random(), max(0.05, deadline - time.monotonic())))
        self.held = True
        self._thread = threading.Thread(target=self._refresh, name="qfbackup-lock-refresh", daemon=True)
        self._thread.start()

    def _refresh(self) -> None:
        while not self._stop.wait(REFRESH_EVERY):
            try:
                self._write()
            except Exception as e:  # a failed refresh must not kill the backup; the next one may work
                self.warn(f"could not refresh lock: {e}")

    def release(self) -> None:
        if not self.held:
            return
        self._stop.set()
        if self._thread:
            self._thread.join()
        self.store.delete(self.name)

    def __enter__(self) -> RepoLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
