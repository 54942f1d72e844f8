"""The drill image cache: find a usable image, else build one (``drill/image_build.py``) and install it atomically.

Why a manifest and a rename: a build runs for a minute or two and can be killed. It happens in a temporary directory
next to the cache entry and is renamed into place only when complete, with ``manifest.json`` inside, so a directory
under the final name is always a finished image; leftovers of killed builds are removed by the next build (after
unmounting anything debootstrap left mounted in them, so no host device node is ever deleted through a bind mount).
A cache entry built for other postgres ids, another format or without a wanted locale is rebuilt.
"""

from __future__ import annotations

import fcntl
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from qfbackup.common.atomic import fsync_dir
from qfbackup.drill.image_build import (
    BUILD_LOG,
    DEFAULT_LOCALES,
    MANIFEST,
    Log,
    build_rootfs,
    postgres_ids,
    require_build_tools,
)
from qfbackup.drill.manifest import IMAGE_FORMAT, ImageManifest, ImageRef, image_name
from qfbackup.errors import Failed
from qfbackup.pg.versions import DEFAULT_MAJOR
from qfbackup.policy.storage import DEFAULT_CACHE_DIR


def default_cache_dir(policy: Any = None) -> Path:
    """The drill cache (images, container storage): ``drill/`` under the policy's repository cache directory."""
    base = getattr(getattr(policy, "repository", None), "cache_dir", None) or DEFAULT_CACHE_DIR
    return Path(base) / "drill"


def image_dir(cache_dir: Path, pg_major: int) -> Path:
    return Path(cache_dir) / "images" / image_name(pg_major)


def drill_image(
    cache_dir: Path,
    pg_major: int = DEFAULT_MAJOR,
    *,
    policy_image: str | None = None,
    locales: Sequence[str] = (),
    log: Log | None = None,
) -> ImageRef:
    """The image a drill uses: the policy's ``drill.image`` if it names one, else our cached (or new) build."""
    if policy_image:
        return ImageRef.named(policy_image)
    return build_image(cache_dir, pg_major, locales=locales, log=log)


def build_image(
    cache_dir: Path,
    pg_major: int = DEFAULT_MAJOR,
    *,
    force: bool = False,
    locales: Sequence[str] = (),
    uid: int | None = None,
    gid: int | None = None,
    log: Log | None = None,
) -> ImageRef:
    """Return the cached image for ``pg_major``, building it first when missing, stale or ``force``.

    ``uid``/``gid`` default to the host's postgres user (a mismatch with the files a drill bind-mounts is the
    classic silent drill failure); ``locales`` are generated besides DEFAULT_LOCALES. A cache hit reads one small
    JSON file.
    """
    started = time.monotonic()
    say = log or (lambda message: None)
    uid, gid = postgres_ids(uid, gid)
    wanted_locales = tuple(sorted({*DEFAULT_LOCALES, *locales}))
    final = image_dir(cache_dir, pg_major)
    final.parent.mkdir(parents=True, exist_ok=True)

    def hit(manifest: ImageManifest) -> ImageRef:
        return ImageRef(manifest.tag, final / "rootfs", manifest, cached=True, seconds=time.monotonic() - started)

    if not force and (manifest := check_cached(final, pg_major, uid, gid, wanted_locales)[0]) is not None:
        return hit(manifest)
    require_build_tools()
    with _build_lock(final):
        manifest, why = check_cached(final, pg_major, uid, gid, wanted_locales)
        if not force and manifest is not None:  # another process built it while we waited for the lock
            return hit(manifest)
        if force:
            say(f"--force: rebuilding {final}")
        if why and final.exists():
            say(f"rebuilding {final}: {why}")
        remove_leftovers(final)
        work = final.parent / f".{final.name}.build-{secrets.token_hex(4)}"
        work.mkdir(mode=0o700)
        try:
            manifest = build_rootfs(work, pg_major, uid, gid, wanted_locales, say)
            _install(work, final)
        except BaseException:
            _save_failed_log(work, final)
            _remove_tree(work)
            raise
    say(f"image ready: {final} ({manifest.size_bytes / 2**20:.0f} MiB, {manifest.build_seconds:.0f} s)")
    return ImageRef(manifest.tag, final / "rootfs", manifest, cached=False, seconds=time.monotonic() - started)


