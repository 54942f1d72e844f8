"""``qfbackup restore dump`` on real PostgreSQL 15: a dump taken over SSH comes back identical in a fresh server.

"Identical" is proved, not assumed from exit 0: per table the row count and an md5 over every row in key order
(varied types: numeric, float, arrays, jsonb, bytea, uuid, interval, timestamptz, NULLs), the sequences'
positions, index and view definitions, owners and grants (which need the globals: the owning role exists only
in the source), and a per-database setting (which only ``pg_restore --create`` carries). Each restore goes into
a cluster started empty for the test; one comes from the S3 copy alone, with the local repository moved away
and no policy at all, as on a replacement backup VM that has nothing but the key.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from qfbackup.ops.restore.dump_target import parse_target
from qfbackup.sandbox.pg import PG_BIN_DIR
from tests.integration.ingest.conftest import Ingest, make_ingest
from tests.integration.repo.conftest import CliEnv

DB = "qfb_trading"
OTHER_DB = "qfb_reference"
ROLE = "qfb_trader"
PASSWORD = "s3cr3t-Pa55-do-not-print"
ROWS = {"accounts": 300, "trades": 5000}

SOURCE_SQL = f"""
do $$ begin create role {ROLE} login; exception when duplicate_object then null; end $$;
alter database {DB} set work_mem = '7MB';
create sequence order_seq start 1000;
select setval('order_seq', 4242);
create table accounts (
    id int primary key, name varchar(64) not null unique, balance numeric(20, 4), opened date, limits interval
);
alter table accounts owner to {ROLE};
insert into accounts
    select g, 'acct-' || g, (g * 1234.5678)::numeric(20, 4), date '2020-01-01' + g, make_interval(hours => g)
    from generate_series(1, {ROWS["accounts"]}) g;
create table trades (
    id bigserial primary key, account_id int not null references accounts (id), symbol text not null,
    side char(1) check (side in ('B', 'S')), qty numeric(18, 8), price double precision, ts timestamptz,
    tags text[], meta jsonb, raw bytea, settled boolean, ref uuid
);
insert into trades (account_id, symbol, side, qty, price, ts, tags, meta, raw, settled, ref)
    select 1 + g % 300, (array['BTC', 'ETH', 'SOL', 'ADA'])[1 + g % 4], case when g % 2 = 0 then 'B' else 'S' end,
        g / 7.0, g * 1.1 + 0.000001, timestamptz '2026-01-01 00:00:00+00' + g * interval '1 minute 7 seconds',
        array['t' || g % 5, 'x'], case when g % 10 = 0 then null else jsonb_build_object('g', g, 'odd', g % 2 = 1) end,
        decode(md5(g::text), 'hex'), g % 3 = 0, md5('r' || g)::uuid
    from generate_series(1, {ROWS["trades"]}) g;
