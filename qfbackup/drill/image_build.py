"""Building the drill image: a Debian rootfs with PostgreSQL, made here by debootstrap and chroot.

Why build instead of pulling: the backup VM reaches no image registry, and a drill must not depend on one being up
during a disaster. debootstrap needs only the Debian mirror apt already uses (read from the host's apt sources at
run time, never hard-coded), and the result is the same Debian release as the host, so glibc collations match and
amcheck does not report index-order "corruption" that is really a locale difference.

Why the postgres uid/gid are the host's: the restore writes the data directory on the host, owned by the host's
postgres, and bind-mounts it into the container. If the container's postgres had another uid, the server (or its
restore_command) could not read those files, and a recovery that silently found no WAL would look like a success.
So the user is created with the host's ids *before* postgresql-15 is installed, and the manifest records them.

This module builds into a directory it is given; caching, locking and installing the result is ``drill/image.py``'s.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import re
import shutil
import subprocess
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from qfbackup.common.atomic import write_atomic
from qfbackup.common.units import utc_now
from qfbackup.drill.manifest import IMAGE_FORMAT, SUITE, ImageManifest, image_name
from qfbackup.errors import DrillUnavailable, Failed, UsageError
from qfbackup.pg.versions import DEFAULT_MAJOR, debian_bin_dir, debian_share_dir

DEBIAN_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
LEGACY_SOURCES = Path("/etc/apt/sources.list")
DEFAULT_LOCALES = ("en_US.UTF-8",)
"""Generated in every image (besides C.UTF-8, which glibc has built in): a restored cluster whose databases or
lc_messages use a locale the container lacks refuses connections or does not start at all."""
CHROOT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
APT_PASSTHROUGH = ("Acquire::http::Proxy", "Acquire::https::Proxy", "Acquire::Check-Valid-Until", "Acquire::Check-Date")
"""Host apt settings the chroot's apt needs to reach the same mirror the same way (proxy, snapshot mirrors)."""
BUILD_LOG = "build.log"
MANIFEST = "manifest.json"

Log = Callable[[str], None]


def build_rootfs(work: Path, pg_major: int, uid: int, gid: int, locales: tuple[str, ...], say: Log) -> ImageManifest:
    """Build ``work/rootfs`` and write ``work/manifest.json`` last; the build log goes to ``work/build.log``."""
    started = time.monotonic()
    rootfs = work / "rootfs"
    logfile = work / BUILD_LOG
    source = apt_source(SUITE)
    apt_opts = _host_apt_options()
    env = _build_env(apt_opts)

    say(f"debootstrap --variant=minbase {SUITE} from {source.uri} (about a minute)")
    argv = ["debootstrap", "--variant=minbase"]
    if source.keyring:
        argv.append(f"--keyring={source.keyring}")
    _run([*argv, SUITE, str(rootfs), source.uri], logfile, env, what="debootstrap")

    say(f"configuring apt and the postgres user (host uid/gid {uid}:{gid})")
    _configure_apt(rootfs, source)
    _policy_rc_d(rootfs)
    _create_postgres_user(rootfs, uid, gid, logfile, env)

    package = f"postgresql-{pg_major}"
    say(f"installing {package} and locales")
    apt = ["apt-get", "-q", *[f"-o{k}={v}" for k, v in apt_opts.items()]]
    _chroot(rootfs, [*apt, "update"], logfile, env, what="apt-get update")
    try:
        _chroot(
            rootfs,
            [*apt, "install", "-y", "--no-install-recommends", package, "locales"],
            logfile,
            env,
            what=f"apt-get install {package}",
        )
    except Failed as e:
        if pg_major != DEFAULT_MAJOR:
            raise UsageError(
                f"Debian {SUITE} does not package PostgreSQL {pg_major}: {e}",
                hint="set drill.image in the policy to an image with that version",
            ) from None
        raise
    _generate_locales(rootfs, locales, logfile, env)

    say("dropping the packaged cluster, cleaning apt caches")
    clusters = _chroot(rootfs, ["pg_lsclusters", "-h"], logfile, env, what="pg_lsclusters", capture=True)
    for line in clusters.splitlines():
        version, name = line.split()[:2]
        _chroot(rootfs, ["pg_dropcluster", version, name], logfile, env, what="pg_dropcluster")
    _chroot(rootfs, ["apt-get", "clean"], logfile, env, what="apt-get clean")
    shutil.rmtree(rootfs / "var/lib/apt/lists", ignore_errors=True)
    (rootfs / "var/lib/apt/lists/partial").mkdir(parents=True, exist_ok=True)

    pg_version = _verify(rootfs, pg_major, uid, gid, logfile, env)
    manifest = ImageManifest(
        format=IMAGE_FORMAT,
        name=image_name(pg_major),
        suite=SUITE,
        pg_major=pg_major,
        pg_version=pg_version,
        postgres_uid=uid,
        postgres_gid=gid,
        locales=locales,
        mirror=source.uri,
        built_at=utc_now(),
        build_seconds=round(time.monotonic() - started, 1),
        size_bytes=tree_size(rootfs),
    )
    write_atomic(work / MANIFEST, json.dumps(manifest.to_dict(), indent=2, sort_keys=True) + "\n")
    return manifest


