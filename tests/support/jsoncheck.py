"""Every ``--json`` output the suite produces is checked against its contract (docs/json.md): the CLI runners
call ``check_run`` after each command, so a key a command grows, loses or changes type fails the test that ran
it. ``SEEN`` records which contracts real outputs exercised (tests/conftest.py reports the ones never seen)."""

from __future__ import annotations

import json
import subprocess

from qfbackup.output.contract import check

SEEN: set[str] = set()


def _documents(text: str) -> list[dict]:
    """The JSON objects in ``text``: stdout holds one (indented); stderr one per line among the words."""
    text = text.strip()
    if not text:
        return []
    if text.startswith("{") and text.endswith("}"):
        try:
            return [json.loads(text)]
        except json.JSONDecodeError:
            pass
    docs = []
    for line in text.splitlines():
        if line.startswith("{"):
            docs.append(json.loads(line))
    return docs


def check_run(args: tuple[str, ...], proc: subprocess.CompletedProcess) -> None:
    """Fail when a ``--json`` run printed a document that is not what docs/json.md says."""
    if "--json" not in args:
        return
    for stream, text in (("stdout", proc.stdout), ("stderr", proc.stderr)):
        docs = _documents(text or "")
        if stream == "stdout" and text and text.strip() and len(docs) != 1:
            raise AssertionError(f"qfbackup {' '.join(args)}: stdout is not one JSON object:\n{text[:500]}")
        for doc in docs:
            problems = check(doc, stream=stream)
            if problems:
                raise AssertionError(
                    f"qfbackup {' '.join(args)}: {stream} JSON differs from docs/json.md:\n  " + "\n  ".join(problems)
                )
            SEEN.add("error" if stream == "stderr" else doc["command"])
