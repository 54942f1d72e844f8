"""Fixtures for policy tests: the shipped seed policy and a small valid policy to break one key at a time."""

from __future__ import annotations

from pathlib import Path

import pytest

SHIPPED = Path(__file__).resolve().parents[3] / "policies" / "quantum-forge.toml"

MINIMAL = """\
[repository]
path = "/srv/qf/repo"

[hosts.vms]
address = "db.example.com"
user = "postgres"

[clusters.main]
host = "vms"
databases = ["trading"]
wal_archive_dir = "/backups/wal"
"""


@pytest.fixture
def shipped() -> Path:
    return SHIPPED


@pytest.fixture
def minimal() -> str:
    """A valid policy with one host and one cluster; tests append or replace lines to break it."""
    return MINIMAL


@pytest.fixture
def write_policy(tmp_path: Path):
    """Write policy text to a file and return its path (tests that need a real file name in messages)."""

    def write(text: str, name: str = "policy.toml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write
