"""The sandbox removes only directories it created: each carries a marker file naming its creator.

Services delete their whole directory at ``stop()`` and the quickstart wipes its sandbox before the next run, so
a mistyped ``--dir`` (or ``$QFBACKUP_SANDBOX`` naming a directory in use) would otherwise be deleted with all it
holds. A directory is created only where nothing exists yet, gets ``.qfbackup-sandbox`` at once (creator, its own
path, the creating process), and removal refuses any directory whose marker is missing, names another path or
creator, or names a process that still runs and is not this one (a second quickstart on the same directory).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from qfbackup.common.atomic import write_atomic
from qfbackup.common.process import ProcessIdentity, current, is_alive
from qfbackup.common.units import utc_now

from . import HarnessError

MARKER_NAME = ".qfbackup-sandbox"


class NotSandboxDirectory(HarnessError):
    """Removal refused: the directory was not created by this sandbox (or is another live run's)."""


@dataclass(frozen=True)
class Marker:
    #: what made the directory: a service kind ("pg", "sshd", ...) or "quickstart"
    creator: str
    #: the directory's resolved path when it was made (a copied or moved tree does not match)
    path: str
    process: ProcessIdentity
    created_at: str

    def to_json(self) -> str:
        fields = {"creator": self.creator, "path": self.path, "process": self.process.to_dict()}
        return json.dumps({**fields, "created_at": self.created_at})

    @classmethod
    def from_json(cls, text: str) -> Marker:
        d = json.loads(text)
        return cls(str(d["creator"]), str(d["path"]), ProcessIdentity.from_dict(d["process"]), str(d["created_at"]))


def _mark(path: Path, creator: str) -> Path:
    marker = Marker(creator, str(path.resolve()), current(), utc_now())
    write_atomic(path / MARKER_NAME, marker.to_json() + "\n", mode=0o644, replace=False)
    return path


def create_dir(path: Path, creator: str) -> Path:
    """Create ``path`` (and missing parents) and mark it. An existing path is refused, never adopted: a directory
    that was there before is not the sandbox's to delete later."""
    try:
        path.mkdir(parents=True)
    except FileExistsError:
        raise HarnessError(f"{path} already exists; the sandbox only uses a directory it creates") from None
    return _mark(path, creator)


def create_temp_dir(kind: str) -> Path:
    """A new marked directory ``qfb-<kind>-*`` for one service under $QFBACKUP_TEST_TMP (default: the system
    temp dir)."""
    root = os.environ.get("QFBACKUP_TEST_TMP") or tempfile.gettempdir()
    os.makedirs(root, exist_ok=True)
    return _mark(Path(tempfile.mkdtemp(prefix=f"qfb-{kind}-", dir=root)), kind)


def read_marker(path: Path) -> Marker | None:
    """The marker in ``path``; None when there is none or it cannot be read as one."""
    try:
        return Marker.from_json((path / MARKER_NAME).read_text())
    except (OSError, ValueError, KeyError, TypeError):
        return None


def check_removable(path: Path, creator: str) -> None:
    """Raise NotSandboxDirectory unless ``path`` is a directory ``creator`` made and no other live process owns."""
    if path.is_symlink() or not path.is_dir():
        raise NotSandboxDirectory(f"refusing to delete {path}: not a directory the sandbox created")
    marker = read_marker(path)
    if marker is None:
        raise NotSandboxDirectory(
            f"refusing to delete {path}: it has no readable {MARKER_NAME} file, so the sandbox did not create it"
            " (choose a path that does not exist yet, or remove it yourself)"
        )
    if marker.path != str(path.resolve()) or marker.creator != creator:
        raise NotSandboxDirectory(
            f"refusing to delete {path}: its {MARKER_NAME} was written for {marker.path} by {marker.creator!r},"
            f" not for this path by {creator!r}"
        )
    if marker.process != current() and is_alive(marker.process):
        raise NotSandboxDirectory(
            f"refusing to delete {path}: process {marker.process.pid}, which created it, is still running"
        )


def remove_dir(path: Path | None, creator: str) -> None:
    """Delete a directory ``creator`` made (see ``check_removable``); a missing one (or None: never made) is
    already gone.

    The marker goes last, so a removal that fails half-way leaves a directory that can still be removed.
    """
    if path is None or not os.path.lexists(path):
        return
    check_removable(path, creator)
    for entry in os.scandir(path):
        if entry.name == MARKER_NAME:
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
        except FileNotFoundError:  # gone meanwhile (a socket its server removed as it exited)
            pass
    (path / MARKER_NAME).unlink()
    path.rmdir()
