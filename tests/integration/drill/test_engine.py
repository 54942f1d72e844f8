"""The container layer under drills, against a real engine and the real drill image.

What a drill relies on, each proven by running it: PostgreSQL starts and answers inside the image as postgres; the
container has no network but loopback; host files owned by the host's postgres are writable inside; a timeout or a
Ctrl-C leaves no container behind; cleanup removes orphans of dead drills but not a live drill's container; with no
engine at all, detection says what to install instead of running anything on the host.
"""

from __future__ import annotations

import json
import os
import pwd
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from qfbackup.drill.container import LABEL, OWNER_LABEL, ContainerSpec, Mount
from qfbackup.drill.detect import detect_engine
from qfbackup.drill.engine import Engine
from qfbackup.drill.image import build_image, check_cached, image_dir, remove_leftovers
from qfbackup.drill.manifest import ImageManifest, ImageRef
from qfbackup.drill.supervise import owner_token
from qfbackup.errors import DrillUnavailable, UsageError
from qfbackup.pg.versions import debian_bin_dir
from qfbackup.policy.jobs import Drill
from tests.support.jsoncheck import check_run

pytestmark = pytest.mark.container

PG_BIN = str(debian_bin_dir())


def _postgres_ids() -> tuple[int, int]:
    entry = pwd.getpwnam("postgres")
    return entry.pw_uid, entry.pw_gid


def _group_members(pgid: int) -> list[int]:
    """Live processes (zombies write nothing, so they do not count) in process group ``pgid``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # exited while we looked
        state, _ppid, pgrp = text[text.rindex(")") + 2 :].split()[:3]
        if state != "Z" and int(pgrp) == pgid:
            found.append(int(stat.parent.name))
    return found


def wait_group_gone(pgid: int, timeout: float = 30.0) -> None:
    """Poll until every process of a killed group has exited (SIGKILL is delivered, not waited for)."""
    deadline = time.monotonic() + timeout
    while members := _group_members(pgid):
        assert time.monotonic() < deadline, f"process group {pgid} still has {members} after {timeout:.0f} s"
        time.sleep(0.05)


def _drill_names(engine: Engine) -> set[str]:
    """Drill containers as the engine's own CLI lists them (not through list_containers, which is under test)."""
    out = engine.command("ps", "--all", "--filter", f"label={LABEL}=1", "--format", "{{.Names}}")
    return set(out.split())


# ---------------------------------------------------------------------------------------------------------------
# the image


def test_image_is_cached_and_matches_host_postgres(drill_image: ImageRef, drill_cache: Path) -> None:
    again = build_image(drill_cache, 15)
    assert again.cached and again.seconds < 1.0, again
    assert again.rootfs == drill_image.rootfs and again.name == drill_image.name
    manifest = again.manifest
    assert manifest is not None
    assert (manifest.postgres_uid, manifest.postgres_gid) == _postgres_ids()
    assert manifest.pg_major == 15 and manifest.pg_version.startswith("15.")
    assert "en_US.UTF-8" in manifest.locales
    rootfs = again.rootfs
    assert rootfs is not None
    assert (rootfs / "usr/share/postgresql/15/extension/amcheck.control").exists()
    assert not list((rootfs / "etc/postgresql").glob("15/*")), "the packaged cluster must be dropped"
    assert not list(rootfs.parent.parent.glob(".pg15-bookworm.build-*")), "no build leftovers"


def test_cache_entry_for_other_uid_or_locales_is_stale(tmp_path: Path, drill_image: ImageRef) -> None:
    assert drill_image.manifest is not None
    m = drill_image.manifest
    final = tmp_path / "images" / "pg15-bookworm"
    (final / "rootfs" / m.pg_bin_dir.lstrip("/")).mkdir(parents=True)
    (final / "rootfs" / m.pg_bin_dir.lstrip("/") / "postgres").touch()
    (final / "manifest.json").write_text(json.dumps(m.to_dict()))
    assert check_cached(final, 15, m.postgres_uid, m.postgres_gid, m.locales)[0] == m
    _, why = check_cached(final, 15, m.postgres_uid + 1, m.postgres_gid, m.locales)
    assert why and "the host's is now" in why
    _, why = check_cached(final, 15, m.postgres_uid, m.postgres_gid, (*m.locales, "de_DE.UTF-8"))
    assert why and "de_DE.UTF-8" in why
    assert ImageManifest.load(final / "manifest.json").tag == m.tag


