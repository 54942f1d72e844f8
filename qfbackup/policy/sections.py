"""One parser per policy section: raw TOML table in, dataclass out, problems recorded on the way.

Each parser reads its section's declared keys (``keys.read_keys``: kind, range and default come from the field
declarations in storage.py, sources.py and jobs.py) and adds what a declaration cannot say: checks that combine
keys, URL and name forms, the syntax of ``expect``, nested tables. Whether names refer to each other correctly is
checked afterwards, in ``crosscheck``, once every section is known.
"""

from __future__ import annotations

import re
import zoneinfo
from pathlib import PurePosixPath

from qfbackup.errors import ExpectSyntaxError
from qfbackup.pg.versions import DEFAULT_MAJOR, debian_bin_dir
from qfbackup.policy.expect import parse_expectation
from qfbackup.policy.jobs import Alerts, ClusterRetention, Drill, DrillCheck, KeepRule, Retention, Schedule
from qfbackup.policy.keys import FromEarlier, default_of, read_keys, spec_of
from qfbackup.policy.reader import LIST_ITEMS, Table, valid_address
from qfbackup.policy.redact import is_secret_key
from qfbackup.policy.sources import Cluster, FileSet, FileSource, Host
from qfbackup.policy.storage import Offsite, Repository

S3_URL_RE = re.compile(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(/[A-Za-z0-9._/-]*)?$")
HTTP_URL_RE = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?/?$")
IMAGE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}$")
REPO_SECRET_FIX = "put the passphrase in a file with mode 0600 and set `passphrase_file`, or use $QFBACKUP_PASSPHRASE"
S3_SECRET_FIX = (
    "put the keys in a 0600 file and set `credentials_file`, or export AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
)
SSH_SECRET_FIX = "qfbackup logs in with an SSH key only: set `key_file` to a 0600 private key"


def _check_endpoint(t: Table, endpoint: str | None) -> str | None:
    if isinstance(endpoint, str) and not HTTP_URL_RE.match(endpoint):
        t.problem(
            "endpoint",
            f"{endpoint!r} is not an http(s) URL of a server (no path, no credentials).",
            'write it like `endpoint = "https://s3.example.com"`',
        )
        return None
    return endpoint


def parse_repository(t: Table) -> Repository:
    values = read_keys(t, Repository)
    path = values["path"]
    if isinstance(path, str) and not (path.startswith("/") or S3_URL_RE.match(path)):
        t.problem(
            "path",
            f"{path!r} is neither an absolute local path nor an s3://bucket/prefix URL.",
            'write e.g. `path = "/var/lib/qfbackup/repo"` or `path = "s3://bucket/qfbackup"`',
        )
    values["path"] = path or ""
    values["endpoint"] = _check_endpoint(t, values["endpoint"])
    if not values["path"].startswith("s3://"):
        for name in ("endpoint", "credentials_file"):
            if values[name] is not None:
                t.problem(name, "only applies when the repository path is an s3:// URL.", "remove it")
    chunk = values["chunk_avg_kib"]
    if isinstance(chunk, int) and chunk & (chunk - 1):
        t.problem("chunk_avg_kib", f"{chunk} is not a power of two.", "use 16, 32, 64, 128, ... 4096")
    t.finish()
    return Repository(**values)


def parse_offsite(t: Table) -> Offsite:
    values = read_keys(t, Offsite)
    url = values["url"]
    if isinstance(url, str) and not S3_URL_RE.match(url):
        t.problem(
            "url",
            f"{url!r} is not an s3://bucket/prefix URL.",
            'write e.g. `url = "s3://quantum-forge-backups/qfbackup"`',
        )
    values["url"] = url or ""
    values["endpoint"] = _check_endpoint(t, values["endpoint"])
    t.finish()
    return Offsite(**values)


def parse_host(name: str, t: Table) -> Host:
    values = read_keys(t, Host)
    address = values["address"]
    if isinstance(address, str) and (error := valid_address(address)):
        t.problem("address", f"{address!r} {error}.", 'write e.g. `address = "db.yourdomain.com"`')
    values["address"] = address or ""
    t.finish()
    return Host(name=name, **values)


def _version(values: dict) -> int:
    return values["pg_version"] if isinstance(values["pg_version"], int) else DEFAULT_MAJOR


