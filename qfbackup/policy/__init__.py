"""Backup policies: policies/*.toml loaded into typed, validated, frozen dataclasses.

Every other module takes its configuration from a ``Policy``; nothing else reads the TOML. docs/policy.md documents
each key; ``qfbackup policy check`` prints the effective policy with secrets redacted.
"""

from qfbackup.policy.expect import Expectation, ExpectSyntaxError, parse_expectation
from qfbackup.policy.load import load_policy, parse_policy
from qfbackup.policy.schema import (
    PASSPHRASE_ENV,
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
    Policy,
    Repository,
    Retention,
    Schedule,
)

__all__ = [
    "PASSPHRASE_ENV",
    "Alerts",
    "Cluster",
    "ClusterRetention",
    "Drill",
    "DrillCheck",
    "ExpectSyntaxError",
    "Expectation",
    "FileSet",
    "FileSource",
    "Host",
    "KeepRule",
    "Offsite",
    "Policy",
    "Repository",
    "Retention",
    "Schedule",
    "load_policy",
    "parse_expectation",
    "parse_policy",
]
