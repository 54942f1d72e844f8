"""Loading and validating policies: the shipped seed policy, defaults, and every kind of error with file + key."""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath

import pytest

from qfbackup.errors import PolicyError
from qfbackup.policy import load_policy, parse_policy
from qfbackup.policy.jobs import KeepRule

# --- the shipped policy -----------------------------------------------------------------------------------------


def test_shipped_policy_loads(shipped: Path) -> None:
    policy = load_policy(shipped)

    assert set(policy.hosts) == {"vms", "dev1", "dev2"}
    vms = policy.hosts["vms"]
    assert (vms.address, vms.user) == ("db.yourdomain.com", "postgres")
    assert vms.key_file == Path("/etc/qfbackup/ssh/id_ed25519")
    assert vms.known_hosts == Path("/etc/qfbackup/ssh/known_hosts")

    sc = policy.cluster("signalcartel")
    assert (sc.port, sc.wal_archive_dir, sc.databases) == (5432, PurePosixPath("/backups/wal"), ("signalcartel",))
    assert policy.base_backup_source("signalcartel").name == "signalcartel-standby"
    standby = policy.cluster("signalcartel-standby")
    assert (standby.port, standby.role, standby.standby_of) == (5433, "standby", "signalcartel")
    consolidated = policy.cluster("consolidated")
    assert consolidated.port == 5434 and consolidated.databases == ("consolidated",)
    assert consolidated.wal_archive_dir not in (None, sc.wal_archive_dir)
    assert [c.name for c in policy.primaries()] == ["signalcartel", "consolidated"]

    assert set(policy.filesets) == {"ai-models", "config", "dev-config"}
    assert policy.fileset("config").secret
    assert set(policy.fileset("ai-models").hosts) == {"dev2", "vms"}
    assert policy.fileset("dev-config").hosts == ("dev1", "dev2")

    assert policy.schedule.wal_pull == "*/5 * * * *"
    assert {"base_backup", "dump", "drill"} <= set(policy.schedule.jobs())
    assert policy.repository.path == "/var/lib/qfbackup/repo"
    assert policy.offsite is not None and policy.offsite.url.startswith("s3://")
    assert policy.retention.for_cluster("consolidated").recovery_window_days < policy.retention.recovery_window_days
    assert policy.drill.cluster == "signalcartel"
    assert any("price is null" in c.sql and c.expect.text == "== 0" for c in policy.drill.checks)
    assert policy.drill.checks_for("consolidated")


def test_shipped_policy_holds_no_secret_values(shipped: Path) -> None:
    text = shipped.read_text()
    assert not re.search(r"^\s*(password|passphrase|secret_key|access_key)\s*=", text, re.MULTILINE)
    assert "secure_pass" not in text


# --- defaults ---------------------------------------------------------------------------------------------------


def test_defaults_are_filled_in(minimal: str) -> None:
    policy = parse_policy(minimal, "<test>")

    repo = policy.repository
    assert (repo.pack_size_mib, repo.chunk_avg_kib, repo.compression_level, repo.workers) == (16, 64, 3, 2)
    assert repo.passphrase_file is None and repo.key_file is None and not repo.is_s3
    host = policy.host("vms")
    assert (host.port, host.connect_timeout, host.keepalive) == (22, 10, 15)
    cluster = policy.cluster("main")
    assert cluster.port == 5432 and cluster.role == "primary" and cluster.remove_after is False
    assert cluster.pg_bin_dir == PurePosixPath("/usr/lib/postgresql/15/bin")
    assert cluster.socket_dir == PurePosixPath("/var/run/postgresql") and cluster.user == "postgres"
    assert policy.offsite is None
    assert policy.schedule.jobs() == {} and policy.schedule.timezone == "UTC"
    assert policy.drill.cluster == "main" and policy.drill.engine == "auto" and policy.drill.checks == ()
    assert policy.retention.for_cluster("main").base_backups == KeepRule(keep_daily=7, keep_weekly=4, keep_monthly=3)
    assert policy.alerts.command == ()
    assert any("[offsite]" in w for w in policy.warnings)


def test_pg_bin_dir_follows_pg_version(minimal: str) -> None:
    policy = parse_policy(minimal.replace('databases = ["trading"]', 'databases = ["trading"]\npg_version = 16'), "t")
    assert policy.cluster("main").pg_bin_dir == PurePosixPath("/usr/lib/postgresql/16/bin")


