"""What ``qfbackup policy check`` reports about a valid policy besides its warnings: what it covers, counted (the
text and the JSON are written from it by qfbackup/output/)."""

from __future__ import annotations

from typing import Any

from qfbackup.policy.schema import Policy


def policy_summary(policy: Policy) -> dict[str, Any]:
    """What the policy covers, counted: the first thing an operator wants to see after "valid"."""
    return {
        "hosts": len(policy.hosts),
        "clusters": len(policy.clusters),
        "primaries": len(policy.primaries()),
        "filesets": len(policy.filesets),
        "drill_checks": len(policy.drill.checks),
        "scheduled_jobs": len(policy.schedule.jobs()),
        "offsite": policy.offsite is not None,
        "warnings": len(policy.notices),
        "not_implemented": sum(n.code == "not-implemented" for n in policy.notices),
    }
