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
from dataclasses import asdict, dataclass, field
from pathlib import Path

from qfbackup.errors import Failed, NotFound, RemoteError, UsageError
from qfbackup.ops.dump import KIND as DUMP_KIND
from qfbackup.pg.dump import GLOBALS_STREAM, check_db_name, db_stream
from qfbackup.repo.catalog import Snapshot, StreamRef
from qfbackup.repo.repository import Repository

DEFAULT_PG_MAJOR = 15
MAINTENANCE_DB = "postgres"
#: Free space kept on top of the dump's size when staging it for a parallel restore.
STAGING_MARGIN = 64 * 1024 * 1024
#: Errors of the globals script that every restore meets (the bootstrap role exists on any server; a rerun
#: meets all of its roles again) and that change nothing: reported, never fatal.
BENIGN_GLOBALS_ERROR = re.compile(r'ERROR:\s+(role|tablespace) "[^"]*" already exists')
MAX_ERRORS_SHOWN = 8
REDACTED = "<redacted>"

Progress = Callable[[int], None]
Warn = Callable[[str], None]


# ---------------------------------------------------------------------------------------------------------------
# choosing the dump


@dataclass(frozen=True)
class DumpChoice:
    """The dump stream to restore and the globals stream that goes with it (possibly from another snapshot)."""

    cluster: str
    db: str
    snapshot: Snapshot
    stream: StreamRef
    globals_snapshot: Snapshot | None
    globals_ref: StreamRef | None

    @property
    def dump_major(self) -> int | None:
        """Major version of the pg_dump that wrote the archive (a pg_restore at least as new is required)."""
        return _major(str(self.snapshot.meta.get("pg_dump_version", "")))

    @property
    def server_major(self) -> int | None:
        major = self.snapshot.meta.get("pg_major")
        return major if isinstance(major, int) else None


def _failure_detail(entry: dict) -> str:
    """Why a dump failed, on one line: the recorded error (it ends with pg_dump's stderr), else the stderr."""
    text = str(entry.get("error") or entry.get("stderr") or f"status {entry.get('status', 'unknown')}")
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= 400 else one_line[:397] + "..."


def _when(snap: Snapshot) -> str:
    return snap.time[:19].replace("T", " ") + " UTC"


def _globals_for(dumps: list[Snapshot], chosen: Snapshot) -> Snapshot | None:
    """Globals from the chosen snapshot, else from the dump snapshot nearest before it, else the oldest after
    it (a ``--db X --no-globals`` run makes snapshots without them); roles change rarely, and owners that do
    not exist would make every ownership statement of the restore fail."""
    if GLOBALS_STREAM in chosen.streams:
        return chosen
    have = [s for s in dumps if GLOBALS_STREAM in s.streams]
    before = [s for s in have if s.time <= chosen.time]
    return before[-1] if before else (have[0] if have else None)