def test_retention_override_replaces_rule_and_inherits_the_rest(minimal: str) -> None:
    text = minimal + "\n[retention]\nrecovery_window_days = 10\n[retention.clusters.main.dumps]\nkeep_last = 3\n"
    r = parse_policy(text, "t").retention.for_cluster("main")
    assert r.recovery_window_days == 10
    assert r.dumps == KeepRule(keep_last=3)
    assert r.base_backups == KeepRule(keep_daily=7, keep_weekly=4, keep_monthly=3)


def test_fileset_forms_normalise_to_sources(minimal: str) -> None:
    text = minimal + (
        '\n[hosts.dev1]\naddress = "10.0.0.5"\nuser = "ops"\n'
        '[filesets.one]\nhost = "vms"\npaths = ["/etc/a"]\n'
        '[filesets.many]\nhosts = ["vms", "dev1"]\npaths = ["/etc/b"]\n'
        '[[filesets.split.sources]]\nhost = "vms"\npaths = ["/m1"]\n'
        '[[filesets.split.sources]]\nhost = "dev1"\npaths = ["/m2", "/m3"]\n'
    )
    policy = parse_policy(text, "t")
    assert policy.fileset("one").hosts == ("vms",)
    assert [s.paths for s in policy.fileset("many").sources] == [(PurePosixPath("/etc/b"),)] * 2
    assert policy.fileset("split").sources[1].paths == (PurePosixPath("/m2"), PurePosixPath("/m3"))
    assert set(policy.retention.filesets) == {"one", "many", "split"}


def test_s3_options_for_the_store(minimal: str) -> None:
    text = minimal + '\n[offsite]\nurl = "s3://bucket/qf"\nendpoint = "http://127.0.0.1:8333"\n'
    policy = parse_policy(text, "t")
    assert policy.offsite is not None
    assert policy.offsite.s3_options() == {
        "endpoint": "http://127.0.0.1:8333",
        "region": "us-east-1",
        "credentials_file": None,
    }


def test_repository_in_s3(minimal: str) -> None:
    text = minimal.replace('path = "/srv/qf/repo"', 'path = "s3://bucket/repo"\nendpoint = "https://s3.example.com"')
    repo = parse_policy(text, "t").repository
    assert repo.is_s3 and repo.s3_options()["endpoint"] == "https://s3.example.com"


def test_lookup_of_unknown_name_lists_known_ones(minimal: str) -> None:
    policy = parse_policy(minimal, "t")
    with pytest.raises(PolicyError, match=r"no cluster named 'nope' \(known: main\)"):
        policy.cluster("nope")


def test_policy_is_frozen(minimal: str) -> None:
    policy = parse_policy(minimal, "t")
    with pytest.raises(AttributeError):
        policy.repository.workers = 9  # type: ignore[misc]
    with pytest.raises(TypeError):
        policy.clusters["x"] = policy.clusters["main"]  # type: ignore[index]


# --- errors: each names the file and the key -------------------------------------------------------------------

