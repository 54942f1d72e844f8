"""JSON contracts of the policy commands (see qfbackup/output/contract/__init__.py)."""

from qfbackup.output.contract import Contract, Key

CONTRACTS: list[Contract] = [
    Contract(
        "policy check",
        "The verdict on a policy file, what it covers and its warnings; the effective policy with `--show`. An "
        "invalid policy prints no document: it exits 2 with every problem on stderr.",
        (
            Key("valid", "boolean", "the verdict: always true here (an invalid policy exits 2 instead)"),
            Key("source", "string", "the policy file checked"),
            Key("summary", "object", "what the policy covers, counted"),
            Key("summary.hosts", "integer", "hosts"),
            Key("summary.clusters", "integer", "clusters, primaries and others"),
            Key("summary.primaries", "integer", "clusters that are primaries"),
            Key("summary.filesets", "integer", "file sets"),
            Key("summary.drill_checks", "integer", "drill checks (`drill.checks`)"),
            Key("summary.scheduled_jobs", "integer", "jobs the schedule names"),
            Key("summary.offsite", "boolean", "an off-site copy is configured"),
            Key("summary.warnings", "integer", "how many warnings (the entries of `warnings`)"),
            Key("summary.not_implemented", "integer", "how many of them are about settings no command acts on yet"),
            Key("warnings", "array", "every warning, also written to stderr in words"),
            Key("warnings[]", "object", "one warning"),
            Key(
                "warnings[].code",
                "string",
                "its kind: `not-implemented` (a setting no command acts on yet), `no-offsite`, `file-missing`...",
            ),
            Key("warnings[].key", "string", "the policy key it is about (`offsite.object_lock_days`)"),
            Key("warnings[].message", "string", "the warning in words"),
            Key(
                "policy",
                "any",
                "only with `--show`: the effective policy, every default filled in and secrets redacted, keyed as "
                "the policy file is (docs/policy.md)",
                optional=True,
            ),
        ),
    )
]