def test_killed_build_leaves_no_finished_looking_image(tmp_path: Path, drill_image: ImageRef) -> None:
    """SIGKILL the whole build mid-debootstrap: nothing appears under the final name; the next build clears it."""
    cache = tmp_path / "cache"
    code = f"from qfbackup.drill.image import build_image; build_image({str(cache)!r}, 15)"
    proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True, stderr=subprocess.PIPE)
    final = image_dir(cache, 15)
    deadline = time.monotonic() + 60
    while not list((cache / "images").glob(".pg15-bookworm.build-*/rootfs/*")):
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline, "the build never started writing its rootfs"
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    wait_group_gone(proc.pid)  # debootstrap's children too: nothing may still write into the leftovers
    assert not final.exists()
    leftovers = list((cache / "images").glob(".pg15-bookworm.build-*"))
    assert leftovers
    assert remove_leftovers(final) == leftovers
    assert not any(p.exists() for p in leftovers)


def test_cli_image_build_reports_cache_hit(drill_image: ImageRef, drill_cache: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QFBACKUP_")}
    args = ("--json", "drill", "image", "build", "--cache-dir", str(drill_cache))
    proc = subprocess.run(
        [sys.executable, "-m", "qfbackup", *args], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    check_run(args, proc)  # the document is docs/json.md's "drill image build"
    (row,) = json.loads(proc.stdout)["images"]
    assert row["status"] == "cached" and row["path"] == str(drill_image.rootfs)
    assert row["size_bytes"] > 100 * 2**20 and row["seconds"] < 1.0
    assert (row["postgres_uid"], row["postgres_gid"]) == _postgres_ids()
    text = subprocess.run([sys.executable, "-m", "qfbackup", *args[1:]], capture_output=True, text=True, env=env,
                          timeout=120)  # fmt: skip
    assert text.returncode == 0, text.stderr
    assert text.stdout.startswith(f"cached: PostgreSQL {row['pg_version']} on Debian bookworm at {row['path']}\n")


# ---------------------------------------------------------------------------------------------------------------
# running containers


def test_postgres_runs_inside_as_postgres(drill_engine: Engine, drill_image: ImageRef, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    uid, gid = _postgres_ids()
    os.chown(data, uid, gid)
    script = f"""set -e
{PG_BIN}/initdb -D /data/pg -A trust --locale=C.UTF-8 >/dev/null
{PG_BIN}/pg_ctl -D /data/pg -o "-k /tmp -c listen_addresses=''" -l /tmp/pg.log -w start >/dev/null
{PG_BIN}/psql -h /tmp -d postgres -Atc 'select 1'
{PG_BIN}/psql -h /tmp -d postgres -Atc 'create extension amcheck' >/dev/null
{PG_BIN}/pg_ctl -D /data/pg -m fast -w stop >/dev/null
"""
    spec = ContainerSpec(
        image=drill_image,
        command=("bash", "-c", script),
        mounts=(Mount(data, "/data"),),
        memory_mib=512,
        cpus=1,
        timeout_s=120,
    )
    result = drill_engine.run(spec)
    assert result.ok, result.stderr
    assert result.stdout.strip() == "1"
    assert (data / "pg" / "PG_VERSION").stat().st_uid == uid
    assert spec.name not in _drill_names(drill_engine)


def test_no_network_but_loopback(drill_engine: Engine, drill_image: ImageRef) -> None:
    spec = ContainerSpec(
        image=drill_image,
        command=("sh", "-c", "ls /sys/class/net; echo --; cat /proc/net/dev"),
        timeout_s=60,
    )
    result = drill_engine.run(spec).check()
    links, dev = result.stdout.split("--\n")
    assert links.split() == ["lo"]
    interfaces = [line.split(":")[0].strip() for line in dev.splitlines()[2:]]
    assert interfaces == ["lo"]
    argv = drill_engine.run_argv(spec)
    assert argv[argv.index("--network") + 1] == "none"
    assert argv[-6:-3] == ["timeout", "--kill-after=10", "120"]  # ends itself even if qfbackup is SIGKILLed
    with pytest.raises(UsageError):
        ContainerSpec(image=drill_image, command=("true",), network="bridge")  # type: ignore[arg-type]
    from_policy = ContainerSpec.from_policy(Drill(memory_mib=1024, cpus=1.5, timeout_minutes=3), drill_image, ["x"])
    assert (from_policy.memory_mib, from_policy.cpus, from_policy.timeout_s) == (1024, 1.5, 180.0)


def test_host_postgres_files_writable_inside(drill_engine: Engine, drill_image: ImageRef, tmp_path: Path) -> None:
    uid, gid = _postgres_ids()
    shared, ro = tmp_path / "shared", tmp_path / "ro"
    for d in (shared, ro):
        d.mkdir()
        os.chown(d, uid, gid)
    (shared / "wal.conf").write_text("from host\n")
    os.chown(shared / "wal.conf", uid, gid)
    (shared / "wal.conf").chmod(0o600)
    script = "set -e; echo from container >> /shared/wal.conf; touch /shared/new; touch /ro/x 2>/dev/null && echo RW"
    spec = ContainerSpec(
        image=drill_image,
        command=("sh", "-c", script + " || true"),
        mounts=(Mount(shared, "/shared"), Mount(ro, "/ro", read_only=True)),
        timeout_s=60,
    )
    result = drill_engine.run(spec).check()
    assert "RW" not in result.stdout
    assert (shared / "wal.conf").read_text() == "from host\nfrom container\n"
    st = (shared / "new").stat()
    assert (st.st_uid, st.st_gid) == (uid, gid)
    assert not (ro / "x").exists()
    assert drill_engine.user_ids(drill_image) == (uid, gid)


def test_env_is_passed_but_not_on_the_command_line(drill_engine: Engine, drill_image: ImageRef) -> None:
    spec = ContainerSpec(
        image=drill_image, command=("sh", "-c", 'printf %s "$SECRET"'), env={"SECRET": "s3cr=t x"}, timeout_s=60
    )
    assert "s3cr=t x" not in " ".join(drill_engine.run_argv(spec))
    assert drill_engine.run(spec).check().stdout == "s3cr=t x"
    assert not list((drill_engine.cache_dir / "tmp").glob("*.env"))


def test_timeout_kills_and_removes_container(drill_engine: Engine, drill_image: ImageRef) -> None:
    spec = ContainerSpec(image=drill_image, command=("sleep", "600"), timeout_s=2)
    result = drill_engine.run(spec)
    assert result.timed_out and not result.ok
    assert result.seconds < 20
    assert spec.name not in _drill_names(drill_engine)
    with pytest.raises(Exception, match="timed out"):
        result.check()


def test_keyboard_interrupt_removes_container(drill_engine: Engine, drill_image: ImageRef) -> None:
    """SIGINT arrives while the container runs (seen running by the engine): the container must be gone after."""
    spec = ContainerSpec(image=drill_image, command=("sleep", "600"), timeout_s=300)
    seen_running = threading.Event()

    def interrupt() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if spec.name in _drill_names(drill_engine):
                seen_running.set()
                break
            time.sleep(0.1)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        drill_engine.run(spec)
    assert seen_running.is_set()
    assert spec.name not in _drill_names(drill_engine)
    assert spec.name not in drill_engine.started


def test_sigterm_in_a_plain_script_removes_container(drill_engine: Engine, drill_image: ImageRef) -> None:
    """A library caller with no signal handlers (SIGTERM would kill Python outright) still loses no container."""
    name = f"qfbackup-drill-sigterm-{os.getpid()}"
    code = f"""
from pathlib import Path
from qfbackup.drill.container import ContainerSpec
from qfbackup.drill.detect import detect_engine
from qfbackup.drill.image import build_image
engine = detect_engine({drill_engine.kind!r}, Path({str(drill_engine.cache_dir)!r}))
image = build_image(Path({str(drill_engine.cache_dir)!r}), 15)
engine.run(ContainerSpec(image=image, command=("sleep", "600"), name={name!r}))
"""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while name not in _drill_names(drill_engine):
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "the container never started"
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0
    assert name not in _drill_names(drill_engine)


def test_cleanup_removes_orphans_only(drill_engine: Engine, drill_image: ImageRef) -> None:
    """A container whose owner process is dead goes; one owned by a live process stays unless all_owners."""
    assert drill_image.rootfs is not None
    drill_engine.prepare(drill_image)
    image = drill_engine.image_args(drill_image)  # started by hand below, not through run()
    dead = subprocess.Popen(["true"])
    dead.wait()
    names = {}
    for who, token in (("orphan", owner_token(dead.pid)), ("live", owner_token())):
        name = f"qfbackup-drill-test-{who}-{os.getpid()}"
        drill_engine.command(
            "run", "--detach", "--name", name, "--network", "none",
            "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
            "--label", f"{LABEL}=1", "--label", f"{OWNER_LABEL}={token}", *image, "sleep", "600",
        )  # fmt: skip
        names[who] = name
    other = detect_engine(drill_engine.kind, drill_engine.cache_dir)  # a fresh Engine: started nothing itself
    try:
        removed = other.cleanup()
        assert names["orphan"] in removed and names["live"] not in removed
        assert names["live"] in _drill_names(drill_engine)
        assert names["live"] in other.cleanup(all_owners=True)
    finally:
        for name in names.values():
            drill_engine.remove(name)
    assert not set(names.values()) & _drill_names(drill_engine)


def test_no_engine_raises_with_install_hint(tmp_path: Path) -> None:
    env = {"PATH": str(tmp_path / "empty-bin")}
    with pytest.raises(DrillUnavailable) as info:
        detect_engine("auto", tmp_path, env=env)
    err = info.value
    assert err.exit_code == 11
    assert "podman is not installed" in err.message and "docker is not installed" in err.message
    assert err.hint and "apt-get install podman runc" in err.hint and "docker.io" in err.hint
    assert "never runs the restore on this host" in err.hint
    with pytest.raises(DrillUnavailable, match="docker is not installed") as only_docker:
        detect_engine("docker", tmp_path, env=env)
    assert "podman is not installed" not in only_docker.value.message
