"""What ``policy check`` shows: plain data with secrets redacted, rendered as TOML that loads back identically."""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import fields
from pathlib import Path

from qfbackup.output.text.policy import effective_policy
from qfbackup.policy import load_policy, parse_policy
from qfbackup.policy.jobs import Alerts, Drill, DrillCheck, KeepRule, Retention, Schedule
from qfbackup.policy.redact import REDACTED, redact
from qfbackup.policy.sources import Cluster, FileSet, Host
from qfbackup.policy.storage import Offsite, Repository

DOCS = Path(__file__).resolve().parents[3] / "docs" / "policy.md"


def test_redacted_is_json_and_complete(shipped: Path) -> None:
    data = load_policy(shipped).redacted()
    json.dumps(data)
    assert data["clusters"]["signalcartel"]["pg_bin_dir"] == "/usr/lib/postgresql/15/bin"
    assert data["repository"]["passphrase_file"] == "/etc/qfbackup/passphrase"  # paths are shown
    assert data["drill"]["checks"][1]["expect"] == "== 0"
    assert "warnings" not in data


def test_urls_with_tokens_are_redacted(minimal: str) -> None:
    text = minimal + '\n[alerts]\ncommand = ["/usr/bin/curl", "https://hooks.example.com/x?token=abc123"]\n'
    data = parse_policy(text, "t").redacted()
    assert "abc123" not in json.dumps(data)
    assert data["alerts"]["command"][1] == f"https://hooks.example.com/x?{REDACTED}"


def test_secret_sounding_keys_are_redacted_defensively() -> None:
    data = redact({"password": "hunter2", "nested": {"api_key": "k", "key_file": "/etc/k"}, "url": "https://u:p@h/"})
    assert data == {
        "password": REDACTED,
        "nested": {"api_key": REDACTED, "key_file": "/etc/k"},
        "url": f"https://{REDACTED}@h/",
    }


def test_rendered_policy_is_toml_that_loads_back_to_the_same_policy(shipped: Path) -> None:
    policy = load_policy(shipped)
    text = effective_policy(policy.redacted())
    tomllib.loads(text)
    again = parse_policy(text, policy.source)
    assert again.redacted() == policy.redacted()


def test_every_field_is_documented() -> None:
    """docs/policy.md is the operator's reference: every policy key must appear in it."""
    doc = DOCS.read_text()
    skip = {"name", "source", "warnings", "sources", "clusters", "filesets", "checks", "host", "hosts"}
    classes = [Repository, Offsite, Host, Cluster, FileSet, Schedule, KeepRule, Retention, Drill, DrillCheck, Alerts]
    missing = [
        f"{c.__name__}.{f.name}"
        for c in classes
        for f in fields(c)
        if f.name not in skip and not re.search(rf"`{f.name}`", doc)
    ]
    assert not missing