def choose_dump(repo: Repository, cluster: str, db: str, snapshot_id: str | None = None) -> DumpChoice:
    """The newest successful dump of ``db`` (or the one in ``snapshot_id``); refuses when the latest failed."""
    check_db_name(db)
    dumps = [s for s in repo.snapshots() if s.kind == DUMP_KIND and s.source == cluster]
    if snapshot_id:
        snap = repo.snapshot(snapshot_id)
        if snap.kind != DUMP_KIND or snap.source != cluster:
            raise UsageError(
                f"snapshot {snap.short_id} is a {snap.kind} snapshot of {snap.source!r}, "
                f"not a dump of cluster {cluster!r}",
                hint=f"see `qfbackup list --cluster {cluster}`",
            )
        entry = snap.meta.get("databases", {}).get(db)
        if entry is None:
            held = ", ".join(sorted(snap.meta.get("databases", {}))) or "none"
            raise NotFound(f"dump snapshot {snap.short_id} holds no dump of database {db!r} (it holds: {held})")
        if entry.get("status") != "ok":
            raise Failed(
                f"the dump of {db} in snapshot {snap.short_id} ({_when(snap)}) failed: {_failure_detail(entry)}",
                hint=f"see `qfbackup list --cluster {cluster}` for other dumps",
            )
    else:
        if not dumps:
            others = sorted({s.source for s in repo.snapshots() if s.kind == DUMP_KIND})
            raise NotFound(
                f"no dumps of cluster {cluster!r} in {repo.store.url}",
                hint=f"clusters with dumps: {', '.join(others)}" if others else "take one: qfbackup backup dump",
            )
        with_db = [s for s in dumps if db in s.meta.get("databases", {})]
        if not with_db:
            held = sorted({d for s in dumps for d in s.meta.get("databases", {})})
            raise NotFound(
                f"cluster {cluster!r} has dumps, but none of database {db!r} (dumped: {', '.join(held) or 'none'})"
            )
        snap = with_db[-1]
        entry = snap.meta["databases"][db]
        if entry.get("status") != "ok":
            good = [s for s in with_db if s.meta["databases"][db].get("status") == "ok"]
            last = (
                f"; the last good dump is {good[-1].short_id} ({_when(good[-1])})"
                if good
                else "; there is no successful dump of it at all"
            )
            raise Failed(
                f"the latest dump of {db} (snapshot {snap.short_id}, {_when(snap)}) failed: "
                f"{_failure_detail(entry)}{last}",
                hint=(f"restore the older dump knowingly with --snapshot {good[-1].short_id}, or " if good else "")
                + f"take a new dump: qfbackup backup dump --cluster {cluster} --db {db}",
            )
    name = str(entry.get("stream") or db_stream(db))
    if name not in snap.streams:
        raise Failed(f"snapshot {snap.short_id} records the dump of {db} as ok but has no stream {name!r}")
    g = _globals_for(dumps or [snap], snap)
    return DumpChoice(cluster, db, snap, snap.streams[name], g, g.streams[GLOBALS_STREAM] if g else None)


# ---------------------------------------------------------------------------------------------------------------
# the target: a libpq DSN, parsed once, never printed with its password


@dataclass(frozen=True)
class Target:
    """Where to restore. ``params`` never holds the password; it goes to the tools via the environment."""

    params: dict[str, str]
    dbname: str
    password: str | None = field(default=None, repr=False)

    def conninfo(self, dbname: str | None = None) -> str:
        """A keyword/value DSN (no password) for ``dbname``, by default the target database."""
        from psycopg.conninfo import make_conninfo

        return make_conninfo(**{**self.params, "dbname": dbname or self.dbname})

    def describe(self, dbname: str | None = None) -> str:
        """The DSN as shown to people: no password, and a marker that one was given."""
        text = self.conninfo(dbname)
        return text + (f" password={REDACTED}" if self.password else "")

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.password is not None:
            env["PGPASSWORD"] = self.password
        return env

    def scrub(self, text: str) -> str:
        """Remove the password from text a tool printed (it never should, but this output reaches cron mail)."""
        return text.replace(self.password, REDACTED) if self.password else text


def parse_target(dsn: str, default_db: str) -> Target:
    """Parse a keyword/value or URI DSN with libpq's rules; ``dbname`` defaults to the dumped database.

    libpq's error text quotes the part it could not parse, which may be the password, so quoted fragments are
    removed from it.
    """
    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict

    try:
        params = {k: str(v) for k, v in conninfo_to_dict(dsn).items() if v is not None}
    except ProgrammingError as e:
        detail = re.sub(r'"[^"]*[^\W_][^"]*"', '"..."', str(e).strip().splitlines()[0] if str(e).strip() else "")
        raise UsageError(
            f"--to-dsn is not a valid connection string ({detail})",
            hint="use 'host=H port=P user=U dbname=D' or postgresql://U@H:P/D; keep the password in ~/.pgpass",
        ) from None
    password = params.pop("password", None)
    dbname = params.pop("dbname", "") or default_db
    return Target(params, dbname, password)


# ---------------------------------------------------------------------------------------------------------------
# local client tools


@dataclass(frozen=True)
class Tools:
    """The local pg_restore and psql (never from $PATH: the version must be at least the dump's)."""

    bin_dir: Path
    pg_restore_version: str

    @property
    def major(self) -> int | None:
        return _major(self.pg_restore_version)

    def path(self, name: str) -> str:
        return str(self.bin_dir / name)