ERRORS = [
    # (id, edit(minimal) -> text, key in message, words in message)
    (
        "unknown-key",
        lambda m: m.replace('user = "postgres"', 'user = "postgres"\nprot = 22'),
        "hosts.vms.prot",
        "did you mean `port`",
    ),
    ("unknown-section", lambda m: m + "\n[retension]\nkeep = 1\n", "retension", "did you mean `retention`"),
    (
        "bad-type",
        lambda m: m.replace('host = "vms"', 'host = "vms"\nport = "5432"'),
        "clusters.main.port",
        "expected a whole number",
    ),
    (
        "out-of-range",
        lambda m: m.replace('user = "postgres"', 'user = "postgres"\nport = 70000'),
        "hosts.vms.port",
        "from 1 to 65535",
    ),
    (
        "bool-as-text",
        lambda m: m.replace('host = "vms"', 'host = "vms"\nremove_after = "yes"'),
        "clusters.main.remove_after",
        "true or false",
    ),
    ("bad-cron", lambda m: m + '\n[schedule]\ndump = "61 * * * *"\n', "schedule.dump", "not a valid 5-field cron"),
    ("six-field-cron", lambda m: m + '\n[schedule]\ndump = "0 0 2 * * *"\n', "schedule.dump", "5-field"),
    ("bad-timezone", lambda m: m + '\n[schedule]\ntimezone = "Mars/Olympus"\n', "schedule.timezone", "time zone"),
    (
        "bad-reference",
        lambda m: m.replace('host = "vms"', 'host = "vmz"'),
        "clusters.main.host",
        "names host 'vmz', which is not defined",
    ),
    (
        "fileset-bad-host",
        lambda m: m + '\n[filesets.cfg]\nhost = "nope"\npaths = ["/etc"]\n',
        "filesets.cfg",
        "not defined",
    ),
    (
        "secret-inline",
        lambda m: m.replace('path = "/srv/qf/repo"', 'path = "/srv/qf/repo"\npassword = "hunter2"'),
        "repository.password",
        "passphrase_file",
    ),
    (
        "secret-key-offsite",
        lambda m: m + '\n[offsite]\nurl = "s3://bucket/p"\nsecret_key = "abc"\n',
        "offsite.secret_key",
        "credentials_file",
    ),
    ("secret-in-url", lambda m: m + '\n[offsite]\nurl = "s3://AKIA:abc@bucket/p"\n', "offsite.url", "password"),
    (
        "bad-section-name",
        lambda m: m + '\n[hosts.Bad_Host]\naddress = "x"\nuser = "u"\n',
        "hosts.Bad_Host",
        "not a valid name",
    ),
    (
        "name-with-shell",
        lambda m: m + '\n[hosts."a;rm"]\naddress = "x"\nuser = "u"\n',
        "hosts.a;rm",
        "not a valid name",
    ),
    (
        "bad-database-name",
        lambda m: m.replace('["trading"]', '["trading; drop"]'),
        "clusters.main.databases[1]",
        "PostgreSQL identifier",
    ),
    (
        "relative-path",
        lambda m: m.replace('"/backups/wal"', '"backups/wal"'),
        "clusters.main.wal_archive_dir",
        "absolute path",
    ),
    ("missing-required", lambda m: m.replace('user = "postgres"\n', ""), "hosts.vms.user", "is missing"),
    ("missing-repository", lambda m: m[m.index("[hosts.vms]") :], "repository", "missing"),
    ("bad-address", lambda m: m.replace('"db.example.com"', '"db example"'), "hosts.vms.address", "host name"),
    (
        "standby-without-primary",
        lambda m: m + '\n[clusters.replica]\nhost = "vms"\nport = 5433\nrole = "standby"\n',
        "clusters.replica.standby_of",
        "must name its primary",
    ),
    (
        "base-backup-from-primary",
        lambda m: m.replace('host = "vms"', 'host = "vms"\nbase_backup_from = "main"'),
        "clusters.main.base_backup_from",
        "not a standby of 'main'",
    ),
    ("duplicate-port", lambda m: m + '\n[clusters.other]\nhost = "vms"\n', "clusters.other.port", "already used"),
    (
        "shared-archive",
        lambda m: m + '\n[clusters.other]\nhost = "vms"\nport = 5434\nwal_archive_dir = "/backups/wal"\n',
        "clusters.other.wal_archive_dir",
        "mixed",
    ),
    (
        "remove-after-without-archive",
        lambda m: m + '\n[clusters.other]\nhost = "vms"\nport = 5434\nremove_after = true\n',
        "clusters.other.remove_after",
        "no wal_archive_dir",
    ),
    (
        "bad-expect",
        lambda m: m + '\n[[drill.checks]]\nname = "c"\nsql = "select 1"\nexpect = "~= 3"\n',
        "drill.checks[1].expect",
        "not a condition",
    ),
    (
        "check-unknown-database",
        lambda m: m + '\n[[drill.checks]]\nname = "c"\nsql = "select 1"\nexpect = "== 1"\ndatabase = "other"\n',
        "drill.checks[1].database",
        "not one of cluster 'main'",
    ),
    ("drill-unknown-cluster", lambda m: m + '\n[drill]\ncluster = "nope"\n', "drill.cluster", "not a defined primary"),
    (
        "retention-unknown-cluster",
        lambda m: m + "\n[retention.clusters.nope]\nrecovery_window_days = 3\n",
        "retention.clusters.nope",
        "does not name",
    ),
    ("keep-nothing", lambda m: m + "\n[retention.dumps]\nkeep_daily = 0\n", "retention.dumps", "keeps nothing"),
    (
        "fileset-two-forms",
        lambda m: m + '\n[filesets.f]\nhost = "vms"\nhosts = ["vms"]\npaths = ["/etc"]\n',
        "filesets.f.hosts",
        "cannot be combined",
    ),
    (
        "copy-offsite-without-offsite",
        lambda m: m + '\n[schedule]\ncopy_offsite = "0 * * * *"\n',
        "schedule.copy_offsite",
        "no [offsite]",
    ),
    (
        "offsite-overlaps-repo",
        lambda m: m.replace('"/srv/qf/repo"', '"s3://bucket/qf"') + '\n[offsite]\nurl = "s3://bucket/qf/copy"\n',
        "offsite.url",
        "overlaps",
    ),
    (
        "chunk-not-power-of-two",
        lambda m: m.replace('path = "/srv/qf/repo"', 'path = "/r"\nchunk_avg_kib = 100'),
        "repository.chunk_avg_kib",
        "power of two",
    ),
    (
        "alert-command-as-string",
        lambda m: m + '\n[alerts]\ncommand = "/bin/notify ops"\n',
        "alerts.command",
        "list of text",
    ),
    (
        "alert-token-argument",
        lambda m: m + '\n[alerts]\ncommand = ["/bin/notify", "--api-key", "abc"]\n',
        "alerts.command",
        "0600 file",
    ),
    (
        "fileset-sources-and-paths",
        lambda m: m + '\n[filesets.f]\npaths = ["/a"]\n[[filesets.f.sources]]\nhost = "vms"\npaths = ["/b"]\n',
        "filesets.f.paths",
        "cannot be combined",
    ),
    ("unsupported-version", lambda m: "version = 2\n" + m, "version", "not a policy version"),
]


