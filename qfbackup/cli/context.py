"""State shared by all commands: global options, the policy, and output that honours --json / --quiet."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from qfbackup.errors import UsageError
from qfbackup.output.document import dumps

DEFAULT_POLICY = "/etc/qfbackup/policy.toml"


@dataclass
class CliContext:
    policy_path: str | None = None
    repo_url: str | None = None
    lock_wait: float = 0.0
    break_lock: bool = False
    as_json: bool = False
    quiet: bool = False
    verbose: int = 0
    _policy: Any = field(default=None, repr=False)

    @property
    def policy(self):
        """The effective policy, loaded on first use (commands that need none never read it)."""
        if self._policy is None:
            from qfbackup.policy import load_policy

            self._policy = load_policy(Path(self.policy_path or DEFAULT_POLICY))
        return self._policy

    def policy_or_none(self):
        """The policy, or None when none was named and the default file does not exist (ad-hoc use)."""
        if self.policy_path is None and not Path(DEFAULT_POLICY).exists():
            return None
        return self.policy

    def open_repo(self, *, cache: bool = True):
        from qfbackup.ops.access import open_repository

        return open_repository(self.policy_or_none(), self.repo_url, cache=cache)

    def known_cluster(self, name: str, snapshots) -> str:
        """``name`` if the policy or the repository knows that cluster; else a usage error (exit 2), so that a
        typo never reads as an empty catalogue or an empty restore. Without a policy (the S3 copy alone after a
        disaster) the repository's own snapshots say which clusters exist."""
        policy = self.policy_or_none()
        from qfbackup.catalog.kinds import cluster_names

        in_repo = cluster_names(snapshots)
        in_policy = set(policy.clusters) if policy is not None else set()
        if name in in_policy or name in in_repo:
            return name
        raise UsageError(
            f"unknown cluster {name!r}", hint=f"known clusters: {', '.join(sorted(in_policy | in_repo)) or 'none'}"
        )

    def lock(self, repo, command: str, *, exclusive: bool = False, read_only: bool = False):
        """``read_only``: the command only reads, so it may run on a repository it cannot write (see RepoLock)."""
        return repo.lock(
            command=command,
            exclusive=exclusive,
            wait=self.lock_wait,
            break_lock=self.break_lock,
            warn=self.warn,
            best_effort=read_only,
        )

    def progress(self, description: str, total: int | None = None):
        from qfbackup.output.progress import progress_bar

        return progress_bar(self.show_progress, description, total)

    def info(self, message: str) -> None:
        """A human progress/status line: stderr under --json, nothing under --quiet."""
        if not self.quiet:
            click.echo(message, err=self.as_json)

    def warn(self, message: str) -> None:
        """Warnings always go to stderr, even under --quiet: cron mails them."""
        click.echo(f"qfbackup: warning: {message}", err=True)

    def emit(self, doc: dict[str, Any], render: Callable[[dict[str, Any]], str] | None = None) -> None:
        """The command's result, a document from ``output.document``: as JSON on stdout under --json, else as
        ``render`` writes it (nothing under --quiet, or without a renderer: a command whose text went out as it
        worked)."""
        if self.as_json:
            click.echo(dumps(doc))
        elif render is not None and not self.quiet:
            text = render(doc)
            if text:
                click.echo(text)

    @property
    def show_progress(self) -> bool:
        return not self.quiet and sys.stderr.isatty() and os.environ.get("TERM") != "dumb"


pass_ctx = click.make_pass_decorator(CliContext)