def _major(version_text: str) -> int | None:
    m = re.search(r"\(PostgreSQL\)\s+(\d+)", version_text)
    return int(m.group(1)) if m else None


def find_tools(policy, cluster: str, choice: DumpChoice | None = None) -> Tools:
    """The policy's ``pg_bin_dir`` for the cluster if it exists here, else ``/usr/lib/postgresql/<major>/bin``
    for the dump's major version, else for 15. The policy's directory names the database host's tools; on the
    backup VM (or a fresh machine without a policy) the Debian layout is the next best guess."""
    candidates: list[Path] = []
    conf = getattr(policy, "clusters", {}).get(cluster) if policy is not None else None
    if conf is not None:
        candidates.append(Path(str(conf.pg_bin_dir)))
    for major in (choice.dump_major if choice else None, DEFAULT_PG_MAJOR):
        if major:
            candidates.append(Path(f"/usr/lib/postgresql/{major}/bin"))
    for d in candidates:
        if (d / "pg_restore").is_file() and (d / "psql").is_file():
            out = subprocess.run([str(d / "pg_restore"), "--version"], capture_output=True, text=True)
            tools = Tools(d, out.stdout.strip())
            if choice and choice.dump_major and tools.major and tools.major < choice.dump_major:
                raise UsageError(
                    f"{d}/pg_restore is version {tools.major}, older than the pg_dump {choice.dump_major} that "
                    "wrote the dump (pg_restore cannot read newer archives)",
                    hint=f"install postgresql-client-{choice.dump_major}",
                )
            return tools
    tried = ", ".join(str(d) for d in dict.fromkeys(candidates))
    raise UsageError(
        f"no PostgreSQL client tools (pg_restore, psql) found in {tried}",
        hint=f"install postgresql-client-{(choice.dump_major if choice else None) or DEFAULT_PG_MAJOR}",
    )


# ---------------------------------------------------------------------------------------------------------------
# the plan


@dataclass(frozen=True)
class TargetState:
    """What the target server says before anything is changed."""

    server_version_num: int
    is_superuser: bool
    db_exists: bool
    user_relations: int


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

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def describe(self, *, with_warnings: bool = True) -> str:
        if not self.apply_globals:
            g = "globals: skipped (--no-globals)"
        elif self.globals_snapshot is None:
            g = "globals: none stored for this cluster"
        else:
            g = f"globals from snapshot {self.globals_snapshot[:12]} ({self.globals_bytes} bytes) via psql"
        how = (
            "streamed into pg_restore (stdin)"
            if self.staging_dir is None
            else f"staged as a 0600 file in {self.staging_dir}, then pg_restore --jobs {self.jobs}"
        )
        lines = [
            f"dump of {self.db} from snapshot {self.snapshot[:12]} ({self.snapshot_time[:19]} UTC, "
            f"{self.dump_bytes} bytes) of cluster {self.cluster}",
            f"target: {self.target} (server {self.target_server_version_num}); database {self.target_db}: "
            f"{self.create}",
            f"1. {g}",
            f"2. {how}; tools from {self.pg_bin_dir} ({self.pg_restore_version})",
        ]
        return "\n".join(lines + [f"warning: {w}" for w in self.warnings if with_warnings])


def _connect(target: Target, dbname: str):
    import psycopg

    try:
        return psycopg.connect(target.conninfo(dbname), password=target.password, autocommit=True)
    except psycopg.Error as e:
        raise RemoteError(
            f"cannot connect to the target {target.describe(dbname)}: {target.scrub(str(e).strip())}",
            hint="check host/port/user in --to-dsn; a password goes in ~/.pgpass or PGPASSWORD",
        ) from None


USER_RELATIONS_SQL = """
select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace
where n.nspname not in ('pg_catalog', 'information_schema') and n.nspname !~ '^pg_(toast|temp_)'
"""


