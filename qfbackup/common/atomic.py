"""The one way qfbackup writes a file that someone may read the next moment: whole or not at all, durably.

The content goes to a temporary file in the same directory (so the rename cannot cross filesystems), is
fsynced, renamed over the final name, and the directory is fsynced so the rename itself survives a power cut.
``durable=False`` skips both fsyncs and keeps the rest: for files that are checked on every read and cheap to
make again (the local store cache), where a power cut may lose the file but never exposes half of it to a reader
of the running system.
A writer killed half-way leaves only a temporary file whose name contains ``TEMP_MARK`` and the writer's host
and pid; whoever owns the directory removes those (the repository's ``cleanup_temp``, or nobody needs to: they
never shadow a real name). ``temp_writer_gone`` tells a dead writer's file from one still being written.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from qfbackup.common.process import pid_exists

TEMP_MARK = ".tmp-"
COPY_BUF = 1 << 20


def temp_path(path: Path) -> Path:
    """A fresh temporary name beside ``path`` (hidden, unique per process and call, naming its writer)."""
    return path.with_name(f".{path.name}{TEMP_MARK}{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}")


def temp_writer_gone(name: str) -> bool:
    """Whether the temporary file ``name`` was made by a process of this host that no longer runs. A file of
    another host (a shared filesystem), of a running pid (perhaps reused) or not named by ``temp_path`` is not
    judged here: only its age can tell."""
    _, mark, tail = name.rpartition(TEMP_MARK)
    parts = tail.rsplit("-", 2)
    if not mark or len(parts) != 3 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return False
    return not pid_exists(int(parts[1]))


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_writer(path: Path, *, mode: int = 0o666, replace: bool = True, durable: bool = True) -> Iterator[BinaryIO]:
    """Yield a binary file; when the block ends normally its content appears under ``path``.

    ``mode`` is the new file's permission (the umask applies, as for ``open``); pass 0o600 for anything
    private. ``replace=False`` refuses to overwrite an existing ``path`` (``FileExistsError``), without a
    window in which two writers could both succeed. ``durable=False``: no fsync of the file or the directory
    (still atomic). On any exception the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    tmp = temp_path(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            if durable:
                f.flush()
                os.fsync(f.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # fails with FileExistsError if someone else's file is there
            tmp.unlink()
        if durable:
            fsync_dir(path.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomic(
    path: Path,
    data: bytes | str | Iterable[bytes] | BinaryIO,
    *,
    mode: int = 0o666,
    replace: bool = True,
    durable: bool = True,
) -> int:
    """Write ``data`` (bytes, text, an iterable of chunks, or a readable binary file) via ``atomic_writer``;
    returns the number of bytes written."""
    size = 0
    with atomic_writer(path, mode=mode, replace=replace, durable=durable) as f:
        if isinstance(data, str):
            data = data.encode()
        if isinstance(data, bytes | bytearray | memoryview):
            size = f.write(data)
        elif hasattr(data, "read"):
            shutil.copyfileobj(data, f, COPY_BUF)
            size = f.tell()
        else:
            for chunk in data:
                size += f.write(chunk)
    return size