def parse_cluster(name: str, t: Table) -> Cluster:
    values = read_keys(t, Cluster, pg_bin_dir=FromEarlier(lambda v: debian_bin_dir(_version(v))))
    values["pg_version"] = _version(values)
    t.finish()
    return Cluster(name=name, **values)


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
    paths_spec = spec_of(FileSource, "paths")
    if t.has("sources"):
        if t.has("paths"):
            t.problem("paths", "cannot be combined with [[...sources]] tables.", "move the paths into the sources")
            t.str_list("paths", ())
        for _, src in t.array_of_tables("sources"):
            source = read_keys(src, FileSource)
            src.finish()
            if source["host"] and source["paths"] is not None:
                sources.append(FileSource(source["host"], tuple(_posix(source["paths"]))))
    else:
        hosts: tuple[str, ...] = ()
        if t.has("hosts"):
            hosts = t.str_list("hosts", (), item=LIST_ITEMS["name"], rule="name a [hosts.NAME] section") or ()
            if not hosts:
                t.problem("hosts", "is empty.", 'name at least one host, e.g. `hosts = ["dev1", "dev2"]`')
        elif t.has("host"):
            host = spec_of(FileSource, "host").read(t, "host", default_of(FileSource, "host"))
            hosts = (host,) if host else ()
        paths = paths_spec.read(t, "paths", None)
        if t.has("hosts") or t.has("host"):
            if paths is None:
                t.problem("paths", "is missing.", 'add `paths = ["/absolute/path", ...]`')
            sources = [FileSource(h, tuple(_posix(paths or ()))) for h in hosts]
    for i, src in enumerate(sources, 1):
        if not src.paths:
            key = "paths" if len(sources) == 1 else f"sources[{i}].paths"
            t.problem(key, "is empty: the file set would back up nothing.", "list at least one path")
    fileset = FileSet(name=name, sources=tuple(sources), **read_keys(t, FileSet))
    t.finish()
    return fileset


def _posix(paths: tuple[str, ...]) -> list[PurePosixPath]:
    return [PurePosixPath(p) for p in paths]


def parse_schedule(t: Table) -> Schedule:
    values = read_keys(t, Schedule)
    tz = values["timezone"]
    if isinstance(tz, str):
        try:
            zoneinfo.ZoneInfo(tz)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            t.problem(
                "timezone", f"{tz!r} is not a known time zone.", 'use an IANA name such as "UTC" or "Europe/Berlin"'
            )
    values["timezone"] = tz or "UTC"
    t.finish()
    return Schedule(**values)


def parse_keep_rule(t: Table | None, default: KeepRule) -> KeepRule:
    """A keep rule table replaces the default as a whole: keys it leaves out are 0, not inherited."""
    if t is None:
        return default
    rule = KeepRule(**{k: v or 0 for k, v in read_keys(t, KeepRule).items()})
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
    window = read_keys(t, Retention)["recovery_window_days"]
    base = parse_keep_rule(t.table("base_backups"), default_of(Retention, "base_backups"))
    dumps = parse_keep_rule(t.table("dumps"), default_of(Retention, "dumps"))
    snapshots = parse_keep_rule(t.table("snapshots"), default_of(Retention, "snapshots"))
    window_spec = spec_of(Retention, "recovery_window_days")
    clusters = {}
    for name, ct in t.named_tables("clusters"):
        clusters[name] = ClusterRetention(
            recovery_window_days=window_spec.read(ct, "recovery_window_days", window),
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
    values = read_keys(t, Drill)
    image = values["image"]
    if isinstance(image, str) and not IMAGE_RE.match(image):
        t.problem("image", f"{image!r} is not a container image name.", 'write e.g. `image = "qfbackup-drill:15"`')
    checks = []
    for _, ct in t.array_of_tables("checks"):
        check = _parse_check(ct, values["cluster"])
        if check is not None:
            checks.append(check)
    t.finish()
    return Drill(**values, checks=tuple(checks))


def _parse_check(t: Table, default_cluster: str | None) -> DrillCheck | None:
    values = read_keys(t, DrillCheck, cluster=default_cluster, database=None)
    sql, expect_text = values["sql"], values["expect"]
    if isinstance(sql, str) and not sql.strip():
        t.problem("sql", "is empty.", "write a query that returns one value")
    expect = None
    if isinstance(expect_text, str):
        try:
            expect = parse_expectation(expect_text)
        except ExpectSyntaxError as e:
            t.problem("expect", str(e) + ".", 'write e.g. `expect = "== 0"` (docs/policy.md lists the forms)')
    t.finish()
    if not (values["name"] and sql and expect):
        return None
    # The database default (the cluster's first) is filled in by crosscheck, which knows the clusters.
    return DrillCheck(
        name=values["name"], sql=sql, expect=expect, cluster=values["cluster"] or "", database=values["database"] or ""
    )


def parse_alerts(t: Table | None) -> Alerts:
    if t is None:
        return Alerts()
    command = t.value(
        "command",
        default_of(Alerts, "command"),
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
    alerts = Alerts(command=command or (), **read_keys(t, Alerts))
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