create index trades_symbol_ts on trades (symbol, ts);
grant select on trades to {ROLE};
create view trade_totals as select symbol, count(*) as n, sum(qty) as q from trades group by symbol;
"""

SESSION = "set timezone = 'UTC'; set datestyle = 'ISO, YMD'; set extra_float_digits = 1;"


def fingerprint(pg, db: str) -> dict[str, object]:
    """Everything a restore must reproduce, as comparable values."""
    tables = pg.psql("select tablename from pg_tables where schemaname = 'public' order by 1", dbname=db).split()
    fp: dict[str, object] = {}
    for t in tables:
        fp[f"table {t}"] = pg.psql(
            f"{SESSION} select count(*) || ' ' || coalesce(md5(string_agg(x::text, E'\\n' order by x.id)), '-')"
            f" from {t} x",
            dbname=db,
        )
    queries = {
        "sequences": "select sequencename, last_value from pg_sequences where schemaname = 'public' order by 1",
        "indexes": "select indexname, indexdef from pg_indexes where schemaname = 'public' order by 1",
        "owners": "select tablename, tableowner from pg_tables where schemaname = 'public' order by 1",
        "grants": "select grantee, table_name, privilege_type from information_schema.role_table_grants"
        f" where grantee = '{ROLE}' order by 2, 3",
        "views": "select viewname, definition from pg_views where schemaname = 'public' order by 1",
        "db_settings": "select coalesce(array_to_string(s.setconfig, ','), '') from pg_db_role_setting s"
        " join pg_database d on d.oid = s.setdatabase where s.setrole = 0 and d.datname = current_database()",
        "role": f"select rolname, rolcanlogin from pg_roles where rolname = '{ROLE}'",
    }
    for key, sql in queries.items():
        fp[key] = pg.psql(sql, dbname=db)
    return fp


@dataclass
class Site:
    ingest: Ingest
    source: object
    snapshot: str
    expected: dict[str, dict[str, object]]  # database -> fingerprint at dump time

    @property
    def cli(self) -> CliEnv:
        return self.ingest.cli


@pytest.fixture(scope="module")
def site(pg_cluster, sshd, tmp_path_factory) -> Iterator[Site]:
    """Two databases on the harness PostgreSQL (cluster ``main``), dumped once with ``backup dump``."""
    for db in (DB, OTHER_DB):
        pg_cluster.psql(f"drop database if exists {db}")
        pg_cluster.psql(f"create database {db}")
    try:
        pg_cluster.psql(SOURCE_SQL, dbname=DB)
        pg_cluster.psql(
            "create table codes (id int primary key, code text);"
            "insert into codes select g, 'c' || g from generate_series(1, 700) g;",
            dbname=OTHER_DB,
        )
        ingest = make_ingest(
            tmp_path_factory.mktemp("dumpsite"), sshd, {"main": pg_cluster}, databases={"main": [DB, OTHER_DB]}
        )
        out = json.loads(ingest.cli.run("--json", "backup", "dump", "--cluster", "main").stdout)
        assert out["status"] == "ok", out
        expected = {db: fingerprint(pg_cluster, db) for db in (DB, OTHER_DB)}
        # the proof below means something only if there is data to compare
        for table, rows in ROWS.items():
            assert str(expected[DB][f"table {table}"]).startswith(f"{rows} ")
        assert expected[DB]["db_settings"] == "work_mem=7MB" and expected[DB]["owners"].count(ROLE) == 1
        yield Site(ingest, pg_cluster, out["id"], expected)
    finally:
        for db in (DB, OTHER_DB):
            pg_cluster.psql(f"drop database if exists {db}")


def restore(site: Site, *args: str, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    cli = site.cli if env is None else CliEnv(site.cli.repo, env, site.cli.passfile)
    return cli.run("--json", "restore", "dump", "--cluster", "main", *args, check=check)


def databases(pg) -> list[str]:
    return pg.psql("select datname from pg_database where not datistemplate order by 1").split()


def no_password_in(proc: subprocess.CompletedProcess) -> None:
    assert PASSWORD not in proc.stdout and PASSWORD not in proc.stderr


def test_restore_into_a_fresh_server_reproduces_the_database(site: Site, pg_factory) -> None:
    target = pg_factory()
    dsn = f"postgresql://postgres:{PASSWORD}@127.0.0.1:{target.port}"  # no dbname: the dumped name

    dry = restore(site, "--db", DB, "--to-dsn", dsn, "--dry-run")
    no_password_in(dry)
    plan = json.loads(dry.stdout)
    assert plan["dry_run"] and plan["snapshot_id"] == site.snapshot and plan["restored"] is None
    into = plan["to_dsn"]
    assert into["create"] == "pg_restore --create" and into["target_db"] == DB and into["staging_dir"] is None
    assert "<redacted>" in into["target"]
    assert databases(target) == ["postgres"]  # a dry run changes nothing
    assert target.psql(f"select count(*) from pg_roles where rolname = '{ROLE}'") == "0"

    proc = restore(site, "--db", DB, "--to-dsn", dsn)
    no_password_in(proc)
    out = json.loads(proc.stdout)
    assert out["snapshot_id"] == site.snapshot and out["restored"]["bytes"] > 0
    assert any('role "postgres" already exists' in e["message"] for e in out["restored"]["globals_errors_ignored"])
    assert databases(target) == ["postgres", DB]  # only the database asked for
    assert fingerprint(target, DB) == site.expected[DB]


def test_parallel_restore_renamed_copy_and_refusal_of_a_used_database(site: Site, pg_factory, tmp_path) -> None:
    target = pg_factory()
    stage = tmp_path / "stage"
    stage.mkdir()
    dsn = f"host=127.0.0.1 port={target.port} user=postgres"

    out = json.loads(restore(site, "--db", DB, "--to-dsn", dsn, "--jobs", "2", "--tmpdir", str(stage)).stdout)
    assert out["to_dsn"]["jobs"] == 2 and out["to_dsn"]["staging_dir"] == str(stage)
    assert list(stage.iterdir()) == []  # the staged dump is removed
    assert fingerprint(target, DB) == site.expected[DB]

    # the same dump under another name, on a server where the roles now exist: globals rerun harmlessly
    out = json.loads(restore(site, "--db", DB, "--to-dsn", f"{dsn} dbname=qfb_copy").stdout)
    assert out["to_dsn"]["create"] == "CREATE DATABASE"
    assert any(f'role "{ROLE}" already exists' in e["message"] for e in out["restored"]["globals_errors_ignored"])
    copy = fingerprint(target, "qfb_copy")
    assert copy.pop("db_settings") == ""  # documented: database-level settings need the original name
    assert copy == {k: v for k, v in site.expected[DB].items() if k != "db_settings"}

    # a database that already holds objects is never restored over
    proc = restore(site, "--db", DB, "--to-dsn", dsn, check=False)
    assert proc.returncode == 2 and "already exists and holds" in proc.stderr, proc.stderr
    assert fingerprint(target, DB) == site.expected[DB]


def test_to_file_writes_a_dump_pg_restore_accepts(site: Site, tmp_path) -> None:
    path = tmp_path / "out" / "trading.dump"
    path.parent.mkdir()
    out = json.loads(restore(site, "--db", DB, "--to-file", str(path)).stdout)
    gpath = Path(str(path) + ".globals.sql")
    assert out["to_file"]["dump_file"] == str(path) and out["to_file"]["globals_file"] == str(gpath)
    for p in (path, gpath):
        assert stat.S_IMODE(p.stat().st_mode) == 0o600
    assert path.stat().st_size == out["dump_bytes"] and path.read_bytes().startswith(b"PGDMP")
    listing = subprocess.run([str(PG_BIN_DIR / "pg_restore"), "--list", str(path)], capture_output=True, text=True)
    assert listing.returncode == 0, listing.stderr
    for entry in ("TABLE public trades", "TABLE DATA public accounts", "INDEX public trades_symbol_ts",
                  "SEQUENCE public order_seq", "VIEW public trade_totals"):  # fmt: skip
        assert entry in listing.stdout
    assert f"CREATE ROLE {ROLE};" in gpath.read_text()

    again = restore(site, "--db", DB, "--to-file", str(path), check=False)
    assert again.returncode == 2 and "already exists" in again.stderr
    assert sorted(p.name for p in path.parent.iterdir()) == ["trading.dump", "trading.dump.globals.sql"]


def test_restore_from_the_s3_copy_alone(site: Site, pg_factory, seaweed, s3_bucket, tmp_path) -> None:
    url = seaweed.url(s3_bucket, "offsite")
    aws = {k: v for k, v in seaweed.env().items() if k.startswith("AWS_")}
    CliEnv(site.cli.repo, {**site.cli.env, **aws}, site.cli.passfile).run("copy", "--to", url)

    # a replacement backup VM: no policy, no local repository, only the S3 copy and the key
    assert not Path("/etc/qfbackup/policy.toml").exists()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QFBACKUP_", "AWS_"))}
    env.update(aws, QFBACKUP_PASSPHRASE_FILE=str(site.ingest.dir / "passphrase"))
    local = Path(site.cli.repo)
    gone = local.with_name("repo.gone")
    target = pg_factory()
    local.rename(gone)
    try:
        proc = restore(site, "--db", OTHER_DB, "--to-dsn", f"host=127.0.0.1 port={target.port} user=postgres",
                       env={**env, "QFBACKUP_REPO": url})  # fmt: skip
    finally:
        gone.rename(local)
    out = json.loads(proc.stdout)
    assert out["snapshot_id"] == site.snapshot
    assert fingerprint(target, OTHER_DB) == site.expected[OTHER_DB]
    assert str(site.expected[OTHER_DB]["table codes"]).startswith("700 ")


@pytest.fixture
def flaky_db(pg_cluster) -> Iterator[str]:
    name = f"qfb_flaky_{uuid.uuid4().hex[:6]}"
    pg_cluster.psql(f"create database {name}")
    try:
        yield name
    finally:
        pg_cluster.psql(f"alter database {name} allow_connections true")
        pg_cluster.psql(f"drop database if exists {name}")


def test_latest_failed_dump_is_refused_and_the_good_one_restores_on_request(
    pg_cluster, sshd, pg_factory, flaky_db: str, tmp_path
) -> None:
    pg_cluster.psql(
        f"do $$ begin create role {ROLE} login; exception when duplicate_object then null; end $$;"
        "create table t (id int primary key, v text);"
        f"alter table t owner to {ROLE};"
        "insert into t select g, md5(g::text) from generate_series(1, 1000) g;",
        dbname=flaky_db,
    )
    checksum = "select count(*) || ' ' || md5(string_agg(t::text, ',' order by id)) from t"
    owner = "select tableowner from pg_tables where tablename = 't'"
    ing = make_ingest(tmp_path, sshd, {"main": pg_cluster}, databases={"main": [flaky_db]})
    good = json.loads(ing.cli.run("--json", "backup", "dump", "--cluster", "main").stdout)["id"]
    at_good = pg_cluster.psql(checksum, dbname=flaky_db)
    pg_cluster.psql("insert into t values (1001, 'after the good dump')", dbname=flaky_db)
    pg_cluster.psql(f"alter database {flaky_db} allow_connections false")
    failed = ing.cli.run("--json", "backup", "dump", "--cluster", "main", check=False)
    assert failed.returncode == 1
    failed_out = json.loads(failed.stdout)
    assert failed_out["failed"] == [flaky_db] and failed_out["globals"]["status"] == "ok"

    target = pg_factory()
    dsn = f"host=127.0.0.1 port={target.port} user=postgres"
    cmd = ("restore", "dump", "--cluster", "main", "--db", flaky_db, "--to-dsn", dsn)
    proc = ing.cli.run(*cmd, check=False)
    assert proc.returncode == 1, proc.stderr
    assert f"the latest dump of {flaky_db}" in proc.stderr and "failed" in proc.stderr
    assert "is not currently accepting connections" in proc.stderr  # pg_dump's own reason
    assert f"--snapshot {good[:12]}" in proc.stderr  # and the way out
    assert databases(target) == ["postgres"]

    ing.cli.run(*cmd, "--snapshot", good[:12])
    assert target.psql(checksum, dbname=flaky_db) == at_good and at_good.startswith("1000 ")
    assert target.psql(owner, dbname=flaky_db) == ROLE

    # a later good dump without globals: restored with the globals of the nearest earlier snapshot that has
    # them (the failed run's: only its database dump failed)
    pg_cluster.psql(f"alter database {flaky_db} allow_connections true")
    ing.cli.run("backup", "dump", "--cluster", "main", "--no-globals")
    fresh = pg_factory()
    proc = ing.cli.run("restore", "dump", "--cluster", "main", "--db", flaky_db, "--to-dsn",
                       f"host=127.0.0.1 port={fresh.port} user=postgres")  # fmt: skip
    assert f"has no globals; using those of {failed_out['id'][:12]}" in proc.stderr, proc.stderr
    assert fresh.psql(checksum, dbname=flaky_db) == pg_cluster.psql(checksum, dbname=flaky_db)
    assert fresh.psql(owner, dbname=flaky_db) == ROLE


def test_dsn_password_is_never_shown() -> None:
    t = parse_target(f"postgresql://trader:{PASSWORD}@db.example:6432?sslmode=require", "qfb_trading")
    assert t.dbname == "qfb_trading" and t.password == PASSWORD and t.env()["PGPASSWORD"] == PASSWORD
    assert PASSWORD not in t.conninfo() and PASSWORD not in t.redacted() and PASSWORD not in repr(t)
    assert "host=db.example" in t.conninfo() and "sslmode=require" in t.conninfo()
    assert t.scrub(f"FATAL: bad {PASSWORD}") == "FATAL: bad <redacted>"
    with pytest.raises(Exception) as err:
        parse_target(f"host=x password={PASSWORD} trailing", "d")
    assert PASSWORD not in str(err.value)