def check_cached(
    final: Path, pg_major: int, uid: int, gid: int, locales: tuple[str, ...]
) -> tuple[ImageManifest | None, str | None]:
    """(manifest, None) for a usable cache entry, else (None, why not)."""
    path = final / MANIFEST
    if not path.exists():
        return None, "no image built yet"
    try:
        manifest = ImageManifest.load(path)
    except (ValueError, TypeError, OSError) as e:
        return None, f"unreadable manifest ({e})"
    if manifest.format != IMAGE_FORMAT:
        return None, f"image format {manifest.format}, this qfbackup builds {IMAGE_FORMAT}"
    if manifest.pg_major != pg_major:
        return None, f"it holds PostgreSQL {manifest.pg_major}"
    if (manifest.postgres_uid, manifest.postgres_gid) != (uid, gid):
        return None, (
            f"built for postgres {manifest.postgres_uid}:{manifest.postgres_gid}, the host's is now {uid}:{gid}"
        )
    missing = set(locales) - set(manifest.locales)
    if missing:
        return None, f"locales {', '.join(sorted(missing))} missing"
    if not (final / "rootfs" / manifest.pg_bin_dir.lstrip("/") / "postgres").exists():
        return None, "the rootfs lacks the postgres binary"
    return manifest, None


def cached_image(cache_dir: Path, pg_major: int = DEFAULT_MAJOR) -> ImageRef | None:
    """The cached image if one exists (whatever uid it was built for), without building: for status output."""
    final = image_dir(cache_dir, pg_major)
    try:
        manifest = ImageManifest.load(final / MANIFEST)
    except (OSError, ValueError, TypeError):
        return None
    return ImageRef(manifest.tag, final / "rootfs", manifest, cached=True)


@contextmanager
def _build_lock(final: Path) -> Iterator[None]:
    """One build per image at a time; a second caller waits and then finds the first one's result."""
    lock = final.parent / f".{final.name}.lock"
    with open(lock, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _install(work: Path, final: Path) -> None:
    """Swap the finished build into place (a directory rename, made durable by fsyncing the parent); the old
    image (if any) is removed only after the rename."""
    old = None
    if final.exists():
        old = final.parent / f".{final.name}.old-{secrets.token_hex(4)}"
        final.rename(old)
    work.rename(final)
    fsync_dir(final.parent)
    if old is not None:
        _remove_tree(old)


def _save_failed_log(work: Path, final: Path) -> None:
    log = work / BUILD_LOG
    if log.exists():
        try:
            shutil.copyfile(log, final.parent / f"{final.name}.failed-build.log")
        except OSError:
            pass


def remove_leftovers(final: Path) -> list[Path]:
    """Remove half-built or replaced images of killed builds (call with the build lock held)."""
    removed = []
    for path in final.parent.glob(f".{final.name}.*-*"):
        if path.is_dir() and (".build-" in path.name or ".old-" in path.name):
            _remove_tree(path)
            removed.append(path)
    return removed


def _mounts_under(path: Path) -> list[str]:
    prefix = str(path.resolve())
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].replace("\\040", " ")
            if point == prefix or point.startswith(prefix + "/"):
                found.append(point)
    return found


def _remove_tree(path: Path) -> None:
    """rmtree that first unmounts what debootstrap may have left mounted (proc, sys, bind-mounted /dev nodes)."""
    if not path.exists():
        return
    for point in sorted(_mounts_under(path), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)
    left = _mounts_under(path)
    if left:
        raise Failed(f"cannot remove {path}: still mounted: {', '.join(left)}", hint="unmount them, then retry")
    shutil.rmtree(path)
