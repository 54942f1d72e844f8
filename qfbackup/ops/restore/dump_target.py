"""The target of ``restore dump``: a libpq DSN parsed once and never printed with its password, the local
client tools that restore into it, and a read-only look at the server before anything changes.

The DSN is parsed with libpq's own parser (psycopg); a password in it is handed to the client tools through
``PGPASSWORD`` (never argv, which ``ps`` shows) and never printed: messages show the DSN without it and any
echoed tool output has it scrubbed.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from qfbackup.catalog.dumps import DumpChoice
from qfbackup.errors import RemoteError, UsageError
from qfbackup.pg.versions import DEFAULT_MAJOR, debian_bin_dir, major_from_tool_version

REDACTED = "<redacted>"


MAINTENANCE_DB = "postgres"


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

    def redacted(self, dbname: str | None = None) -> str:
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


@dataclass(frozen=True)
class Tools:
    """The local pg_restore and psql (never from $PATH: the version must be at least the dump's)."""

    bin_dir: Path
    pg_restore_version: str

    @property
    def major(self) -> int | None:
        return major_from_tool_version(self.pg_restore_version)

    def path(self, name: str) -> str:
        return str(self.bin_dir / name)


def find_tools(policy, cluster: str, choice: DumpChoice | None = None) -> Tools:
    """The policy's ``pg_bin_dir`` for the cluster if it exists here, else ``/usr/lib/postgresql/<major>/bin``
    for the dump's major version, else for 15. The policy's directory names the database host's tools; on the
    backup VM (or a fresh machine without a policy) the Debian layout is the next best guess."""
    candidates: list[Path] = []
    conf = getattr(policy, "clusters", {}).get(cluster) if policy is not None else None
    if conf is not None:
        candidates.append(Path(str(conf.pg_bin_dir)))
    for major in (choice.dump_major if choice else None, DEFAULT_MAJOR):
        if major:
            candidates.append(Path(debian_bin_dir(major)))
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
        hint=f"install postgresql-client-{(choice.dump_major if choice else None) or DEFAULT_MAJOR}",
    )


@dataclass(frozen=True)
class TargetState:
    """What the target server says before anything is changed."""

    server_version_num: int
    is_superuser: bool
    db_exists: bool
    user_relations: int


def connect(target: Target, dbname: str):
    import psycopg

    try:
        return psycopg.connect(target.conninfo(dbname), password=target.password, autocommit=True)
    except psycopg.Error as e:
        raise RemoteError(
            f"cannot connect to the target {target.redacted(dbname)}: {target.scrub(str(e).strip())}",
            hint="check host/port/user in --to-dsn; a password goes in ~/.pgpass or PGPASSWORD",
        ) from None


USER_RELATIONS_SQL = """
select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace
where n.nspname not in ('pg_catalog', 'information_schema') and n.nspname !~ '^pg_(toast|temp_)'
"""


def inspect_target(target: Target) -> TargetState:
    """Read-only look at the target: version, privileges, whether the database exists and holds anything."""
    with connect(target, MAINTENANCE_DB) as conn:
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
        with connect(target, target.dbname) as conn:
            one = conn.execute(USER_RELATIONS_SQL).fetchone()
            relations = int(one[0]) if one else 0
    return TargetState(version, superuser, exists, relations)
