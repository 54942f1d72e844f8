"""The error object every command writes on stderr under ``--json`` when it fails or warns (docs/exit-codes.md)."""

from qfbackup.output.contract import Contract, Key

CONTRACTS = [
    Contract(
        "error",
        "On stderr, after the error in words, when a command ends with a non-zero exit code under `--json`.",
        (
            Key("error", "object", "what went wrong"),
            Key("error.code", "integer", "the exit code (docs/exit-codes.md)"),
            Key("error.kind", "string", "the outcome's name, for example WalGapOpen"),
            Key("error.severity", "string", "`error`, or `warning` for codes 20-29"),
            Key("error.message", "string", "the problem in one sentence, as the text says it"),
            Key("error.fix", "string?", "what to do about it; null when there is nothing to advise"),
        ),
        stream="stderr",
    )
]
