"""Executing a restore plan: write the base backup, stage the WAL, write the recovery settings.

Local restores (the backup VM itself, when the database host is gone) extract the stored tar straight from the
repository into the target directory; ``--host`` restores stream the same tar over SSH into ``tar -x`` on the
new host. Either way the WAL the plan needs is staged next to the data directory (``DIR.qfbackup-wal``) before
PostgreSQL starts, fetched in parallel, so replay never waits on the repository; the restore_command reads the
spool first (``qfbackup wal-get``, or plain ``cp`` on a host without qfbackup). Nothing that existed before is
deleted: a non-empty target is refused unless ``--force``, and then files are only added or overwritten.
"""

from __future__ import annotations

import os
import pwd
import shlex
import subprocess
import sys
import tarfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from qfbackup.catalog.plan import RestorePlan
from qfbackup.common.atomic import write_atomic
from qfbackup.common.process import pid_exists
from qfbackup.errors import IntegrityError, UsageError
from qfbackup.pg.recovery import merge_auto_conf, recovery_settings
from qfbackup.pg.versions import DEFAULT_MAJOR, debian_bin_dir
from qfbackup.remote.targets import open_session

FETCH_WORKERS = 4


@dataclass
class RestoreResult:
    data_dir: str
    host: str | None
    spool: str
    restore_command: str
    write_seconds: float = 0.0
    fetch_seconds: float = 0.0
    bytes_written: int = 0
    wal_files: int = 0
    next_steps: list[str] = field(default_factory=list)


class _StreamFile:
    """File-like view of an iterator of byte strings (for tarfile's streaming mode)."""

    def __init__(self, chunks) -> None:
        self.chunks = iter(chunks)
        self.cur = b""
        self.pos = 0
        self.count = 0

    def read(self, n: int = -1) -> bytes:
        parts = []
        while n != 0:
            if self.pos >= len(self.cur):
                try:
                    self.cur, self.pos = next(self.chunks), 0
                except StopIteration:
                    break
            take = len(self.cur) - self.pos if n < 0 else min(n, len(self.cur) - self.pos)
            parts.append(self.cur[self.pos : self.pos + take])
            self.pos += take
            if n > 0:
                n -= take
        out = b"".join(parts)
        self.count += len(out)
        return out


def safe_extract(tar: tarfile.TarFile, dest: Path) -> None:
    """Extract a streamed tar without letting a member escape ``dest``.

    Python's extraction filters exist from 3.11.4 on; Debian 12 ships 3.11.2, so the same rules (no absolute or
    ``..`` paths, no links out of the tree, no device files) are applied here member by member.
    """
    if hasattr(tarfile, "data_filter"):
        try:
            tar.extractall(dest, filter="data")
        except tarfile.FilterError as e:
            raise IntegrityError(f"refusing tar member: {e}") from None
        return
    root = os.path.realpath(dest)
    for member in tar:
        target = os.path.realpath(os.path.join(root, member.name))
        if os.path.isabs(member.name) or os.path.commonpath([root, target]) != root:
            raise IntegrityError(f"refusing tar member {member.name!r}: outside the target directory")
        if member.issym() or member.islnk():
            base = os.path.dirname(target) if member.issym() else root
            link = os.path.realpath(os.path.join(base, member.linkname))
            if os.path.isabs(member.linkname) or os.path.commonpath([root, link]) != root:
                raise IntegrityError(f"refusing tar link {member.name!r} -> {member.linkname!r}: outside the target")
        if member.isdev():
            raise IntegrityError(f"refusing device file {member.name!r} in a base backup")
        member.mode &= 0o7777 & ~0o6000  # no setuid/setgid from a backup
        tar.extract(member, root, set_attrs=True)


def _check_remote_target(session, host: str, d: PurePosixPath, force: bool) -> None:
    pid = session.run(["cat", str(d / "postmaster.pid")])
    if not pid.ok and "No such file" not in pid.stderr and "Not a directory" not in pid.stderr:
        raise UsageError(
            f"cannot tell whether {host}:{d} belongs to a running server: {pid.stderr.strip()}",
            hint="check the directory on that host; restore into a new directory",
        )
    if pid.ok:
        running = live_postmaster(
            pid.stdout.decode(errors="replace"), lambda p: session.run(["test", "-d", f"/proc/{p}"]).ok
        )
        if running is not None:
            raise _running_server(f"{host}:{d}", running)
    listing = session.run(["find", str(d), "-mindepth", "1", "-maxdepth", "1", "-print", "-quit"])
    if listing.ok and listing.stdout.strip() and not force:
        raise UsageError(f"restore target {host}:{d} is not empty", hint="restore into a new or empty directory")


def spool_dir(data_dir: str) -> str:
    return data_dir.rstrip("/") + ".qfbackup-wal"


def recovery_log(data_dir: str) -> str:
    """Where the server's log goes during recovery: beside the data directory, never inside it (a log inside
    would travel into the next base backup)."""
    return data_dir.rstrip("/") + ".recovery.log"


