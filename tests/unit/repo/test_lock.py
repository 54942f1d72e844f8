import json
import os
import socket

import pytest

from qfbackup.common.atomic import TEMP_MARK
from qfbackup.common.process import current
from qfbackup.errors import RepositoryLocked
from qfbackup.repo.lock import RepoLock, read_locks
from qfbackup.repo.store_fs import FsStore
from qfbackup.repo.store_mem import MemStore


def test_shared_locks_coexist_exclusive_refused():
    store = MemStore()
    with RepoLock(store, exclusive=False, command="a"), RepoLock(store, exclusive=False, command="b"):
        assert len(read_locks(store)) == 2
        with pytest.raises(RepositoryLocked, match="shared lock by 'a'"):
            RepoLock(store, exclusive=True, command="prune").acquire()
    assert read_locks(store) == []


def test_exclusive_blocks_appender():
    store = MemStore()
    with RepoLock(store, exclusive=True, command="prune"), pytest.raises(RepositoryLocked):
        RepoLock(store, exclusive=False, command="backup").acquire()


def test_dead_local_pid_lock_removed_as_stale():
    store = MemStore()
    doc = {
        "host": socket.gethostname(),
        "pid": 2**22 + 12345,
        "exclusive": True,
        "created": 0.0,
        "refreshed": 0.0,
        "command": "killed",
    }
    store.put("locks/dead", json.dumps(doc).encode())
    warnings = []
    with RepoLock(store, exclusive=True, command="next", warn=warnings.append):
        pass
    assert any("stale" in w for w in warnings)


def test_a_lock_whose_pid_now_belongs_to_another_process_is_stale():
    """The pid is alive (it is this very process) but started at another time: a reused pid, not the holder."""
    store = MemStore()
    me = current()
    doc = {
        "host": socket.gethostname(),
        "exclusive": True,
        "created": 0.0,
        "refreshed": 0.0,
        "command": "killed long ago",
        **me.to_dict(),
        "start_ticks": me.start_ticks - 1,
    }
    store.put("locks/reused", json.dumps(doc).encode())
    warnings = []
    with RepoLock(store, exclusive=True, command="next", warn=warnings.append):
        assert [lock.name for lock in read_locks(store)] != ["locks/reused"]
    assert any("stale" in w and "killed long ago" in w for w in warnings)


def test_a_live_holder_keeps_its_lock_and_records_its_identity():
    store = MemStore()
    with RepoLock(store, exclusive=True, command="prune"):
        (lock,) = read_locks(store)
        assert (lock.pid, lock.start_ticks, lock.boot_id) == tuple(current().to_dict().values())
        with pytest.raises(RepositoryLocked):
            RepoLock(store, exclusive=False, command="backup").acquire()


def test_foreign_lock_needs_break_lock():
    store = MemStore()
    doc = {"host": "other-host", "pid": 1, "exclusive": True, "created": 0.0, "refreshed": 0.0, "command": "x"}
    store.put("locks/foreign", json.dumps(doc).encode())
    with pytest.raises(RepositoryLocked, match="other-host") as err:
        RepoLock(store, exclusive=False, command="backup").acquire()
    assert "--break-lock" in err.value.hint
    with RepoLock(store, exclusive=False, command="backup", break_lock=True):
        pass


def test_a_lock_half_written_by_a_killed_writer_is_removed_and_a_live_or_foreign_one_kept(tmp_path):
    store = FsStore(tmp_path)
    (tmp_path / "locks").mkdir()
    host = socket.gethostname()
    dead_pid = 2**22 + 12345  # above any pid_max default: no process has it
    dead = tmp_path / "locks" / f".abc{TEMP_MARK}{host}-{dead_pid}-00ff00ff"
    live = tmp_path / "locks" / f".def{TEMP_MARK}{host}-{os.getpid()}-00ff00ff"
    foreign = tmp_path / "locks" / f".ghi{TEMP_MARK}elsewhere-{dead_pid}-00ff00ff"
    for f in (dead, live, foreign):
        f.write_bytes(b"{")
    with RepoLock(store, exclusive=True, command="next"):
        assert not dead.exists()
        assert live.exists() and foreign.exists()  # only their age (TEMP_GRACE) can tell
    assert read_locks(store) == []
