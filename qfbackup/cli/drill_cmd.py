"""``qfbackup drill``: restore drills in containers. This module holds the group and ``drill image build``."""

from __future__ import annotations

from pathlib import Path

import click

from qfbackup.cli.context import CliContext, pass_ctx


@click.group()
def drill() -> None:
    """Restore drills: restore into an isolated container and prove the recovery really works."""


@drill.group("image")
def image() -> None:
    """The container image drills run in (built here by debootstrap; no registry needed)."""


def _majors(ctx: CliContext, pg_major: int | None) -> list[int]:
    """--pg-major, else the drill cluster's version, else every primary's, else 15."""
    if pg_major is not None:
        return [pg_major]
    policy = ctx.policy_or_none()
    if policy is None:
        return [15]
    if policy.drill.cluster:
        return [policy.cluster(policy.drill.cluster).pg_version]
    return sorted({c.pg_version for c in policy.primaries()}) or [15]


@image.command("build")
@click.option("--force", is_flag=True, help="Rebuild even when a usable cached image exists.")
@click.option("--pg-major", type=int, help="PostgreSQL major version (default: the policy's clusters', else 15).")
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Drill cache directory (default: drill/ under the policy's repository cache_dir).",
)
@click.option("--locale", "locales", multiple=True, help="Generate this locale too (repeatable); en_US.UTF-8 always.")
@pass_ctx
def build(ctx: CliContext, force: bool, pg_major: int | None, cache_dir: Path | None, locales: tuple[str, ...]) -> None:
    """Build (or reuse) the Debian rootfs with PostgreSQL that drill containers run.

    The postgres user inside gets this host's uid/gid, so restored data directories bind-mounted into the
    container have matching ownership. A cached image is reused unless --force.
    """
    from qfbackup.drill.image import build_image, default_cache_dir

    policy = ctx.policy_or_none()
    if policy is not None and policy.drill.image:
        name = policy.drill.image
        ctx.result(
            {"images": [{"status": "policy", "name": name}]},
            f"the policy names drill.image = {name!r}: drills use it as is, nothing to build",
        )
        return
    cache = cache_dir or default_cache_dir(policy)
    rows, lines = [], []
    for major in _majors(ctx, pg_major):
        ref = build_image(cache, major, force=force, locales=locales, log=ctx.info)
        manifest = ref.manifest
        assert manifest is not None and ref.rootfs is not None
        status = "cached" if ref.cached else "built"
        rows.append(
            {
                "status": status,
                "name": ref.name,
                "path": str(ref.rootfs),
                "pg_major": major,
                "pg_version": manifest.pg_version,
                "postgres_uid": manifest.postgres_uid,
                "postgres_gid": manifest.postgres_gid,
                "locales": list(manifest.locales),
                "size_bytes": manifest.size_bytes,
                "built_at": manifest.built_at,
                "seconds": round(ref.seconds, 3),
            }
        )
        how = f"reused the cached image in {ref.seconds:.2f} s" if ref.cached else f"built in {ref.seconds:.0f} s"
        lines.append(
            f"{status}: PostgreSQL {manifest.pg_version} on Debian {manifest.suite} at {ref.rootfs}\n"
            f"  {how}; {manifest.size_bytes / 2**20:.0f} MiB, postgres uid:gid {manifest.postgres_uid}:"
            f"{manifest.postgres_gid}, built {manifest.built_at}"
        )
    ctx.result({"images": rows}, "\n".join(lines))


from qfbackup.cli.drill_run_cmd import history, run  # noqa: E402  (subcommands live in their own module)

drill.add_command(run)
drill.add_command(history)
