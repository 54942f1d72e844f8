"""Read a policy file into a validated ``Policy``, or fail with every problem named by file and key.

Two phases, because a reference can only be checked once both ends parsed: first each section on its own
(sections.py), then references and referenced files (crosscheck.py). Either phase ends in one PolicyError listing
all its problems, so the operator fixes the file in one go.
"""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path
from types import MappingProxyType

from qfbackup.errors import PolicyError
from qfbackup.policy.crosscheck import check_secret_files, crosscheck, not_implemented_warnings, soft_warnings
from qfbackup.policy.keys import read_keys
from qfbackup.policy.reader import Problems, Table
from qfbackup.policy.schema import Policy, PolicyWarning
from qfbackup.policy.sections import (
    REPO_SECRET_FIX,
    S3_SECRET_FIX,
    SSH_SECRET_FIX,
    parse_alerts,
    parse_cluster,
    parse_drill,
    parse_fileset,
    parse_host,
    parse_offsite,
    parse_repository,
    parse_retention,
    parse_schedule,
)
from qfbackup.policy.storage import Repository

SUPPORTED_VERSIONS = (1,)
POLICY_FIX = "pass --policy FILE or set $QFBACKUP_POLICY (start from policies/quantum-forge.toml)"


def load_policy(path: Path) -> Policy:
    """Load and validate the policy at ``path``. A missing or unreadable file is a PolicyError with the fix."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise PolicyError(f"policy file {path} does not exist.", hint=POLICY_FIX) from None
    except IsADirectoryError:
        raise PolicyError(f"policy path {path} is a directory, not a file.", hint=POLICY_FIX) from None
    except OSError as e:
        raise PolicyError(
            f"policy file {path} cannot be read: {e.strerror}.",
            hint="check its permissions (qfbackup usually runs as root)",
        ) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise PolicyError(f"{path}: not UTF-8 text (byte {e.start}).", hint="save the file as UTF-8") from None
    return parse_policy(text, str(path))


def parse_policy(text: str, source: str) -> Policy:
    """Validate policy TOML ``text``; ``source`` names it in messages (a path, or e.g. "<test>")."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise PolicyError(
            f"{source}: not valid TOML: {e}.",
            hint="fix the syntax at that line (strings need quotes, tables [brackets])",
        ) from None
    problems = Problems()
    policy = _parse_sections(raw, source, problems)
    _raise_if(problems, source)
    assert policy is not None
    policy = crosscheck(policy, problems)
    warnings = check_secret_files(policy, problems)
    _raise_if(problems, source)
    return _with_warnings(policy, warnings + soft_warnings(policy) + not_implemented_warnings(key_paths(raw)))


def key_paths(table: dict, prefix: str = "") -> set[str]:
    """Every dotted key path a parsed TOML document sets, tables included (``schedule``, ``schedule.dump``);
    arrays of tables count as their key (``drill.checks``), their entries' keys as ``drill.checks.name``."""
    paths = set()
    for name, value in table.items():
        path = f"{prefix}{name}"
        paths.add(path)
        items = value if isinstance(value, list) and all(isinstance(v, dict) for v in value) else [value]
        for item in items:
            if isinstance(item, dict):
                paths |= key_paths(item, path + ".")
    return paths


def _parse_sections(raw: dict, source: str, problems: Problems) -> Policy | None:
    top = Table(raw, "", problems)
    version = read_keys(top, Policy)["version"]
    if isinstance(version, int) and version not in SUPPORTED_VERSIONS:
        top.problem(
            "version",
            f"{version} is not a policy version this qfbackup understands.",
            f"use version = {SUPPORTED_VERSIONS[-1]} or upgrade qfbackup",
        )
    repo_table = top.table("repository", required=True, secret_fix=REPO_SECRET_FIX)
    repository = parse_repository(repo_table) if repo_table else Repository(path="")
    offsite_table = top.table("offsite", secret_fix=S3_SECRET_FIX)
    offsite = parse_offsite(offsite_table) if offsite_table else None
    hosts = {name: parse_host(name, t) for name, t in top.named_tables("hosts", secret_fix=SSH_SECRET_FIX)}
    clusters = {name: parse_cluster(name, t) for name, t in top.named_tables("clusters")}
    filesets = {name: parse_fileset(name, t) for name, t in top.named_tables("filesets")}
    schedule_table = top.table("schedule")
    schedule = parse_schedule(schedule_table) if schedule_table else parse_schedule(Table({}, "schedule", problems))
    retention = parse_retention(top.table("retention"))
    drill = parse_drill(top.table("drill"))
    alerts = parse_alerts(top.table("alerts"))
    top.finish()
    if problems:
        return None
    return Policy(
        source=source,
        version=version,
        repository=repository,
        offsite=offsite,
        hosts=MappingProxyType(hosts),
        clusters=MappingProxyType(clusters),
        filesets=MappingProxyType(filesets),
        schedule=schedule,
        retention=retention,
        drill=drill,
        alerts=alerts,
    )


def _with_warnings(policy: Policy, warnings: list[PolicyWarning]) -> Policy:
    return dataclasses.replace(policy, notices=tuple(warnings))


def _raise_if(problems: Problems, source: str) -> None:
    """One problem: "file: key: what." with its fix. Several: a numbered list, each with its own fix."""
    items = problems.items
    if not items:
        return
    if len(items) == 1:
        p = items[0]
        raise PolicyError(f"{source}: {p.key}: {p.what}", hint=p.fix)
    lines = [f"{source}: {len(items)} problems:"]
    lines += [f"  {p.key}: {p.what} Fix: {_sentence(p.fix)}" for p in items]
    raise PolicyError("\n".join(lines), hint="correct each key listed above, then run `qfbackup policy check`")


def _sentence(text: str) -> str:
    return text if text.endswith((".", "?", "!")) else text + "."
