"""Runbooks are code: read the ``qfbackup`` commands a runbook tells the operator to type, so a test runs exactly
those (a runbook whose command changed, or a command the tool no longer accepts, fails the test)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

RUNBOOKS = Path(__file__).resolve().parents[2] / "docs" / "runbooks"


def commands(runbook: str, heading: str) -> list[str]:
    """Every ``qfbackup ...`` line in the sh code blocks under ``## heading`` of ``docs/runbooks/RUNBOOK``, in
    order; ``# or: qfbackup ...`` alternatives are included, trailing ``# comments`` are dropped."""
    text = (RUNBOOKS / runbook).read_text()
    section = re.split(r"^## ", text, flags=re.M)
    body = next(s for s in section if s.startswith(heading + "\n"))
    out = []
    for block in re.findall(r"```sh\n(.*?)```", body, flags=re.S):
        for line in block.splitlines():
            line = line.strip()
            if line.startswith("# or: "):
                line = line.removeprefix("# or: ")
            elif line.startswith("# S3 copy: "):
                line = line.removeprefix("# S3 copy: ")
            if line.startswith("qfbackup "):
                out.append(re.sub(r"\s+#\s.*$", "", line))
    return out


def find(cmds: list[str], *words: str, without: tuple[str, ...] = ()) -> str:
    """The one command containing every word of ``words`` and none of ``without``."""
    hits = [c for c in cmds if all(w in c.split() for w in words) and not any(w in c.split() for w in without)]
    if len(hits) != 1:
        raise AssertionError(f"expected one runbook command with {words} (not {without}), found {hits}")
    return hits[0]


def argv(command: str, subst: dict[str, str]) -> list[str]:
    """The command's arguments after ``qfbackup``, with the runbook's placeholders (``$R``, example times,
    paths, the S3 URL) replaced by the test's values."""
    for old, new in subst.items():
        command = command.replace(old, new)
    words = shlex.split(command)
    assert words[0] == "qfbackup", command
    return words[1:]
