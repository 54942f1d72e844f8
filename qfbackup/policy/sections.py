"""One parser per policy section: raw TOML table in, dataclass out, problems recorded on the way.

Each parser checks only what it can see in its own section (types, ranges, name patterns, syntax of cron and
``expect``). Whether names refer to each other correctly is checked afterwards, in ``crosscheck``, once every
section is known.
"""

from __future__ import annotations

import re
import zoneinfo
from pathlib import PurePosixPath

from croniter import croniter

from qfbackup.pg.versions import DEFAULT_MAJOR, debian_bin_dir
from qfbackup.policy.expect import ExpectSyntaxError, parse_expectation
from qfbackup.policy.reader import (
    NAME_RE,
    NAME_RULE,
    PG_IDENT_RE,
    PG_IDENT_RULE,
    SSH_USER_RE,
    Table,
    valid_address,
)
from qfbackup.policy.redact import is_secret_key
from qfbackup.policy.schema import (
    DEFAULT_BASE_BACKUPS,
    DEFAULT_CACHE_DIR,
    DEFAULT_DUMPS,
    DEFAULT_KNOWN_HOSTS,
    DEFAULT_SNAPSHOTS,
    DEFAULT_SSH_KEY,
    Alerts,
    Cluster,
    ClusterRetention,
    Drill,
    DrillCheck,
    FileSet,
    FileSource,
    Host,
    KeepRule,
    Offsite,
    Repository,
    Retention,
    Schedule,
)

S3_URL_RE = re.compile(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(/[A-Za-z0-9._/-]*)?$")
HTTP_URL_RE = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?/?$")
IMAGE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}$")
REPO_SECRET_FIX = "put the passphrase in a file with mode 0600 and set `passphrase_file`, or use $QFBACKUP_PASSPHRASE"
S3_SECRET_FIX = (
    "put the keys in a 0600 file and set `credentials_file`, or export AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
)
SSH_SECRET_FIX = "qfbackup logs in with an SSH key only: set `key_file` to a 0600 private key"


def _name_item(value: str) -> str | None:
    return None if NAME_RE.match(value) else f"is not a valid name: use {NAME_RULE}"


def _pg_ident_item(value: str) -> str | None:
    return None if PG_IDENT_RE.match(value) else f"is not a plain PostgreSQL identifier: use {PG_IDENT_RULE}"


def _abs_item(value: str) -> str | None:
    if not value.startswith("/"):
        return "is not an absolute path"
    if re.search(r"[\x00-\x1f\x7f]", value):
        return "contains control characters"
    return None


def _glob_item(value: str) -> str | None:
    if not value or re.search(r"[\x00-\x1f\x7f]", value):
        return "is empty or contains control characters"
    return None


def _s3_endpoint(t: Table) -> str | None:
    endpoint = t.str("endpoint", None, example='"https://s3.example.com"')
    if isinstance(endpoint, str) and not HTTP_URL_RE.match(endpoint):
        t.problem(
            "endpoint",
            f"{endpoint!r} is not an http(s) URL of a server (no path, no credentials).",
            'write it like `endpoint = "https://s3.example.com"`',
        )
        return None
    return endpoint


def parse_repository(t: Table) -> Repository:
    path = t.str("path", example='"/var/lib/qfbackup/repo"')
    if isinstance(path, str) and not (path.startswith("/") or S3_URL_RE.match(path)):
        t.problem(
            "path",
            f"{path!r} is neither an absolute local path nor an s3://bucket/prefix URL.",
            'write e.g. `path = "/var/lib/qfbackup/repo"` or `path = "s3://bucket/qfbackup"`',
        )
    is_s3 = isinstance(path, str) and path.startswith("s3://")
    endpoint = _s3_endpoint(t)
    region = t.str("region", "us-east-1")
    credentials_file = t.local_path("credentials_file", None)
    if not is_s3:
        for key, value in (("endpoint", endpoint), ("credentials_file", credentials_file)):
            if value is not None:
                t.problem(key, "only applies when the repository path is an s3:// URL.", "remove it")
    chunk = t.int("chunk_avg_kib", 64, low=16, high=4096)
    if isinstance(chunk, int) and chunk & (chunk - 1):
        t.problem("chunk_avg_kib", f"{chunk} is not a power of two.", "use 16, 32, 64, 128, ... 4096")
    repo = Repository(
        path=path or "",
        passphrase_file=t.local_path("passphrase_file", None),
        key_file=t.local_path("key_file", None),
        cache_dir=t.local_path("cache_dir", DEFAULT_CACHE_DIR),
        pack_size_mib=t.int("pack_size_mib", 16, low=1, high=64),  # writer, verify and copy hold ~3 packs
        chunk_avg_kib=chunk,
        compression_level=t.int("compression_level", 3, low=1, high=22),
        workers=t.int("workers", 2, low=1, high=64),
        endpoint=endpoint,
        region=region,
        credentials_file=credentials_file,
    )
    t.finish()
    return repo


