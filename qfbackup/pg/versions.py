"""Per-major-version PostgreSQL facts that qfbackup checks data against.

Kept apart from wal.py so that supporting a new major version is one table row here, reviewed against a real
segment of that version, rather than a change to the parsing code.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from qfbackup.errors import UnsupportedPgVersion, UsageError

#: XLOG_PAGE_MAGIC from src/include/access/xlog_internal.h. It changes with every major release whose WAL
#: format changed, so a segment's first two bytes tell which major version wrote it. 15 is verified against a
#: segment written by PostgreSQL 15 on this project's test machines; the others are copied from the respective
#: headers.
WAL_PAGE_MAGIC: dict[int, int] = {
    13: 0xD106,
    14: 0xD10D,
    15: 0xD110,
    16: 0xD113,
    17: 0xD116,
}

#: The major version the project targets (the trading platform runs PostgreSQL 15).
DEFAULT_MAJOR = 15

#: Where Debian's postgresql-common puts the server's Unix socket.
DEBIAN_SOCKET_DIR = PurePosixPath("/var/run/postgresql")


def debian_bin_dir(major: int = DEFAULT_MAJOR) -> PurePosixPath:
    """Where Debian's ``postgresql-<major>`` / ``postgresql-client-<major>`` install the server and client tools."""
    return PurePosixPath(f"/usr/lib/postgresql/{major}/bin")


def debian_share_dir(major: int = DEFAULT_MAJOR) -> PurePosixPath:
    """Debian's ``/usr/share/postgresql/<major>``: extensions, sample configuration."""
    return PurePosixPath(f"/usr/share/postgresql/{major}")


def wal_page_magic(major: int) -> int:
    """The WAL page magic a segment written by PostgreSQL ``major`` starts with."""
    try:
        return WAL_PAGE_MAGIC[major]
    except KeyError:
        raise UnsupportedPgVersion(major, ", ".join(str(v) for v in sorted(WAL_PAGE_MAGIC))) from None


def major_for_wal_magic(magic: int) -> int | None:
    """Which major version writes WAL pages with ``magic``; None if unknown (not WAL, or a version not
    listed)."""
    for major, value in WAL_PAGE_MAGIC.items():
        if value == magic:
            return major
    return None


def major_from_version_num(version_num: int) -> int:
    """``server_version_num`` (e.g. 150004) -> major version (15). Valid for PostgreSQL 10 and later."""
    if version_num < 100000:
        raise UsageError(f"server_version_num {version_num} is older than PostgreSQL 10, which is not supported")
    return version_num // 10000


def major_from_tool_version(version_text: str) -> int | None:
    """``pg_restore (PostgreSQL) 15.8`` -> 15; None when the text names no version."""
    m = re.search(r"\(PostgreSQL\)\s+(\d+)", version_text)
    return int(m.group(1)) if m else None