def _verify(rootfs: Path, pg_major: int, uid: int, gid: int, logfile: Path, env: dict[str, str]) -> str:
    """Check what a drill relies on, so a broken image fails here rather than as a confusing drill failure."""
    ids = _chroot(rootfs, ["id", "-u", "postgres"], logfile, env, what="id", capture=True).strip()
    gids = _chroot(rootfs, ["id", "-g", "postgres"], logfile, env, what="id", capture=True).strip()
    if (ids, gids) != (str(uid), str(gid)):
        raise Failed(f"drill image: postgres is {ids}:{gids} inside, expected the host's {uid}:{gid}")
    bindir = str(debian_bin_dir(pg_major))
    for tool in ("postgres", "initdb", "pg_ctl", "psql", "pg_dump", "pg_waldump"):
        if not (rootfs / bindir.lstrip("/") / tool).exists():
            raise Failed(f"drill image: {bindir}/{tool} missing after installing postgresql-{pg_major}")
    if not (rootfs / str(debian_share_dir(pg_major)).lstrip("/") / "extension/amcheck.control").exists():
        raise Failed(f"drill image: the amcheck extension is missing from postgresql-{pg_major}")
    out = _chroot(rootfs, [f"{bindir}/postgres", "--version"], logfile, env, what="postgres --version", capture=True)
    match = re.search(r"\(PostgreSQL\)\s+(\S+)", out)
    return match.group(1) if match else out.strip()


def _create_postgres_user(rootfs: Path, uid: int, gid: int, logfile: Path, env: dict[str, str]) -> None:
    """Create postgres with the host's ids before the package does (it keeps an existing user)."""
    for db, key, wanted in (("group", 2, gid), ("passwd", 2, uid)):
        for line in (rootfs / "etc" / db).read_text().splitlines():
            fields = line.split(":")
            if len(fields) > key and fields[key] == str(wanted) and fields[0] != "postgres":
                raise Failed(
                    f"drill image: the host's postgres {'gid' if db == 'group' else 'uid'} {wanted} is taken by "
                    f"{fields[0]!r} in a minimal Debian {SUITE}",
                    hint="give the host's postgres user ids above 100 that Debian's base system does not use",
                )
    _chroot(rootfs, ["groupadd", "-g", str(gid), "postgres"], logfile, env, what="groupadd")
    _chroot(
        rootfs,
        ["useradd", "-r", "-u", str(uid), "-g", str(gid), "-d", "/var/lib/postgresql", "-M", "-s", "/bin/bash",
         "-c", "PostgreSQL administrator", "postgres"],
        logfile,
        env,
        what="useradd",
    )  # fmt: skip