def parse_offsite(t: Table) -> Offsite:
    url = t.str("url", example='"s3://bucket/prefix"')
    if isinstance(url, str) and not S3_URL_RE.match(url):
        t.problem(
            "url",
            f"{url!r} is not an s3://bucket/prefix URL.",
            'write e.g. `url = "s3://quantum-forge-backups/qfbackup"`',
        )
    offsite = Offsite(
        url=url or "",
        endpoint=_s3_endpoint(t),
        region=t.str("region", "us-east-1"),
        credentials_file=t.local_path("credentials_file", None),
        object_lock_days=t.int("object_lock_days", 0, low=0, high=36500),
    )
    t.finish()
    return offsite


def parse_host(name: str, t: Table) -> Host:
    address = t.str("address", example='"db.yourdomain.com"')
    if isinstance(address, str) and (error := valid_address(address)):
        t.problem("address", f"{address!r} {error}.", 'write e.g. `address = "db.yourdomain.com"`')
    host = Host(
        name=name,
        address=address or "",
        user=t.matching("user", SSH_USER_RE, "a login name: lowercase letters, digits, '_', '.', '-'"),
        port=t.int("port", 22, low=1, high=65535),
        key_file=t.local_path("key_file", DEFAULT_SSH_KEY),
        known_hosts=t.local_path("known_hosts", DEFAULT_KNOWN_HOSTS),
        connect_timeout=t.int("connect_timeout", 10, low=1, high=600),
        keepalive=t.int("keepalive", 15, low=0, high=3600),
    )
    t.finish()
    return host


def parse_cluster(name: str, t: Table) -> Cluster:
    pg_version = t.int("pg_version", DEFAULT_MAJOR, low=10, high=99, example="15")
    version = pg_version if isinstance(pg_version, int) else DEFAULT_MAJOR
    cluster = Cluster(
        name=name,
        host=t.matching("host", NAME_RE, NAME_RULE),
        port=t.int("port", 5432, low=1, high=65535, example="5432"),
        role=t.choice("role", ("primary", "standby"), "primary"),
        standby_of=t.matching("standby_of", NAME_RE, NAME_RULE, None),
        base_backup_from=t.matching("base_backup_from", NAME_RE, NAME_RULE, None),
        databases=t.str_list("databases", (), item=_pg_ident_item, rule="rename or remove that entry"),
        wal_archive_dir=t.remote_path("wal_archive_dir", None),
        remove_after=t.bool("remove_after", False),
        pg_version=version,
        pg_bin_dir=t.remote_path("pg_bin_dir", debian_bin_dir(version)),
        socket_dir=t.remote_path("socket_dir", Cluster.socket_dir),
        user=t.matching("user", PG_IDENT_RE, PG_IDENT_RULE, "postgres"),
        data_dir=t.remote_path("data_dir", None),
        dump_globals=t.bool("dump_globals", True),
        extensions=t.str_list("extensions", (), item=_pg_ident_item, rule="use the extension's name"),
    )
    t.finish()
    return cluster


