"""JSON contracts of the drill commands (see qfbackup/output/contract/__init__.py)."""

from qfbackup.output.contract import Contract, Key

_RUN = (
    Key("id", "id", "the drill's id (12 hex digits), also the key of its history row"),
    Key("kind", "string", "`pitr` (a point-in-time restore of a base backup and WAL) or `dump` (a logical dump)"),
    Key("cluster", "string", "the cluster drilled"),
    Key("started_at", "time", "when the drill started"),
    Key("passed", "boolean", "the verdict: true only when the target was provably reached and every check held"),
    Key("target", "object", "what the drill restored to"),
    Key("target.spec", "string", "as asked: `random`, `latest`, a time, an LSN, or `dump`"),
    Key("target.kind", "string?", "`time`, `lsn`, `latest` or `dump`; null when the drill failed before choosing"),
    Key("target.time", "time?", "the target time (a time target) or the dump's time; null otherwise"),
    Key("target.lsn", "string?", "the target LSN (an LSN target); null otherwise"),
    Key("target.database", "string?", "the database restored (dump drills); null otherwise"),
    Key("failures", "array", "why the drill failed, one entry per reason; empty when it passed"),
    Key("failures[]", "object", "one reason"),
    Key("failures[].message", "string", "the reason in words"),
    Key("proofs", "array", "what the drill proved (replay reached the target, amcheck, a full read...)"),
    Key("proofs[]", "object", "one proof"),
    Key("proofs[].message", "string", "the proof in words, quoting the server where it can"),
    Key("checks", "array", "the policy's checks (`drill.checks`) in their order; empty when none ran"),
    Key("checks[]", "object", "one check"),
    Key("checks[].name", "string", "the check's name in the policy"),
    Key("checks[].database", "string", "the database it queried"),
    Key("checks[].value", "string?", "the value the query returned, as psql prints it; null for SQL NULL or no row"),
    Key("checks[].expect", "string", "the expectation, as the policy writes it (`>= 1`)"),
    Key("checks[].ok", "boolean", "the expectation held"),
    Key("checks[].failure", "object?", "why it did not hold; null when it did"),
    Key("checks[].failure.message", "string", "the reason in words"),
    Key(
        "phases",
        "map",
        "the measured phases by name: `fetch`, `restore`, `replay` (pitr only), `checks` (those that ran)",
    ),
    Key("phases{}", "seconds", "how long the phase took"),
    Key("rto_seconds", "seconds?", "recovery time: the sum of the phases; null when nothing was restored"),
    Key(
        "rpo_seconds",
        "seconds?",
        "recovery point: the age of the newest stored WAL (dump drills: of the dump) at drill time, what a disaster "
        "then would have lost; the figure `drill.max_rpo_minutes` bounds. null when not measured",
    ),
    Key(
        "target_to_newest_wal_seconds",
        "seconds?",
        "how far before the newest stored WAL the target lies (0 for `latest`); null for an LSN target or a dump",
    ),
    Key("snapshot_id", "id?", "the snapshot restored: the base backup (pitr) or the dump; null when none was chosen"),
    Key("wal_files", "integer", "WAL files staged for replay"),
    Key("engine", "string?", "the container engine (`podman`, `docker`); null when none was reached"),
    Key("kept", "string?", "the workspace left for inspection (`--keep`); null when it was removed"),
)

CONTRACTS: list[Contract] = [
    Contract(
        "drill run",
        "A restore drill: its verdict with the reasons and proofs, the checks, the measured phases, RTO and RPO.",
        _RUN,
    ),
    Contract(
        "drill history",
        "This repository's past drills, newest first, and the trend of their RTO.",
        (
            Key("drills", "array", "the drills listed (`--limit`, `--cluster`)"),
            Key("drills[]", "object", "one drill"),
            Key("drills[].id", "id", "the drill's id"),
            Key("drills[].kind", "string", "`pitr` or `dump`"),
            Key("drills[].cluster", "string", "the cluster drilled"),
            Key("drills[].started_at", "time", "when it started"),
            Key("drills[].passed", "boolean", "its verdict"),
            Key("drills[].rto_seconds", "seconds?", "its recovery time; null when it restored nothing"),
            Key(
                "drills[].rpo_seconds", "seconds?", "its recovery point (as `drill run` reports it); null if unmeasured"
            ),
            Key("drills[].failures", "array", "why it failed; empty when it passed"),
            Key("drills[].failures[]", "object", "one reason"),
            Key("drills[].failures[].message", "string", "the reason in words"),
            Key("trend", "object", "over the drills listed"),
            Key("trend.drills", "integer", "how many drills"),
            Key("trend.passed", "integer", "how many of them passed"),
            Key("trend.last_rto_seconds", "seconds?", "the newest measured RTO; null when none measured one"),
            Key(
                "trend.recent_mean_rto_seconds",
                "seconds?",
                "mean RTO of the newer half of the drills that measured one; null with fewer than two",
            ),
            Key("trend.older_mean_rto_seconds", "seconds?", "mean RTO of the older half; null with fewer than two"),
        ),
    ),
    Contract(
        "drill image build",
        "The drill images built or reused, one per PostgreSQL major.",
        (
            Key("images", "array", "one entry per image"),
            Key("images[]", "object", "one image"),
            Key(
                "images[].status",
                "string",
                "`built`, `cached` (a usable image was reused) or `policy` (the policy names `drill.image`: used as "
                "is, nothing built; the keys below are then null)",
            ),
            Key("images[].name", "string", "the image's name (for docker, the tag it is imported under)"),
            Key("images[].path", "string?", "the root file system drill containers run"),
            Key("images[].suite", "string?", "the Debian release inside"),
            Key("images[].pg_major", "integer?", "the PostgreSQL major version"),
            Key("images[].pg_version", "string?", "the PostgreSQL version installed (`15.20`)"),
            Key("images[].postgres_uid", "integer?", "the postgres user's uid inside (this host's)"),
            Key("images[].postgres_gid", "integer?", "the postgres user's gid inside (this host's)"),
            Key("images[].locales", "array?", "the locales generated"),
            Key("images[].locales[]", "string", "a locale (`en_US.UTF-8`)"),
            Key("images[].size_bytes", "bytes?", "the image's size on disk"),
            Key("images[].built_at", "time?", "when the image was built"),
            Key("images[].seconds", "seconds?", "how long this command took to build it or find it in the cache"),
        ),
    ),
]