@pytest.mark.parametrize(("edit", "key", "words"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_error_names_file_and_key(write_policy, minimal: str, edit, key: str, words: str) -> None:
    path = write_policy(edit(minimal))
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    message, fix = info.value.message, info.value.hint
    assert str(path) in message
    assert f"{key}:" in message, message
    assert fix
    assert words in f"{message}\nfix: {fix}", message  # what the operator reads: main prints both
    assert info.value.exit_code == 2


def test_every_problem_is_listed_at_once(minimal: str) -> None:
    text = (
        minimal.replace('user = "postgres"', 'user = "postgres"\nprot = 22').replace(
            'host = "vms"', 'host = "vms"\nport = "x"'
        )
        + '\n[schedule]\ndump = "nope"\n'
    )
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "p.toml")
    message = info.value.message
    assert message.startswith("p.toml: 3 problems:")
    for key in ("hosts.vms.prot", "clusters.main.port", "schedule.dump"):
        assert f"  {key}: " in message


def test_secret_value_is_not_echoed(minimal: str) -> None:
    text = minimal.replace('path = "/srv/qf/repo"', 'path = "/r"\npassphrase = "hunter2"') + (
        '\n[offsite]\nurl = "s3://AKIA:topsecret@bucket/p"\n'
    )
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "t")
    assert "hunter2" not in str(info.value) and "topsecret" not in str(info.value)


def test_missing_file_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as info:
        load_policy(tmp_path / "absent.toml")
    assert "absent.toml does not exist" in info.value.message
    assert "--policy FILE" in info.value.hint and "$QFBACKUP_POLICY" in info.value.hint


def test_invalid_toml_names_the_line(write_policy) -> None:
    path = write_policy('[repository]\npath = "/r"\nworkers = \n')
    with pytest.raises(PolicyError, match=r"not valid TOML.*line 3"):
        load_policy(path)


# --- secret files -----------------------------------------------------------------------------------------------


def _with_passphrase_file(minimal: str, secret: Path) -> str:
    return minimal.replace('path = "/srv/qf/repo"', f'path = "/srv/qf/repo"\npassphrase_file = "{secret}"')


def test_passphrase_file_readable_by_others_is_refused(tmp_path: Path, minimal: str) -> None:
    secret = tmp_path / "passphrase"
    secret.write_text("correct horse")
    os.chmod(secret, 0o644)
    with pytest.raises(PolicyError) as info:
        parse_policy(_with_passphrase_file(minimal, secret), "t")
    assert "repository.passphrase_file" in info.value.message and "0644" in info.value.message
    assert info.value.hint == f"run `chmod 600 {secret}`"


def test_passphrase_file_with_mode_0600_is_accepted(tmp_path: Path, minimal: str) -> None:
    secret = tmp_path / "passphrase"
    secret.write_text("correct horse")
    os.chmod(secret, 0o600)
    policy = parse_policy(_with_passphrase_file(minimal, secret), "t")
    assert policy.repository.passphrase_file == secret
    assert "correct horse" not in str(policy.redacted())


def test_missing_passphrase_file_is_a_warning(tmp_path: Path, minimal: str) -> None:
    policy = parse_policy(_with_passphrase_file(minimal, tmp_path / "later"), "t")
    assert any("repository.passphrase_file" in w and "does not exist yet" in w for w in policy.warnings)


def test_ssh_key_readable_by_others_is_refused(tmp_path: Path, minimal: str) -> None:
    key = tmp_path / "id_ed25519"
    key.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    os.chmod(key, 0o640)
    text = minimal.replace('user = "postgres"', f'user = "postgres"\nkey_file = "{key}"')
    with pytest.raises(PolicyError, match=r"hosts\.vms\.key_file"):
        parse_policy(text, "t")
