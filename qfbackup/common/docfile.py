"""Documents generated from the code (docs/policy.md's tables, docs/json.md, docs/cli.md): one way to rewrite
them or, with ``--check``, to fail when the committed file is out of date."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path


def main(
    prog: str, description: str, default: Path, generate: Callable[[str], str], argv: list[str] | None = None
) -> int:
    """``generate`` maps the file's current text to what it must be (whole-file generators ignore it)."""
    parser = argparse.ArgumentParser(prog=f"python -m {prog}", description=description)
    parser.add_argument("path", nargs="?", type=Path, default=default)
    parser.add_argument("--check", action="store_true", help="only report whether the file is up to date")
    args = parser.parse_args(argv)
    text = args.path.read_text() if args.path.exists() else ""
    new = generate(text)
    if new == text:
        return 0
    if args.check:
        print(f"{args.path} is out of date: run python -m {prog} {args.path}", file=sys.stderr)
        return 1
    args.path.write_text(new)
    print(f"rewrote {args.path}")
    return 0