def _generate_locales(rootfs: Path, locales: tuple[str, ...], logfile: Path, env: dict[str, str]) -> None:
    supported = (rootfs / "usr/share/i18n/SUPPORTED").read_text().splitlines()
    lines = []
    for loc in locales:
        match = [s for s in supported if s.split()[0] == loc]
        if not match:
            raise UsageError(f"drill image: locale {loc!r} is not one glibc supports (see /usr/share/i18n/SUPPORTED)")
        lines.append(match[0])
    (rootfs / "etc/locale.gen").write_text("\n".join(lines) + "\n")
    _chroot(rootfs, ["locale-gen"], logfile, env, what="locale-gen")


def _configure_apt(rootfs: Path, source: AptSource) -> None:
    """Give the chroot the host's Debian sources (updates and security too), so it gets the host's PG minor."""
    target = rootfs / "etc/apt/sources.list.d/debian.sources"
    if source.sources_file == DEBIAN_SOURCES and DEBIAN_SOURCES.exists():
        shutil.copyfile(DEBIAN_SOURCES, target)
        (rootfs / "etc/apt/sources.list").unlink(missing_ok=True)
        for keyring in re.findall(r"^Signed-By:\s*(/\S+)\s*$", DEBIAN_SOURCES.read_text(), re.M):
            inside = rootfs / keyring.lstrip("/")
            if not inside.exists() and Path(keyring).exists():
                inside.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(keyring, inside)
    # else: keep the sources.list debootstrap wrote for the mirror it used


def _policy_rc_d(rootfs: Path) -> None:
    """Package scripts must never start a server in the chroot (or later in a container)."""
    path = rootfs / "usr/sbin/policy-rc.d"
    path.write_text("#!/bin/sh\n# qfbackup drill image: never start services\nexit 101\n")
    path.chmod(0o755)


def tree_size(path: Path) -> int:
    """Disk usage of a directory tree (hard links counted once), without following symlinks or mounts."""
    total = 0
    seen: set[tuple[int, int]] = set()
    root_dev = path.lstat().st_dev
    stack = [path]
    while stack:
        with os.scandir(stack.pop()) as it:
            for entry in it:
                st = entry.stat(follow_symlinks=False)
                if st.st_dev != root_dev:
                    continue
                if st.st_nlink > 1:
                    if (st.st_dev, st.st_ino) in seen:
                        continue
                    seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
    return total


# ---------------------------------------------------------------------------------------------------------------
# the host: apt sources, apt settings, postgres ids, tools


@dataclass(frozen=True)
class AptSource:
    uri: str
    keyring: str | None
    sources_file: Path


def apt_source(suite: str = SUITE, sources: Path = DEBIAN_SOURCES, legacy: Path = LEGACY_SOURCES) -> AptSource:
    """The Debian mirror this host's apt uses for ``suite``: the first matching ``URIs:`` of debian.sources
    (deb822), else the first matching ``deb`` line of sources.list. Read at every build: mirrors differ by site."""
    if sources.exists():
        first: AptSource | None = None
        for stanza in re.split(r"\n\s*\n", sources.read_text()):
            fields: dict[str, str] = {}
            for line in stanza.splitlines():
                if line.startswith("#") or ":" not in line or line[:1].isspace():
                    continue
                key, value = line.split(":", 1)
                fields[key.strip().lower()] = value.strip()
            if "uris" not in fields or "deb" not in fields.get("types", "deb").split():
                continue
            if fields.get("enabled", "yes").lower() == "no":
                continue
            keyring = fields.get("signed-by")
            candidate = AptSource(
                fields["uris"].split()[0],
                keyring if keyring and keyring.startswith("/") and Path(keyring).exists() else None,
                sources,
            )
            first = first or candidate
            if suite in fields.get("suites", "").split():
                return candidate
        if first is not None:
            return first
    if legacy.exists():
        for line in legacy.read_text().splitlines():
            parts = re.sub(r"\[[^]]*\]", "", line).split()
            if len(parts) >= 3 and parts[0] == "deb" and parts[2] == suite:
                return AptSource(parts[1], None, legacy)
    raise UsageError(
        f"no Debian mirror for {suite} found in {sources} or {legacy}",
        hint="configure apt on this host (the drill image is built from the mirror apt uses), or set drill.image",
    )


