"""``qfbackup drill``: restore drills in containers. This module holds the group and ``drill image build``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from qfbackup.cli.context import CliContext, pass_ctx

if TYPE_CHECKING:
    from qfbackup.drill.manifest import ImageRef


@click.group()
def drill() -> None:
    """Restore drills: restore into an isolated container and prove the recovery really works."""


@drill.group("image")
def image() -> None:
    """The container image drills run in (built here by debootstrap; no registry needed)."""


def _image(name: str, ref: ImageRef | None) -> dict[str, Any]:
    """One entry of ``images``: ``ref`` built or cached here, or None for the policy's own image (nothing known
    about it but its name)."""
    if ref is None:
        facts = ("path", "suite", "pg_major", "pg_version", "postgres_uid", "postgres_gid", "locales", "size_bytes")
        return {"status": "policy", "name": name, **dict.fromkeys(facts), "built_at": None, "seconds": None}
    m = ref.manifest
    assert m is not None and ref.rootfs is not None
    return {
        "status": "cached" if ref.cached else "built",
        "name": name,
        "path": ref.rootfs,
        "suite": m.suite,
        "pg_major": m.pg_major,
        "pg_version": m.pg_version,
        "postgres_uid": m.postgres_uid,
        "postgres_gid": m.postgres_gid,
        "locales": m.locales,
        "size_bytes": m.size_bytes,
        "built_at": m.built_at,
        "seconds": round(ref.seconds, 3),
    }


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
    from qfbackup.output.document import document
    from qfbackup.output.text.drill import image_build

    policy = ctx.policy_or_none()
    if policy is not None and policy.drill.image:
        images = [_image(policy.drill.image, None)]
    else:
        cache = cache_dir or default_cache_dir(policy)
        images = []
        for major in _majors(ctx, pg_major):
            ref = build_image(cache, major, force=force, locales=locales, log=ctx.info)
            images.append(_image(ref.name, ref))
    ctx.emit(document("drill image build", images=images), image_build)


from qfbackup.cli.drill_run_cmd import history, run  # noqa: E402  (subcommands live in their own module)

drill.add_command(run)
drill.add_command(history)
