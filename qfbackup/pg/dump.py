"""pg_dump / pg_dumpall command lines for logical dumps streamed to stdout.

Database names become arguments of a command run through the remote login shell; the command is always built
from an argv list and quoted (remote/command.py), and names are also checked here against the plain-identifier
rule the policy enforces, so a name can neither break the shell quoting nor be taken by libpq as a connection
string (``dbname=... host=...``) or by pg_dump as an option (``-f...``).
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from qfbackup.errors import UsageError

_DB_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
GLOBALS = "globals"
#: Stream names inside a dump snapshot.
GLOBALS_STREAM = "globals.sql"


def db_stream(name: str) -> str:
    return f"db/{name}.dump"


def check_db_name(name: str) -> str:
    if not _DB_NAME_RE.fullmatch(name):
        raise UsageError(
            f"database name {name!r} is not a plain PostgreSQL identifier "
            "(letters, digits and '_', not starting with a digit, at most 63 characters)"
        )
    return name


def _conn(socket_dir: PurePosixPath, port: int, user: str) -> list[str]:
    return ["-h", str(socket_dir), "-p", str(port), "-U", user, "--no-password"]


def pg_dump_argv(
    bin_dir: PurePosixPath, *, socket_dir: PurePosixPath, port: int, user: str, dbname: str, compress: int = 0
) -> list[str]:
    """``pg_dump -Fc`` of one database to stdout.

    ``compress`` defaults to 0 (-Z0): the repository compresses with zstd anyway, and an uncompressed custom
    dump keeps unchanged table data byte-identical from night to night, so it deduplicates; pg_dump's own zlib
    would turn every dump into new bytes and cost CPU on the database host.
    """
    return [
        str(bin_dir / "pg_dump"),
        "-Fc",
        f"-Z{int(compress)}",
        *_conn(socket_dir, port, user),
        "-d",
        check_db_name(dbname),
    ]


def pg_dumpall_globals_argv(bin_dir: PurePosixPath, *, socket_dir: PurePosixPath, port: int, user: str) -> list[str]:
    """Roles, role memberships and tablespaces (``pg_dumpall --globals-only``): what pg_dump does not carry."""
    return [str(bin_dir / "pg_dumpall"), "--globals-only", *_conn(socket_dir, port, user)]
