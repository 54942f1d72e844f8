"""Opening the repository the way every command does: where it is, and which credential unlocks it.

The credential is looked up in a fixed order so cron jobs and operators get the same answer: key file or
passphrase file from the environment, then from the policy, then $QFBACKUP_PASSPHRASE, then a prompt on a TTY.
Secrets never come from argv (visible in ``ps``) and are never printed.
"""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path

from qfbackup.common.secretfile import read_secret_file
from qfbackup.errors import KeyRefused, UsageError
from qfbackup.repo.keys import Credential
from qfbackup.repo.repository import Repository
from qfbackup.repo.store import Store, open_store
from qfbackup.repo.store_cache import CachingStore

DEFAULT_REPO = "/var/lib/qfbackup/repo"


def read_passphrase_file(path: Path, what: str = "passphrase file") -> str:
    return read_secret_file(path, what).rstrip("\r\n")


def resolve_credential(policy=None, *, prompt: bool = True, confirm: bool = False) -> Credential:
    env = os.environ
    repo_cfg = getattr(policy, "repository", None)
    if env.get("QFBACKUP_KEY_FILE"):
        return Credential.from_keyfile(env["QFBACKUP_KEY_FILE"])
    if env.get("QFBACKUP_PASSPHRASE_FILE"):
        return Credential.passphrase(read_passphrase_file(Path(env["QFBACKUP_PASSPHRASE_FILE"])))
    if repo_cfg is not None and getattr(repo_cfg, "key_file", None):
        return Credential.from_keyfile(repo_cfg.key_file)
    if repo_cfg is not None and getattr(repo_cfg, "passphrase_file", None):
        return Credential.passphrase(read_passphrase_file(Path(repo_cfg.passphrase_file)))
    if env.get("QFBACKUP_PASSPHRASE"):
        return Credential.passphrase(env["QFBACKUP_PASSPHRASE"])
    if prompt and sys.stdin.isatty():
        return Credential.passphrase(ask_passphrase("Repository passphrase: ", confirm=confirm))
    raise KeyRefused(
        "no passphrase or key file given",
        hint="set repository.passphrase_file (0600) in the policy, or QFBACKUP_PASSPHRASE_FILE / QFBACKUP_KEY_FILE",
    )


def ask_passphrase(label: str, *, confirm: bool) -> str:
    first = getpass.getpass(label)
    if confirm and getpass.getpass("Repeat passphrase: ") != first:
        raise UsageError("the passphrases do not match")
    return first


def repo_url(policy=None, override: str | None = None) -> str:
    if override:
        return override
    if policy is not None:
        return policy.repository.path
    return DEFAULT_REPO


def offsite_store(policy, target: str) -> Store:
    """``offsite`` names the policy's off-site section; anything else is taken as a URL."""
    if target == "offsite":
        if policy is None or policy.offsite is None:
            raise UsageError("the policy has no [offsite] section", hint="add one, or pass --to s3://bucket/prefix")
        return open_store(policy.offsite.url, s3_options=policy.offsite.s3_options())
    return open_store(target)


def open_repository(policy=None, override: str | None = None, *, cache: bool = True) -> Repository:
    """``cache``: read indexes and snapshots through the local cache (policy repository.cache_dir)."""
    url = repo_url(policy, override)
    store = open_store(url, s3_options=s3_options(policy, url))
    repo = Repository.open(store, resolve_credential(policy))
    cache_dir = getattr(getattr(policy, "repository", None), "cache_dir", None)
    if cache and cache_dir is not None:
        repo.store = CachingStore(store, Path(cache_dir) / repo.config.id)
    return repo


def s3_options(policy, url: str | None = None) -> dict | None:
    """Endpoint and credentials for an s3:// URL: the repository's own settings when it is the policy's
    repository, else the [offsite] section's (the mirror, e.g. restoring with --repo s3://...), else the env."""
    if policy is None:
        return None
    repository = policy.repository
    if repository.is_s3 and (url is None or url == repository.path):
        return repository.s3_options()
    return policy.offsite.s3_options() if policy.offsite is not None else None
