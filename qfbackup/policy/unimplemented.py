"""What the policy reader validates but no command acts on yet, so ``policy check`` can warn about it.

The feature that implements a key removes its entry here (and the warning with it).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NotImplementedYet:
    """Keys the reader validates but no command acts on yet. The feature that implements them removes its entry."""

    keys: tuple[str, ...]  # key paths, "*" standing for any name: a policy setting one of them gets the warning
    why: str


NOT_IMPLEMENTED: tuple[NotImplementedYet, ...] = (
    NotImplementedYet(
        ("schedule",),
        "no command runs the schedule yet (there is no scheduler): run the jobs from cron or systemd timers",
    ),
    NotImplementedYet(
        ("retention",),
        "no command applies retention yet (there is no prune): nothing is ever deleted from the repository",
    ),
    NotImplementedYet(
        ("filesets",),
        "no command pulls file sets from their hosts yet (`snapshot create` backs up local directories only)",
    ),
    NotImplementedYet(
        ("alerts.command", "alerts.timeout_seconds"),
        "no command runs the alert program yet: failures go to stderr and exit codes only",
    ),
    NotImplementedYet(
        ("offsite.object_lock_days",),
        "`copy` does not set S3 Object Lock yet: copied objects are not locked",
    ),
    NotImplementedYet(
        ("clusters.*.extensions",),
        "no command uses it yet: restores do not check that the target provides these extensions",
    ),
)