def parse_fileset(name: str, t: Table) -> FileSet:
    """A file set names its hosts one of three ways: ``host`` or ``hosts`` with ``paths``, or ``[[...sources]]``."""
    sources: list[FileSource] = []
    forms = [k for k in ("host", "hosts", "sources") if t.has(k)]
    if len(forms) > 1:
        t.problem(
            forms[1],
            f"cannot be combined with `{forms[0]}`.",
            "use `host` + `paths`, `hosts` + `paths`, or [[...sources]] tables, not several",
        )
    elif not forms:
        t.problem("host", "is missing.", 'add `host = "vms"` and `paths = ["/..."]` (or [[...sources]] tables)')
    if t.has("sources"):
        if t.has("paths"):
            t.problem("paths", "cannot be combined with [[...sources]] tables.", "move the paths into the sources")
            t.str_list("paths", ())
        for _, src in t.array_of_tables("sources"):
            host = src.matching("host", NAME_RE, NAME_RULE)
            paths = src.str_list("paths", None, item=_abs_item, rule="write absolute paths")
            src.finish()
            if host and paths is not None:
                sources.append(FileSource(host, tuple(_posix(paths))))
    else:
        hosts: tuple[str, ...] = ()
        if t.has("hosts"):
            hosts = t.str_list("hosts", (), item=_name_item, rule="name a [hosts.NAME] section") or ()
            if not hosts:
                t.problem("hosts", "is empty.", 'name at least one host, e.g. `hosts = ["dev1", "dev2"]`')
        elif t.has("host"):
            host = t.matching("host", NAME_RE, NAME_RULE)
            hosts = (host,) if host else ()
        paths = t.str_list("paths", None, item=_abs_item, rule="write absolute paths")
        if t.has("hosts") or t.has("host"):
            if paths is None:
                t.problem("paths", "is missing.", 'add `paths = ["/absolute/path", ...]`')
            sources = [FileSource(h, tuple(_posix(paths or ()))) for h in hosts]
    for i, src in enumerate(sources, 1):
        if not src.paths:
            key = "paths" if len(sources) == 1 else f"sources[{i}].paths"
            t.problem(key, "is empty: the file set would back up nothing.", "list at least one path")
    fileset = FileSet(
        name=name,
        sources=tuple(sources),
        exclude=t.str_list("exclude", (), item=_glob_item, rule="write a glob such as '*.tmp'"),
        secret=t.bool("secret", False),
        tags=t.str_list("tags", (), item=_name_item, rule="use short lowercase tags"),
    )
    t.finish()
    return fileset


def _posix(paths: tuple[str, ...]) -> list[PurePosixPath]:
    return [PurePosixPath(p) for p in paths]


def _cron(t: Table, name: str) -> str | None:
    expr = t.str(name, None, example='"0 2 * * *"')
    if not isinstance(expr, str):
        return None
    fields = expr.split()
    if not (expr.startswith("@") or len(fields) == 5) or not croniter.is_valid(expr):
        t.problem(
            name,
            f"{expr!r} is not a valid 5-field cron expression.",
            'write minute hour day-of-month month day-of-week, e.g. "*/5 * * * *" or "0 2 * * *"',
        )
        return None
    return expr


def parse_schedule(t: Table) -> Schedule:
    tz = t.str("timezone", "UTC")
    if isinstance(tz, str):
        try:
            zoneinfo.ZoneInfo(tz)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            t.problem(
                "timezone", f"{tz!r} is not a known time zone.", 'use an IANA name such as "UTC" or "Europe/Berlin"'
            )
    schedule = Schedule(
        timezone=tz or "UTC",
        **{
            job: _cron(t, job)
            for job in ("wal_pull", "base_backup", "dump", "fileset", "copy_offsite", "verify", "drill", "prune")
        },
    )
    t.finish()
    return schedule


def parse_keep_rule(t: Table | None, default: KeepRule) -> KeepRule:
    """A keep rule table replaces the default as a whole: keys it leaves out are 0, not inherited."""
    if t is None:
        return default
    rule = KeepRule(
        **{
            k: t.int(k, 0, low=0, high=100000) or 0
            for k in ("keep_last", "keep_daily", "keep_weekly", "keep_monthly", "keep_yearly")
        }
    )
    t.finish()
    if rule.is_empty:
        t.problems.add(
            t.path,
            "keeps nothing: prune would delete the whole series.",
            "set at least one of keep_last/keep_daily/keep_weekly/keep_monthly/keep_yearly above 0",
        )
    return rule


def parse_retention(t: Table | None) -> Retention:
    if t is None:
        return Retention()
    window = t.int("recovery_window_days", 7, low=1, high=3650, example="7")
    base = parse_keep_rule(t.table("base_backups"), DEFAULT_BASE_BACKUPS)
    dumps = parse_keep_rule(t.table("dumps"), DEFAULT_DUMPS)
    snapshots = parse_keep_rule(t.table("snapshots"), DEFAULT_SNAPSHOTS)
    clusters = {}
    for name, ct in t.named_tables("clusters"):
        clusters[name] = ClusterRetention(
            recovery_window_days=ct.int("recovery_window_days", window, low=1, high=3650),
            base_backups=parse_keep_rule(ct.table("base_backups"), base),
            dumps=parse_keep_rule(ct.table("dumps"), dumps),
        )
        ct.finish()
    filesets = {}
    for name, ft in t.named_tables("filesets"):
        filesets[name] = parse_keep_rule(ft, snapshots)
    t.finish()
    return Retention(window, base, dumps, snapshots, clusters, filesets)


