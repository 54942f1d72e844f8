"""The ``qfbackup`` command: global options, command registration, and the one place errors become exit codes."""

from __future__ import annotations

import importlib
import json
import logging
import signal
import sys
import traceback

import click

from qfbackup.cli.commands import COMMANDS
from qfbackup.cli.context import CliContext
from qfbackup.errors import InternalError, Interrupted, QfError, UsageError
from qfbackup.output.document import document


class LazyGroup(click.Group):
    """Commands are imported when used (see cli/commands.py)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attribute = COMMANDS[name]
        return getattr(importlib.import_module(module), attribute)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--policy",
    "policy_path",
    type=click.Path(dir_okay=False),
    envvar="QFBACKUP_POLICY",
    help="Policy file (default: $QFBACKUP_POLICY, else /etc/qfbackup/policy.toml).",
)
@click.option(
    "--repo",
    "repo_url",
    envvar="QFBACKUP_REPO",
    help="Repository path or s3://bucket/prefix (default: policy).",
)
@click.option("--lock-wait", type=float, default=0.0, show_default=True, help="Seconds to wait for a lock.")
@click.option(
    "--break-lock",
    is_flag=True,
    help="Remove other hosts' locks (make sure those processes are gone); dead local ones go anyway.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output on stdout, nothing else there.")
@click.option("-q", "--quiet", is_flag=True, help="Only errors (for cron).")
@click.option("-v", "--verbose", count=True, help="More detail; -v also shows tracebacks. Wins over -q (-qv is -v).")
@click.version_option(package_name="qfbackup")
@click.pass_context
def cli(
    ctx: click.Context,
    policy_path: str | None,
    repo_url: str | None,
    lock_wait: float,
    break_lock: bool,
    as_json: bool,
    quiet: bool,
    verbose: int,
) -> None:
    """qfbackup: backup and disaster recovery for the Quantum Forge PostgreSQL platform."""
    quiet = quiet and not verbose  # -qv behaves like -v: detail asked for beats "only errors"
    level = logging.ERROR if quiet else {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="qfbackup: %(message)s", stream=sys.stderr, force=True)
    # paramiko logs tracebacks for failures we already report in one sentence
    logging.getLogger("paramiko").setLevel(logging.DEBUG if verbose >= 2 else logging.CRITICAL)
    ctx.obj = CliContext(
        policy_path=policy_path,
        repo_url=repo_url,
        lock_wait=lock_wait,
        break_lock=break_lock,
        as_json=as_json,
        quiet=quiet,
        verbose=verbose,
    )


def _terminate(signum, frame) -> None:
    """systemd/cron stop with SIGTERM: unwind like Ctrl-C so locks are released and nothing half-done is committed."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and map every failure to its documented exit code (docs/exit-codes.md)."""
    signal.signal(signal.SIGTERM, _terminate)
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        # Without standalone mode click *returns* the code of a click.exceptions.Exit (wal-get's 1 and 126).
        rv = cli.main(args=args, prog_name="qfbackup", standalone_mode=False)
        return rv if isinstance(rv, int) else 0
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.ClickException as e:  # click rejected the command line: its own text (usage, "Try ...")
        e.show()
        where = e.ctx.command_path if isinstance(e, click.UsageError) and e.ctx else "qfbackup"
        return _report(UsageError(e.format_message(), hint=f"see `{where} --help`"), args, shown=True)
    except QfError as e:
        return _report(e, args, trace=e)
    except (KeyboardInterrupt, click.exceptions.Abort):
        return _report(Interrupted(), args)
    except Exception as e:  # a bug or an unforeseen failure: one line, the traceback only with -v
        hint = "run with -v for the traceback, and report it"
        return _report(InternalError(f"{type(e).__name__}: {e}", hint=hint), args, trace=e)


def _global_options(args: list[str]) -> tuple[int, bool, str]:
    """``-v`` count, ``--json`` and the command path (``wal status``) exactly as click parses them (``-qv``,
    ``-vv``, ``--verbose``), for the error that ended the command. Resilient parsing never fails and runs no
    command."""
    params = cli.make_context("qfbackup", list(args), resilient_parsing=True).params
    return params.get("verbose") or 0, bool(params.get("as_json")), _command_path(args)


def _command_path(args: list[str]) -> str:
    """The (sub)command names in ``args``, skipping options and the values of options that take one."""
    names: list[str] = []
    group: click.Command = cli
    ctx = click.Context(cli)
    takes_value = {o for p in cli.params if isinstance(p, click.Option) and not p.is_flag for o in p.opts}
    tokens = iter(args)
    for token in tokens:
        if token in takes_value:
            next(tokens, None)
        elif not token.startswith("-") and isinstance(group, click.Group):
            sub = group.get_command(ctx, token)
            if sub is None:
                break
            names.append(token)
            group = sub
            takes_value = {o for p in sub.params if isinstance(p, click.Option) and not p.is_flag for o in p.opts}
        elif not token.startswith("-"):
            break
    return " ".join(names)


def _report(err: QfError, args: list[str], *, trace: BaseException | None = None, shown: bool = False) -> int:
    """With -v the traceback of ``trace``; the error in words on stderr (unless click has ``shown`` its own); then
    under --json one JSON object on stderr as well (docs/exit-codes.md#errors-under---json). Returns the exit code."""
    verbose, as_json, command = _global_options(args)
    if verbose and trace is not None:
        traceback.print_exception(trace)
    if not shown:
        label = "" if isinstance(err, InternalError | Interrupted) else f"{err.severity}: "
        click.echo(f"qfbackup: {label}{err.message}" + (f"\n  fix: {err.hint}" if err.hint else ""), err=True)
    if as_json:
        doc = {
            "code": err.exit_code,
            "kind": type(err).__name__,
            "severity": err.severity,
            "message": err.message,
            "fix": err.hint,
        }
        click.echo(json.dumps(document(command or "qfbackup", error=doc)), err=True)
    return err.exit_code


if __name__ == "__main__":
    sys.exit(main())
