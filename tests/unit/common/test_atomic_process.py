"""common/atomic.py and common/process.py: the one atomic write and the one process identity."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
import time

import pytest

from qfbackup.common import atomic, process
from qfbackup.common.atomic import TEMP_MARK, atomic_writer, write_atomic
from qfbackup.common.process import ProcessIdentity, current, is_alive


def test_write_atomic_replaces_whole_and_fsyncs_file_and_directory(tmp_path, monkeypatch):
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    target = tmp_path / "f"
    target.write_bytes(b"old")
    assert write_atomic(target, [b"ab", b"cd"]) == 4
    assert target.read_bytes() == b"abcd"
    assert len(synced) == 2  # the file, then its directory
    assert os.listdir(tmp_path) == ["f"]


@pytest.mark.parametrize(("durable", "fsyncs"), [(True, 2), (False, 0)])
def test_durable_decides_the_fsyncs_and_nothing_else(tmp_path, monkeypatch, durable, fsyncs):
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    target = tmp_path / "f"
    target.write_bytes(b"old")
    with atomic_writer(target, mode=0o600, durable=durable) as f:
        f.write(b"new")
        assert target.read_bytes() == b"old"  # nothing visible before the block ends
    assert target.read_bytes() == b"new" and stat.S_IMODE(target.stat().st_mode) == 0o600
    assert len(synced) == fsyncs and os.listdir(tmp_path) == ["f"]


def test_without_fsync_a_reader_still_never_sees_a_partial_file(tmp_path):
    """A reader polling the file while it is rewritten in 64 KiB pieces, over and over until it has read 200 times,
    only ever sees a whole version."""
    size, piece, reads = 1 << 20, 1 << 16, 200
    target = tmp_path / "f"
    target.write_bytes(bytes([0]) * size)
    done = threading.Event()
    seen: list[tuple[int, bool]] = []  # (length, all bytes alike) of each read

    def reader() -> None:
        while not done.is_set():
            data = target.read_bytes()
            seen.append((len(data), data == data[:1] * len(data)))

    thread = threading.Thread(target=reader)
    thread.start()
    version, deadline = 0, time.monotonic() + 60
    try:
        while len(seen) < reads:
            assert time.monotonic() < deadline, f"the reader read only {len(seen)} times in 60 s"
            version = version % 255 + 1
            write_atomic(target, (bytes([version]) * piece for _ in range(size // piece)), durable=False)
    finally:
        done.set()
        thread.join()
    assert target.read_bytes() == bytes([version]) * size and os.listdir(tmp_path) == ["f"]
    assert set(seen) == {(size, True)}, f"partial or mixed reads: {sorted(set(seen))[:5]}"


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "f"
    target.write_bytes(b"old")

    def chunks():
        yield b"new"
        raise RuntimeError("source broke")

    with pytest.raises(RuntimeError):
        write_atomic(target, chunks())
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["f"]


def test_mode_and_no_replace(tmp_path):
    target = tmp_path / "secret"
    write_atomic(target, "s", mode=0o600, replace=False)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    with pytest.raises(FileExistsError):
        write_atomic(target, "other", replace=False)
    assert target.read_text() == "s" and os.listdir(tmp_path) == ["secret"]


@pytest.mark.parametrize("durable", [True, False])
def test_a_killed_writer_leaves_only_a_marked_temporary(tmp_path, durable):
    target = tmp_path / "f"
    code = (
        "import os, sys\nfrom pathlib import Path\nfrom qfbackup.common.atomic import atomic_writer\n"
        f"with atomic_writer(Path({str(target)!r}), durable={durable}) as f:\n"
        "    f.write(b'half'); f.flush(); os._exit(9)\n"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 9
    left = os.listdir(tmp_path)
    assert not target.exists() and len(left) == 1 and TEMP_MARK in left[0]


def test_file_objects_are_copied(tmp_path):
    src = tmp_path / "src"
    src.write_bytes(os.urandom(3 * atomic.COPY_BUF + 5))
    with open(src, "rb") as f:
        assert write_atomic(tmp_path / "dst", f) == src.stat().st_size
    assert (tmp_path / "dst").read_bytes() == src.read_bytes()
    with atomic_writer(tmp_path / "w") as f:
        f.write(b"x")
    assert (tmp_path / "w").read_bytes() == b"x"


def test_identity_of_this_process_is_alive_and_a_reused_pid_is_not():
    me = current()
    assert me.pid == os.getpid() and me.start_ticks is not None and is_alive(me)
    # the same pid with another start time: a newcomer that took over a dead process's pid
    assert not is_alive(ProcessIdentity(me.pid, me.start_ticks + 1, me.boot_id))
    # the same pid and start time in another boot
    assert not is_alive(ProcessIdentity(me.pid, me.start_ticks, "another-boot"))
    # old records without a start time fall back to the pid
    assert is_alive(ProcessIdentity.from_dict({"pid": me.pid}))
    assert ProcessIdentity.from_dict(me.to_dict()) == me


def test_a_finished_process_is_not_alive():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    ident = ProcessIdentity(child.pid, process.start_ticks(child.pid), process.boot_id())
    child.wait()
    assert not is_alive(ident)


def test_start_ticks_parses_a_command_name_with_spaces_and_parentheses(tmp_path, monkeypatch):
    fake = tmp_path / "4242"
    fake.mkdir()
    fields = ["S"] + [str(i) for i in range(4, 22)] + ["987654"] + ["0"] * 10
    (fake / "stat").write_text("4242 (a) b (c) " + " ".join(fields) + "\n")
    monkeypatch.setattr(process, "PROC", tmp_path)
    assert process.start_ticks(4242) == 987654
    assert process.start_ticks(4243) is None