def _host_apt_options() -> dict[str, str]:
    """The few host apt settings (proxy, snapshot-mirror date checks) the chroot's apt must share."""
    try:
        out = subprocess.run(["apt-config", "dump"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return {}
    options = {}
    for line in out.splitlines():
        match = re.match(r'^(\S+) "(.*)";$', line)
        if match and match.group(1) in APT_PASSTHROUGH:
            options[match.group(1)] = match.group(2)
    return options


def _build_env(apt_opts: dict[str, str]) -> dict[str, str]:
    env = {"PATH": CHROOT_PATH, "LC_ALL": "C", "DEBIAN_FRONTEND": "noninteractive", "HOME": "/root"}
    for key in ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"):
        if key in os.environ:
            env[key] = os.environ[key]
    proxy = apt_opts.get("Acquire::http::Proxy")
    if proxy and "http_proxy" not in env:
        env["http_proxy"] = proxy  # debootstrap fetches with wget, which does not read apt's settings
    return env


def postgres_ids(uid: int | None, gid: int | None) -> tuple[int, int]:
    """The ids the image's postgres gets: those given, else the host's postgres user's."""
    if uid is not None and gid is not None:
        return uid, gid
    try:
        entry = pwd.getpwnam("postgres")
    except KeyError:
        raise UsageError(
            "this host has no postgres user, so the drill image cannot match its uid/gid",
            hint="create it (apt-get install postgresql-common, or useradd --system postgres), or set drill.image",
        ) from None
    host_gid = entry.pw_gid
    try:
        host_gid = grp.getgrnam("postgres").gr_gid
    except KeyError:
        pass
    return (uid if uid is not None else entry.pw_uid), (gid if gid is not None else host_gid)


def require_build_tools() -> None:
    if os.geteuid() != 0:
        raise UsageError(
            "building the drill image needs root (debootstrap and chroot)",
            hint="run `qfbackup drill image build` as root once, or set drill.image in the policy",
        )
    for tool, package in (("debootstrap", "debootstrap"), ("chroot", "coreutils"), ("wget", "wget")):
        if shutil.which(tool, path=CHROOT_PATH) is None:
            raise DrillUnavailable(f"{tool} is not installed, needed to build the drill image", hint=(
                f"apt-get install {package} (scripts/install-deps installs everything drills need)"
            ))  # fmt: skip


# ---------------------------------------------------------------------------------------------------------------
# running commands


def _run(argv: list[str], logfile: Path, env: dict[str, str], *, what: str, capture: bool = False) -> str:
    """Run a build step with its output appended to the build log; fail with the log's tail."""
    with open(logfile, "ab") as log:
        log.write(f"\n$ {' '.join(argv)}\n".encode())
        log.flush()
        proc = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if capture else log,
            stderr=log,
            env=env,
        )
    out = proc.stdout.decode(errors="replace") if capture else ""
    if proc.returncode != 0:
        with open(logfile, errors="replace") as f:  # the log's tail, without reading a long log whole
            tail = [line.rstrip("\n") for line in deque(f, maxlen=15)]
        raise Failed(
            f"drill image build: {what} failed (exit {proc.returncode}):\n  " + "\n  ".join(tail),
            hint="the full log is kept next to the image cache as *.failed-build.log",
        )
    return out


def _chroot(
    rootfs: Path, argv: list[str], logfile: Path, env: dict[str, str], *, what: str, capture: bool = False
) -> str:
    return _run(["chroot", str(rootfs), *argv], logfile, env, what=what, capture=capture)
