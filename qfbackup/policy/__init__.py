"""Backup policies: policies/*.toml loaded into typed, validated, frozen dataclasses.

Every other module takes its configuration from a ``Policy`` (schema.py; its sections in storage.py, sources.py and
jobs.py); nothing else reads the TOML. docs/policy.md documents each key; ``qfbackup policy check`` prints the
effective policy with secrets redacted. The package offers only its two entry points; every class is imported from
its own module.
"""

from qfbackup.policy.load import load_policy, parse_policy

__all__ = ["load_policy", "parse_policy"]
