"""docs/json.md is generated from the contracts, and every command that can print JSON has one."""

import click

from qfbackup.cli.main import cli
from qfbackup.output.contract import all_contracts
from qfbackup.output.docs import DEFAULT_DOC, render_doc

#: commands without a JSON document: wal-get is PostgreSQL's restore_command (exit codes are its only output)
NO_JSON = {"wal-get"}


def _leaves(group: click.Group, prefix: str = "") -> list[str]:
    ctx = click.Context(group)
    out = []
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        path = f"{prefix}{name}"
        if isinstance(cmd, click.Group):
            out += ([path] if cmd.invoke_without_command else []) + _leaves(cmd, path + " ")
        else:
            out.append(path)
    return out


def test_docs_json_md_is_up_to_date():
    assert DEFAULT_DOC.read_text() == render_doc(), "docs/json.md is out of date: run python -m qfbackup.output.docs"


def test_every_command_has_a_json_contract_and_every_contract_a_command():
    leaves = set(_leaves(cli))
    stdout = {c.command for c in all_contracts().values() if c.stream == "stdout"}
    assert sorted(leaves - NO_JSON - stdout) == [], "commands without a contract in qfbackup/output/contract/"
    assert sorted(stdout - leaves) == [], "contracts for commands that do not exist"
