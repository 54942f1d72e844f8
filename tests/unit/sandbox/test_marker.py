"""The sandbox deletes only what it created: a marked directory goes, anything else is refused and left intact."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from qfbackup.common.process import ProcessIdentity, boot_id, current, start_ticks
from qfbackup.sandbox import HarnessError
from qfbackup.sandbox.marker import (
    MARKER_NAME,
    Marker,
    NotSandboxDirectory,
    create_dir,
    create_temp_dir,
    read_marker,
    remove_dir,
)


def _fill(d: Path) -> dict[str, bytes]:
    """Files, a subdirectory and nothing else; returns what must survive a refused removal."""
    (d / "sub").mkdir(parents=True, exist_ok=True)
    files = {"keep.txt": b"precious\n", "sub/deep.bin": os.urandom(64)}
    for name, data in files.items():
        (d / name).write_bytes(data)
    return files


def _intact(d: Path, files: dict[str, bytes]) -> bool:
    return all((d / name).read_bytes() == data for name, data in files.items())


def _write_marker(d: Path, *, creator: str = "quickstart", path: Path | None = None, process=None) -> None:
    marker = Marker(creator, str((path or d).resolve()), process or current(), "2025-01-01T00:00:00+00:00")
    (d / MARKER_NAME).write_text(marker.to_json())


def test_a_directory_it_created_is_removed_with_everything_in_it(tmp_path):
    d = create_dir(tmp_path / "a" / "sandbox", "quickstart")
    marker = read_marker(d)
    assert marker is not None and marker.creator == "quickstart" and marker.path == str(d.resolve())
    assert marker.process == current()
    _fill(d)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "f").write_text("not the sandbox's")
    (d / "link").symlink_to(outside, target_is_directory=True)

    remove_dir(d, "quickstart")

    assert not d.exists()
    assert (tmp_path / "a").is_dir()  # the parent it created on the way is not part of the sandbox
    assert (outside / "f").read_text() == "not the sandbox's"  # a symlink inside is removed, not followed


def test_a_preexisting_directory_with_files_is_neither_adopted_nor_removed(tmp_path):
    d = tmp_path / "important"
    files = _fill(d)

    with pytest.raises(HarnessError, match="already exists"):
        create_dir(d, "quickstart")
    assert not (d / MARKER_NAME).exists()
    with pytest.raises(NotSandboxDirectory, match=f"no readable {MARKER_NAME}"):
        remove_dir(d, "quickstart")
    assert _intact(d, files)


def test_an_empty_directory_without_the_marker_is_refused(tmp_path):
    d = tmp_path / "empty"
    d.mkdir()
    with pytest.raises(NotSandboxDirectory):
        remove_dir(d, "quickstart")
    assert d.is_dir()


def test_an_unreadable_marker_is_no_marker(tmp_path):
    d = tmp_path / "garbled"
    files = _fill(d)
    (d / MARKER_NAME).write_text("{not json")
    with pytest.raises(NotSandboxDirectory):
        remove_dir(d, "quickstart")
    assert _intact(d, files)


def test_a_marker_written_for_another_path_or_creator_is_refused(tmp_path, monkeypatch):
    copied = tmp_path / "copy"
    files = _fill(copied)
    _write_marker(copied, path=tmp_path / "original")  # a sandbox copied elsewhere with cp -a
    with pytest.raises(NotSandboxDirectory, match="written for"):
        remove_dir(copied, "quickstart")
    assert _intact(copied, files)

    monkeypatch.setenv("QFBACKUP_TEST_TMP", str(tmp_path))
    service_dir = create_temp_dir("pg")
    with pytest.raises(NotSandboxDirectory, match="'pg'"):
        remove_dir(service_dir, "quickstart")  # --dir pointing at a service's directory
    assert service_dir.is_dir()


def test_a_service_temp_dir_is_marked_and_removed(tmp_path, monkeypatch):
    monkeypatch.setenv("QFBACKUP_TEST_TMP", str(tmp_path))
    d = create_temp_dir("sshd")
    assert d.parent == tmp_path and d.name.startswith("qfb-sshd-")
    (d / "sshd.log").write_text("log")
    remove_dir(d, "sshd")
    assert not d.exists()


def test_a_directory_another_live_run_created_is_refused_a_dead_ones_removed(tmp_path):
    parent = os.getppid()  # alive for as long as this test runs
    live = ProcessIdentity(parent, start_ticks(parent), boot_id())
    d = tmp_path / "in-use"
    files = _fill(d)
    _write_marker(d, process=live)
    with pytest.raises(NotSandboxDirectory, match=f"process {parent}"):
        remove_dir(d, "quickstart")
    assert _intact(d, files)

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    dead = ProcessIdentity(child.pid, start_ticks(child.pid), boot_id())
    child.wait()
    _write_marker(d, process=dead)
    remove_dir(d, "quickstart")
    assert not d.exists()


def test_a_symlink_to_a_sandbox_is_refused(tmp_path):
    d = create_dir(tmp_path / "real", "quickstart")
    link = tmp_path / "link"
    link.symlink_to(d, target_is_directory=True)
    with pytest.raises(NotSandboxDirectory, match="not a directory"):
        remove_dir(link, "quickstart")
    assert link.is_symlink() and (d / MARKER_NAME).exists()


def test_a_missing_directory_is_already_removed(tmp_path):
    remove_dir(tmp_path / "never-made", "quickstart")