def parse_drill(t: Table | None) -> Drill:
    if t is None:
        return Drill()
    image = t.str("image", None, example='"localhost/qfbackup-drill:15"')
    if isinstance(image, str) and not IMAGE_RE.match(image):
        t.problem("image", f"{image!r} is not a container image name.", 'write e.g. `image = "qfbackup-drill:15"`')
    cluster = t.matching("cluster", NAME_RE, NAME_RULE, None)
    checks = []
    for _, ct in t.array_of_tables("checks"):
        check = _parse_check(ct, cluster)
        if check is not None:
            checks.append(check)
    drill = Drill(
        engine=t.choice("engine", ("auto", "podman", "docker"), "auto"),
        image=image,
        cluster=cluster,
        target=t.choice("target", ("random", "latest"), "random"),
        memory_mib=t.int("memory_mib", 2048, low=256, high=1024 * 1024),
        cpus=t.float("cpus", 2.0, low=0.1, high=256),
        timeout_minutes=t.int("timeout_minutes", 60, low=1, high=7 * 24 * 60),
        amcheck=t.bool("amcheck", True),
        read_all_tables=t.bool("read_all_tables", True),
        max_rto_minutes=t.int("max_rto_minutes", None, low=1, high=7 * 24 * 60),
        max_rpo_minutes=t.int("max_rpo_minutes", None, low=1, high=7 * 24 * 60),
        checks=tuple(checks),
    )
    t.finish()
    return drill


def _parse_check(t: Table, default_cluster: str | None) -> DrillCheck | None:
    name = t.matching("name", NAME_RE, NAME_RULE)
    sql = t.str("sql", example='"select count(*) from trades where price is null"')
    if isinstance(sql, str) and not sql.strip():
        t.problem("sql", "is empty.", "write a query that returns one value")
    expect_text = t.str("expect", example='"== 0"')
    expect = None
    if isinstance(expect_text, str):
        try:
            expect = parse_expectation(expect_text)
        except ExpectSyntaxError as e:
            t.problem("expect", str(e) + ".", 'write e.g. `expect = "== 0"` (docs/policy.md lists the forms)')
    cluster = t.matching("cluster", NAME_RE, NAME_RULE, default_cluster)
    database = t.matching("database", PG_IDENT_RE, PG_IDENT_RULE, None)
    t.finish()
    if not (name and sql and expect):
        return None
    # The database default (the cluster's first) is filled in by crosscheck, which knows the clusters.
    return DrillCheck(name=name, sql=sql, expect=expect, cluster=cluster or "", database=database or "")


def parse_alerts(t: Table | None) -> Alerts:
    if t is None:
        return Alerts()
    command = t.value(
        "command",
        (),
        lambda v: tuple(v) if isinstance(v, list) and all(isinstance(a, str) for a in v) else None,
        "a list of text: the program and its arguments, run without a shell",
        '["/usr/local/bin/notify", "ops"]',
    )
    if command and not command[0].startswith("/"):
        t.problem(
            "command",
            f"the program {command[0]!r} is not an absolute path.",
            "give the full path of the program, e.g. /usr/local/bin/notify",
        )
    if command and _inline_secret_argument(command):
        t.problem(
            "command",
            "passes a secret as an argument; policies never hold secrets (and argv is visible in ps).",
            "let the alert program read its token from a 0600 file",
        )
    alerts = Alerts(
        command=command or (),
        timeout_seconds=t.int("timeout_seconds", 30, low=1, high=3600),
        max_wal_lag_minutes=t.int("max_wal_lag_minutes", 15, low=1, high=7 * 24 * 60),
    )
    t.finish()
    return alerts


def _inline_secret_argument(argv: tuple[str, ...]) -> bool:
    """``--token=abc``, ``password=abc`` or ``--api-key abc``: a secret handed over on the command line."""
    for i, arg in enumerate(argv[1:], 1):
        name, sep, value = arg.lstrip("-").partition("=")
        flag = name.replace("-", "_")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", flag):
            continue
        if sep and value and is_secret_key(flag):
            return True
        if arg.startswith("-") and not sep and is_secret_key(flag) and i + 1 < len(argv):
            return True
    return False