def inspect_target(target: Target) -> TargetState:
    """Read-only look at the target: version, privileges, whether the database exists and holds anything."""
    with _connect(target, MAINTENANCE_DB) as conn:
        row = conn.execute(
            "select current_setting('server_version_num')::int, "
            "(select rolsuper from pg_roles where rolname = current_user), "
            "exists (select 1 from pg_database where datname = %s)",
            (target.dbname,),
        ).fetchone()
    assert row is not None
    version, superuser, exists = int(row[0]), bool(row[1]), bool(row[2])
    relations = 0
    if exists:
        with _connect(target, target.dbname) as conn:
            one = conn.execute(USER_RELATIONS_SQL).fetchone()
            relations = int(one[0]) if one else 0
    return TargetState(version, superuser, exists, relations)


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
            f"database {target.dbname!r} on {target.describe(MAINTENANCE_DB)} already exists and holds "
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
            f"({_when(choice.globals_snapshot)})"
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
        target=target.describe(),
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
    plan: dict[str, object]
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
            f"restoring the globals (roles, tablespaces) on {target.describe(MAINTENANCE_DB)} failed "
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
    result = DumpRestoreResult(plan.to_dict())
    t0 = time.monotonic()
    if plan.apply_globals and choice.globals_ref is not None:
        sql = b"".join(repo.read_stream(choice.globals_ref))
        result.globals_errors_ignored = apply_globals_sql(tools, target, sql)
    result.globals_seconds = time.monotonic() - t0

    if plan.create == CREATE_DATABASE:
        from psycopg import sql as pgsql

        with _connect(target, MAINTENANCE_DB) as conn:
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


# ---------------------------------------------------------------------------------------------------------------
# --to-file


@dataclass
class DumpFilesResult:
    cluster: str
    db: str
    snapshot: str
    snapshot_time: str
    dump_file: str
    dump_bytes: int
    globals_file: str | None
    globals_bytes: int
    globals_snapshot: str | None
    seconds: float = 0.0
    next_steps: list[str] = field(default_factory=list)


def globals_path(path: Path) -> Path:
    return path.with_name(path.name + ".globals.sql")


def _write_new(path: Path, chunks: Iterable[bytes]) -> int:
    """Write to ``path.part`` (0600), then rename: a file under the final name is always complete."""
    part = path.with_name(path.name + ".part")
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    size = 0
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
                size += len(chunk)
        os.replace(part, path)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return size


def dump_files_plan(choice: DumpChoice, path: Path) -> DumpFilesResult:
    """What ``--to-file`` writes (also the dry-run answer); refuses to overwrite anything."""
    path = path.absolute()
    gpath = globals_path(path) if choice.globals_ref is not None else None
    for p in (path, gpath):
        if p is not None and (p.exists() or p.with_name(p.name + ".part").exists()):
            raise UsageError(f"{p} already exists", hint="choose a new file name; nothing is overwritten")
    if not path.parent.is_dir():
        raise UsageError(f"directory {path.parent} does not exist")
    g = choice.globals_snapshot
    res = DumpFilesResult(
        choice.cluster,
        choice.db,
        choice.snapshot.id,
        choice.snapshot.time,
        str(path),
        choice.stream.size,
        str(gpath) if gpath else None,
        choice.globals_ref.size if choice.globals_ref else 0,
        g.id if g else None,
    )
    steps = [f"psql -X -d 'host=... dbname={MAINTENANCE_DB}' -f {gpath}"] if gpath else []
    steps.append(f"pg_restore --create -d 'host=... dbname={MAINTENANCE_DB}' {path}  (or -d DB without --create)")
    res.next_steps = steps
    return res


def write_dump_files(
    repo: Repository, choice: DumpChoice, path: Path, *, progress: Progress | None = None
) -> DumpFilesResult:
    res = dump_files_plan(choice, path)
    t0 = time.monotonic()
    _write_new(Path(res.dump_file), repo.read_stream(choice.stream, progress=progress))
    if res.globals_file and choice.globals_ref is not None:
        _write_new(Path(res.globals_file), repo.read_stream(choice.globals_ref))
    res.seconds = time.monotonic() - t0
    return res
