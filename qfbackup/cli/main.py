"""The ``qfbackup`` command: global options, command registration, and the one place errors become exit codes."""

from __future__ import annotations

import importlib
import logging
import signal
import sys

import click

from qfbackup.cli.commands import COMMANDS
from qfbackup.cli.context import CliContext
from qfbackup.errors import EXIT_INTERRUPTED, QfError


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
@click.option("-v", "--verbose", count=True, help="More detail; -v also shows tracebacks.")
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
    """Run the CLI and map every failure to its documented exit code."""
    signal.signal(signal.SIGTERM, _terminate)
    verbose = any(a in ("-v", "--verbose") or a.startswith("-vv") for a in (argv or sys.argv[1:]))
    try:
        # Without standalone mode click *returns* the code of a click.exceptions.Exit (wal-get's 1 and 126).
        rv = cli.main(args=argv, prog_name="qfbackup", standalone_mode=False)
        return rv if isinstance(rv, int) else 0
    except QfError as e:
        if verbose:
            import traceback

            traceback.print_exc()
        msg = f"qfbackup: error: {e.message}"
        if e.hint:
            msg += f"\n  fix: {e.hint}"
        click.echo(msg, err=True)
        return e.exit_code
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.exceptions.Abort:
        click.echo("qfbackup: interrupted", err=True)
        return EXIT_INTERRUPTED
    except click.ClickException as e:
        e.show()
        return 2
    except KeyboardInterrupt:
        click.echo("qfbackup: interrupted; the repository stays consistent (run again to resume)", err=True)
        return EXIT_INTERRUPTED
    except Exception as e:  # a bug or an unforeseen failure: one line, the traceback only with -v
        if verbose:
            raise
        click.echo(f"qfbackup: internal error: {type(e).__name__}: {e} (run with -v for details)", err=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