def live_postmaster(pid_text: str, alive) -> int | None:
    """The pid in a postmaster.pid if ``alive(pid)`` says that process exists, else None (a stale file)."""
    first = pid_text.split("\n", 1)[0].strip()
    return int(first) if first.isdigit() and alive(int(first)) else None


def _running_server(where: str, pid: int) -> UsageError:
    return UsageError(
        f"{where} is the data directory of a running server (postmaster.pid names live process {pid})",
        hint="stop that server and restore into a new directory; --force never overrides this",
    )


def check_local_target(path: Path, force: bool) -> None:
    pid = path / "postmaster.pid"
    if pid.exists():
        # never, --force or not: writing under a running server corrupts it (pgBackRest refuses too)
        running = live_postmaster(pid.read_text(errors="replace"), pid_exists)
        if running is not None:
            raise _running_server(str(path), running)
        if not force:
            raise UsageError(
                f"{path} is the data directory of a server that may be running (postmaster.pid exists)",
                hint="stop it and move it aside; restore into a new directory",
            )
    if path.exists() and any(path.iterdir()) and not force:
        raise UsageError(f"restore target {path} is not empty", hint="restore into a new or empty directory")


def _owner(name: str) -> tuple[int, int]:
    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        raise UsageError(f"no local user {name!r} to own the restored files", hint="pass --owner USER") from None
    return pw.pw_uid, pw.pw_gid


def _chown_tree(path: Path, uid: int, gid: int) -> None:
    if os.geteuid() != 0:
        return
    os.chown(path, uid, gid)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            os.chown(os.path.join(root, name), uid, gid, follow_symlinks=False)


def _arg(value: str) -> str:
    """Shell-quoted, with % doubled: PostgreSQL expands %f/%p/%r in restore_command before the shell runs it."""
    return shlex.quote(value).replace("%", "%%")


def spool_restore_command(spool: str) -> str:
    """For a server that cannot run qfbackup: the staged spool holds all the WAL the plan needs."""
    return f"cp {_arg(spool)}/%f %p"


def local_restore_command(repo_url: str, cluster: str, spool: str, owner: str) -> tuple[str, str | None]:
    """``qfbackup wal-get`` when the server's user can run this qfbackup, else a copy from the spool.

    The server runs restore_command as ``owner``; a qfbackup installed where only root can read it (a venv
    under /root) would fail with exit 126 and abort recovery, so this is checked, not assumed.
    """
    probe = [sys.executable, "-c", "import qfbackup"]
    if os.geteuid() == 0 and owner != "root":
        probe = ["runuser", "-u", owner, "--", *probe]
    if subprocess.run(probe, capture_output=True).returncode != 0:
        return spool_restore_command(spool), f"{owner} cannot run {sys.executable}: restore_command reads the spool"
    exe = _arg(sys.executable)
    # The shell copies staged files itself (PostgreSQL asks one segment at a time; starting Python for each
    # would triple replay time); only what is not staged goes to the repository through wal-get.
    command = (
        f"{spool_restore_command(spool)} 2>/dev/null || {exe} -m qfbackup --repo {_arg(repo_url)} -q "
        f"wal-get --cluster {_arg(cluster)} --spool {_arg(spool)} %f %p"
    )
    return command, None


def restore_local(
    repo,
    plan: RestorePlan,
    data_dir: Path,
    *,
    action: str,
    force: bool = False,
    owner: str = "postgres",
    restore_command: str | None = None,
    archive_dir: str | None = None,
    progress=None,
) -> RestoreResult:
    """``archive_dir``: the restore becomes the new primary and archives there (None: a copy that never
    archives). ``progress(nbytes)`` counts the base backup, then the WAL staged (the plan's base_bytes +
    wal_bytes in all)."""
    data_dir = data_dir.absolute()
    check_local_target(data_dir, force)
    uid, gid = _owner(owner)
    spool = Path(spool_dir(str(data_dir)))
    note = None
    if restore_command is None:
        restore_command, note = local_restore_command(repo.store.url, plan.cluster, str(spool), owner)
    result = RestoreResult(str(data_dir), None, str(spool), restore_command)

    t0 = time.monotonic()
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    src = _StreamFile(repo.read_stream(plan.backup.streams["base.tar"], progress=progress))
    with tarfile.open(fileobj=src, mode="r|") as tar:
        safe_extract(tar, data_dir)
    while src.read(1 << 20):  # past the tar's end marker: reading to the end runs the stream's size/hash check
        pass
    result.bytes_written = src.count
    os.chmod(data_dir, 0o700)
    result.write_seconds = time.monotonic() - t0

    t0 = time.monotonic()
    spool.mkdir(exist_ok=True, mode=0o700)
    result.wal_files = stage_wal(
        repo, plan, lambda name, chunks: write_atomic(spool / name, chunks, mode=0o600), progress=progress
    )
    result.fetch_seconds = time.monotonic() - t0

    (data_dir / "standby.signal").unlink(missing_ok=True)
    auto = data_dir / "postgresql.auto.conf"
    old = auto.read_text() if auto.exists() else ""
    write_atomic(auto, merge_auto_conf(old, _settings(plan, restore_command, action, archive_dir)), mode=0o600)
    (data_dir / "recovery.signal").touch()
    log = Path(recovery_log(str(data_dir)))
    log.touch()
    if archive_dir is not None and not Path(archive_dir).is_dir():
        Path(archive_dir).mkdir(parents=True, mode=0o700)
        if os.geteuid() == 0:
            os.chown(archive_dir, uid, gid)
    _chown_tree(data_dir, uid, gid)
    _chown_tree(spool, uid, gid)
    if os.geteuid() == 0:
        os.chown(log, uid, gid)
    result.next_steps = [note] if note else []
    result.next_steps += [
        f"start it: runuser -u {owner} -- {_pg_ctl(plan)} -D {data_dir} -l {log} start",
        "watch: grep -E 'recovery stopping|consistent recovery state|archive recovery complete' on the log",
        f"after promotion, remove the WAL spool {spool}",
    ]
    return result


