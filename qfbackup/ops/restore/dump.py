"""``restore dump``: bring one logical dump back into a PostgreSQL server, or out into plain files.

Restoring is "globals first, then pg_restore", run from the backup VM with the local PostgreSQL client tools
against any server the operator names with a libpq DSN. It has to work against a *fresh, empty* server (the
emergency server built after losing the database host), so:

* **Which dump.** The newest ``dump`` snapshot of the cluster that holds the database is used, and only if that
  dump succeeded. When the latest dump of the database *failed*, the restore is refused, naming the failure
  and the last good dump (``--snapshot ID`` restores that one). Falling back silently would hand the operator
  data older than they believe they are getting, in the one situation where they must know; one explicit
  extra option is the cheaper mistake.
* **Globals** (roles, memberships, tablespaces, from ``pg_dumpall --globals-only``) come from the same
  snapshot (or, if it has none, the dump snapshot nearest in time that has them) and are applied with psql on
  the maintenance database, with ``ON_ERROR_STOP`` *off*: the script always contains ``CREATE ROLE postgres``
  and the like, which fail on every server because the role exists. Those "already exists" errors are
  expected and only reported; any other error (no permission to create roles, a tablespace directory that
  does not exist) stops the restore before pg_restore runs, because objects would then be restored with the
  wrong owners or not at all. ``--no-globals`` skips the step (restoring into a server whose roles exist, where
  replaying old role passwords would be wrong).
* **The database.** The DSN's ``dbname`` names the target database, the dumped name when absent. A missing
  database under the dumped name is created by ``pg_restore --create`` (so the database's own properties --
  encoding, locale, owner, grants, ``ALTER DATABASE ... SET`` -- come back too); under another name it is
  created with ``CREATE DATABASE ... TEMPLATE template0`` and those properties are not carried over (warned).
  An existing empty database is restored into; an existing database with user relations is refused, since
  a restore on top of data produces a mix nobody can vouch for.
* **Streaming.** With ``--jobs 1`` the repository stream is piped into pg_restore's stdin: no disk needed.
  ``pg_restore --jobs N`` needs a seekable file, so with N > 1 the dump is first written to a 0600 temporary
  file (``--tmpdir``, else the policy's cache directory, else the system temp directory; free space is checked
  first) and removed afterwards. Every chunk is authenticated before pg_restore sees it; the whole-stream hash
  is known only at the end, so in streaming mode a (never observed) stream-level mismatch stops pg_restore and
  fails the command, while the temp-file mode verifies the whole dump before restoring anything.
* **Errors.** pg_restore runs without ``--exit-on-error``: one failing object (say an extension missing on
  the new server) should not leave everything after it unrestored during a disaster. Any error still fails the
  command (exit 1) with pg_restore's messages, and the database is left in place for inspection.
* **Secrets.** The DSN is parsed with libpq's own parser (psycopg); a password in it is handed to the client
  tools through ``PGPASSWORD`` (never argv, which ``ps`` shows) and never printed: messages show the DSN
  without it and any echoed tool output has it scrubbed. The tools run with ``--no-password``, so without a
  password in the DSN, ``~/.pgpass`` or ``PGPASSWORD`` they fail instead of prompting.

``--to-file FILE`` skips all of that and writes the custom-format dump (and ``FILE.globals.sql``) for manual
use, both 0600, refusing to overwrite.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from qfbackup.catalog.dumps import DumpChoice, choose_dump, stored_when
from qfbackup.errors import Failed, UsageError
from qfbackup.ops.restore.dump_target import (
    MAINTENANCE_DB,
    Target,
    Tools,
    connect,
    find_tools,
    inspect_target,
    parse_target,
)
from qfbackup.repo.repository import Repository

#: Free space kept on top of the dump's size when staging it for a parallel restore.
STAGING_MARGIN = 64 * 1024 * 1024
#: Errors of the globals script that every restore meets (the bootstrap role exists on any server; a rerun
#: meets all of its roles again) and that change nothing: reported, never fatal.
BENIGN_GLOBALS_ERROR = re.compile(r'ERROR:\s+(role|tablespace) "[^"]*" already exists')
MAX_ERRORS_SHOWN = 8

Progress = Callable[[int], None]
Warn = Callable[[str], None]


def _major(version_text: str) -> int | None:
    m = re.search(r"\(PostgreSQL\)\s+(\d+)", version_text)
    return int(m.group(1)) if m else None


# ---------------------------------------------------------------------------------------------------------------
# the plan


#: How the target database comes to exist: pg_restore --create, CREATE DATABASE by us, or it is already there.
CREATE_BY_PG_RESTORE = "pg_restore --create"
CREATE_DATABASE = "CREATE DATABASE"
EXISTING_EMPTY = "existing empty database"


@dataclass
class DumpRestorePlan:
    cluster: str
    db: str
    snapshot: str
    snapshot_time: str
    dump_bytes: int
    globals_snapshot: str | None
    globals_bytes: int
    apply_globals: bool
    target: str  # redacted DSN
    target_db: str
    create: str
    jobs: int
    staging_dir: str | None  # None: streamed into pg_restore's stdin
    pg_bin_dir: str
    pg_restore_version: str
    target_server_version_num: int
    warnings: list[str] = field(default_factory=list)


def _staging_dir(tmpdir: Path | None, policy) -> Path:
    if tmpdir is not None:
        return tmpdir
    cache = getattr(getattr(policy, "repository", None), "cache_dir", None)
    if cache is not None and Path(cache).is_dir():
        return Path(cache)
    return Path(tempfile.gettempdir())


def plan_dump_restore(
    repo: Repository,
    policy,
    cluster: str,
    db: str,
    dsn: str,
    *,
    jobs: int = 1,
    snapshot_id: str | None = None,
    tmpdir: Path | None = None,
    apply_globals: bool = True,
) -> tuple[DumpRestorePlan, DumpChoice, Target, Tools]:
    """Choose the dump, look at the target, decide how the database is created; changes nothing."""
    if jobs < 1:
        raise UsageError("--jobs must be at least 1")
    choice = choose_dump(repo, cluster, db, snapshot_id)
    target = parse_target(dsn, db)
    tools = find_tools(policy, cluster, choice)
    state = inspect_target(target)
    warnings: list[str] = []
    if state.db_exists and state.user_relations:
        raise UsageError(
            f"database {target.dbname!r} on {target.redacted(MAINTENANCE_DB)} already exists and holds "
            f"{state.user_relations} relation(s); a restore on top of it would mix old and new objects",
            hint="restore under another name (dbname= in --to-dsn), or drop that database first",
        )
    if state.db_exists:
        create = EXISTING_EMPTY
        warnings.append(f"restoring into the existing database {target.dbname}: its own settings stay as they are")
    elif target.dbname == db:
        create = CREATE_BY_PG_RESTORE
    else:
        create = CREATE_DATABASE
        warnings.append(
            f"restoring under another name ({target.dbname}): database-level settings, owner and grants of {db} "
            "are not carried over (pg_restore --create only recreates the original name)"
        )
    if not state.is_superuser:
        warnings.append("the target user is not a superuser: globals and ownership will likely fail")
    if choice.server_major and state.server_version_num // 10000 < choice.server_major:
        warnings.append(
            f"the target server ({state.server_version_num}) is older than the source (major "
            f"{choice.server_major}): the restore may fail"
        )
    if apply_globals and choice.globals_ref is None:
        warnings.append("no globals stored for this cluster: roles that own objects must already exist")
    elif apply_globals and choice.globals_snapshot is not choice.snapshot:
        assert choice.globals_snapshot is not None
        warnings.append(
            f"snapshot {choice.snapshot.short_id} has no globals; using those of {choice.globals_snapshot.short_id} "
            f"({stored_when(choice.globals_snapshot)})"
        )
    staging = None
    if jobs > 1:
        staging = _staging_dir(tmpdir, policy)
        if not staging.is_dir():
            raise UsageError(f"--tmpdir {staging} is not a directory")
        free = shutil.disk_usage(staging).free
        if free < choice.stream.size + STAGING_MARGIN:
            raise UsageError(
                f"pg_restore --jobs {jobs} needs the dump as a file: {choice.stream.size} bytes, but {staging} "
                f"has {free} free",
                hint="pass --tmpdir DIR on a larger disk, or --jobs 1 to stream without a file",
            )
    plan = DumpRestorePlan(
        cluster=cluster,
        db=db,
        snapshot=choice.snapshot.id,
        snapshot_time=choice.snapshot.time,
        dump_bytes=choice.stream.size,
        globals_snapshot=choice.globals_snapshot.id if choice.globals_snapshot else None,
        globals_bytes=choice.globals_ref.size if choice.globals_ref else 0,
        apply_globals=apply_globals,
        target=target.redacted(),
        target_db=target.dbname,
        create=create,
        jobs=jobs,
        staging_dir=str(staging) if staging else None,
        pg_bin_dir=str(tools.bin_dir),
        pg_restore_version=tools.pg_restore_version,
        target_server_version_num=state.server_version_num,
        warnings=warnings,
    )
    return plan, choice, target, tools


# ---------------------------------------------------------------------------------------------------------------
# executing it


@dataclass
class DumpRestoreResult:
    globals_errors_ignored: list[str] = field(default_factory=list)
    globals_seconds: float = 0.0
    staging_seconds: float = 0.0
    restore_seconds: float = 0.0
    bytes_restored: int = 0


def apply_globals_sql(tools: Tools, target: Target, sql: bytes) -> list[str]:
    """Run the globals script on the maintenance database; returns the benign errors, raises on real ones."""
    argv = [tools.path("psql"), "-X", "-q", "-w", "-v", "ON_ERROR_STOP=0", "-d", target.conninfo(MAINTENANCE_DB)]
    proc = subprocess.run([*argv, "-f", "-"], input=sql, capture_output=True, env=target.env())
    stderr = target.scrub(proc.stderr.decode("utf-8", "replace"))
    errors = [line.strip() for line in stderr.splitlines() if "ERROR:" in line or "FATAL:" in line]
    benign = [e for e in errors if BENIGN_GLOBALS_ERROR.search(e)]
    real = [e for e in errors if not BENIGN_GLOBALS_ERROR.search(e)]
    if proc.returncode != 0 or real:
        shown = real[:MAX_ERRORS_SHOWN] or stderr.strip().splitlines()[-MAX_ERRORS_SHOWN:]
        raise Failed(
            f"restoring the globals (roles, tablespaces) on {target.redacted(MAINTENANCE_DB)} failed "
            f"(psql exit {proc.returncode}): " + " | ".join(shown),
            hint="fix the cause (privileges, tablespace directories) and run again (it is repeatable), "
            "or pass --no-globals if the roles already exist",
        )
    return benign


def _pg_restore_argv(tools: Tools, target: Target, create: str, jobs: int, archive: Path | None) -> list[str]:
    argv = [tools.path("pg_restore"), "--no-password"]
    if create == CREATE_BY_PG_RESTORE:
        argv += ["--create", "--dbname", target.conninfo(MAINTENANCE_DB)]
    else:
        argv += ["--dbname", target.conninfo()]
    if archive is not None:
        argv += ["--jobs", str(jobs), str(archive)]
    return argv


def _feed(argv: list[str], env: dict[str, str], chunks: Iterator[bytes], warn: Warn) -> tuple[int, str]:
    """Run pg_restore with the stream on its stdin; stderr is drained by a thread so neither side can block.

    If the stream fails (integrity, storage, Ctrl-C) pg_restore is stopped before it can see the end of the
    archive, and the error propagates.
    """
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    assert proc.stdin is not None and proc.stderr is not None
    err: list[bytes] = []
    drain = threading.Thread(target=lambda: err.append(proc.stderr.read()), daemon=True)  # type: ignore[union-attr]
    drain.start()
    try:
        with closing(chunks):  # type: ignore[type-var]
            for chunk in chunks:
                try:
                    proc.stdin.write(chunk)
                except BrokenPipeError:
                    break  # pg_restore exited early: its exit status and stderr say why
        try:
            proc.stdin.close()
        except BrokenPipeError:
            pass
    except BaseException:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        warn("pg_restore was stopped part-way: the target database may hold a partial restore")
        raise
    code = proc.wait()
    drain.join()
    return code, b"".join(err).decode("utf-8", "replace")


@contextmanager
def _staged(chunks: Iterable[bytes], directory: Path) -> Iterator[Path]:
    """The whole dump as a 0600 file (mkstemp's mode) for pg_restore --jobs; removed whatever happens."""
    fd, name = tempfile.mkstemp(prefix="qfbackup-restore-", suffix=".dump", dir=directory)
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
        yield path
    finally:
        path.unlink(missing_ok=True)


def _pg_restore_errors(stderr: str) -> list[str]:
    """pg_restore's distinct error lines (one missing role repeats for every object it owns), then its count."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = list(dict.fromkeys(ln for ln in lines if "error:" in ln.lower() or "ERROR:" in ln or "FATAL:" in ln))
    shown = (errors or lines[-MAX_ERRORS_SHOWN:])[:MAX_ERRORS_SHOWN]
    return shown + [ln for ln in lines if "errors ignored on restore" in ln]


def restore_dump(
    repo: Repository,
    plan: DumpRestorePlan,
    choice: DumpChoice,
    target: Target,
    tools: Tools,
    *,
    progress: Progress | None = None,
    warn: Warn = lambda message: None,
) -> DumpRestoreResult:
    """Execute ``plan``: globals, then (after CREATE DATABASE if that is the plan) pg_restore."""
    result = DumpRestoreResult()
    t0 = time.monotonic()
    if plan.apply_globals and choice.globals_ref is not None:
        sql = b"".join(repo.read_stream(choice.globals_ref))
        result.globals_errors_ignored = apply_globals_sql(tools, target, sql)
    result.globals_seconds = time.monotonic() - t0

    if plan.create == CREATE_DATABASE:
        from psycopg import sql as pgsql

        with connect(target, MAINTENANCE_DB) as conn:
            conn.execute(pgsql.SQL("create database {} template template0").format(pgsql.Identifier(plan.target_db)))

    chunks = repo.read_stream(choice.stream, progress=progress)
    t0 = time.monotonic()
    if plan.staging_dir is None:
        code, stderr = _feed(_pg_restore_argv(tools, target, plan.create, 1, None), target.env(), chunks, warn)
    else:
        with _staged(chunks, Path(plan.staging_dir)) as archive:
            result.staging_seconds = time.monotonic() - t0
            t0 = time.monotonic()
            argv = _pg_restore_argv(tools, target, plan.create, plan.jobs, archive)
            proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, env=target.env())
            code, stderr = proc.returncode, proc.stderr.decode("utf-8", "replace")
    result.restore_seconds = time.monotonic() - t0
    stderr = target.scrub(stderr)
    if code != 0:
        raise Failed(
            f"pg_restore into {plan.target_db} on {plan.target} failed (exit {code}): "
            + " | ".join(_pg_restore_errors(stderr)),
            hint=f"the database {plan.target_db} was left as it is for inspection; "
            "drop it before restoring into it again",
        )
    result.bytes_restored = choice.stream.size
    return result
