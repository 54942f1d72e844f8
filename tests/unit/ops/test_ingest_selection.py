"""Which cluster a base backup reads from, and which databases a dump may touch: decided from the policy alone."""

from __future__ import annotations

import pytest

from qfbackup.errors import PolicyError, UsageError
from qfbackup.ops.ingest.base_backup import backup_source
from qfbackup.ops.ingest.dump import databases_to_dump
from qfbackup.policy.load import parse_policy

BASE = """\
[repository]
path = "/srv/qf/repo"

[hosts.vms]
address = "db.example.com"
user = "postgres"

[clusters.main]
host = "vms"
databases = ["signalcartel", "consolidated"]
wal_archive_dir = "/backups/wal"
"""

STANDBY = """
[clusters.{name}]
host = "vms"
port = {port}
role = "standby"
standby_of = "main"
"""


def policy(extra: str = ""):
    return parse_policy(BASE + extra, "test.toml")


def names(pair) -> tuple[str, str]:
    return pair[0].name, pair[1].name


def test_primary_by_default_and_the_only_standby_on_request() -> None:
    p = policy(STANDBY.format(name="replica", port=5433))
    assert names(backup_source(p, "main", None)) == ("main", "main")
    assert names(backup_source(p, "main", True)) == ("main", "replica")
    assert names(backup_source(p, "main", False)) == ("main", "main")


def test_base_backup_from_in_the_policy() -> None:
    text = (BASE + STANDBY.format(name="a", port=5433) + STANDBY.format(name="b", port=5434)).replace(
        'wal_archive_dir = "/backups/wal"', 'wal_archive_dir = "/backups/wal"\nbase_backup_from = "b"'
    )
    p = parse_policy(text, "test.toml")
    assert names(backup_source(p, "main", None)) == ("main", "b")
    assert names(backup_source(p, "main", False)) == ("main", "main")  # --from-primary overrides


def test_refusals() -> None:
    with pytest.raises(UsageError, match="no standby"):
        backup_source(policy(), "main", True)
    two = policy(STANDBY.format(name="a", port=5433) + STANDBY.format(name="b", port=5434))
    with pytest.raises(UsageError, match="several standbys"):
        backup_source(two, "main", True)
    with pytest.raises(UsageError, match="is a standby"):
        backup_source(two, "a", None)
    with pytest.raises(PolicyError, match="no cluster named 'nope'"):
        backup_source(two, "nope", None)


def test_dump_databases_come_from_the_policy() -> None:
    main = policy().cluster("main")
    assert databases_to_dump(main, None) == ["signalcartel", "consolidated"]
    assert databases_to_dump(main, ["consolidated", "consolidated"]) == ["consolidated"]
    with pytest.raises(UsageError, match="not in the policy"):
        databases_to_dump(main, ["postgres"])