def stage_wal(repo, plan: RestorePlan, write, progress=None) -> int:
    """Fetch the plan's WAL in parallel and hand each file's bytes to ``write(name, chunks)``; ``progress(nbytes)``
    hears of every chunk as it is read (from the fetch threads)."""
    with ThreadPoolExecutor(FETCH_WORKERS, thread_name_prefix="qfbackup-walfetch") as pool:
        list(pool.map(lambda n: write(n, repo.read_stream(plan.wal_refs[n], progress=progress)), plan.wal_files))
    return len(plan.wal_files)


def _pg_ctl(plan: RestorePlan) -> str:
    """Debian keeps pg_ctl out of PATH; name the one matching the backup's major version."""
    return str(debian_bin_dir(plan.backup.meta.get("pg_major", DEFAULT_MAJOR)) / "pg_ctl")


def _settings(plan: RestorePlan, command: str, action: str, archive_dir: str | None) -> str:
    intent = f"new primary archiving to {archive_dir}" if archive_dir else "a copy that does not archive"
    return recovery_settings(
        plan.target, restore_command=command, timeline=str(plan.timeline), action=action, archive_dir=archive_dir,
        note=f"qfbackup restore of {plan.cluster} from base backup {plan.backup.id[:12]} to {plan.target.describe()}"
        f" ({intent})",
    )  # fmt: skip


def restore_remote(
    repo,
    policy,
    plan: RestorePlan,
    host: str,
    data_dir: str,
    *,
    action: str,
    force: bool = False,
    archive_dir: str | None = None,
    progress=None,
) -> RestoreResult:
    """Restore onto another host over SSH: the host needs PostgreSQL and an SSH key, not qfbackup."""
    d = PurePosixPath(data_dir)
    if not d.is_absolute():
        raise UsageError(f"--to must be an absolute path on {host}")
    spool = PurePosixPath(spool_dir(data_dir))
    command = spool_restore_command(str(spool))
    result = RestoreResult(data_dir, host, str(spool), command)
    with open_session(policy, host) as session:
        _check_remote_target(session, host, d, force)
        session.run(["mkdir", "-p", "-m", "700", str(d), str(spool)], check=True)
        t0 = time.monotonic()
        stream = repo.read_stream(plan.backup.streams["base.tar"], progress=progress)
        session.upload(["tar", "-x", "-f", "-", "-C", str(d)], stream, timeout=3600)
        session.run(["chmod", "700", str(d)], check=True)
        result.bytes_written = plan.base_bytes
        result.write_seconds = time.monotonic() - t0
        t0 = time.monotonic()
        result.wal_files = stage_wal(
            repo, plan,
            lambda name, chunks: session.upload(["dd", f"of={spool / name}", "bs=1M", "status=none"], chunks),
            progress=progress,
        )  # fmt: skip
        result.fetch_seconds = time.monotonic() - t0
        session.run(["rm", "-f", str(d / "standby.signal")], check=True)
        auto = d / "postgresql.auto.conf"
        old = session.run(["cat", str(auto)])
        merged = merge_auto_conf(old.stdout.decode() if old.ok else "", _settings(plan, command, action, archive_dir))
        session.upload(["dd", f"of={auto}", "status=none"], [merged.encode()])
        session.run(["touch", str(d / "recovery.signal"), recovery_log(str(d))], check=True)
        if archive_dir is not None:
            session.run(["mkdir", "-p", "-m", "700", archive_dir], check=True)
    result.next_steps = [
        f"on {host}: {_pg_ctl(plan)} -D {d} -l {recovery_log(str(d))} start",
        f"after promotion, remove the WAL spool {spool} on {host}",
    ]
    return result
