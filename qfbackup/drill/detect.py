"""Finding the container engine that really works here: podman, else docker, else refuse.

Why probe instead of checking what is installed: "installed" is not "works". The host's rlimits, cgroups or a
stopped daemon show only when something runs, so the probe runs a trivial container with a drill's isolation flags
(once per process and configuration). When nothing works, drills refuse with DrillUnavailable and never fall back
to running the restore on the host.

Why private configuration: podman reads containers.conf and storage.conf from /etc and /usr/share. Rather than change
the machine's files (or rely on them), every podman call gets ``CONTAINERS_CONF`` and ``CONTAINERS_STORAGE_CONF``
pointing at files under the drill cache: runc with cgroupfs (no systemd here), ulimits the host's hard limits allow
(without them runc fails with "error setting rlimit type 7"), container storage under the cache instead of
/var/lib/containers, and podman's run state under /run (tmpfs, so a reboot resets it).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import threading
from collections.abc import Mapping
from pathlib import Path

from qfbackup.common.atomic import fsync_dir, temp_path, write_atomic
from qfbackup.drill.container import ContainerSpec, ulimits
from qfbackup.drill.engine import DockerEngine, Engine, PodmanEngine
from qfbackup.drill.image import default_cache_dir
from qfbackup.drill.manifest import ImageRef
from qfbackup.errors import DrillUnavailable, Failed, UsageError

PROBE_TIMEOUT_S = 60.0
INSTALL_PODMAN = "apt-get install podman runc"
INSTALL_DOCKER = "apt-get install docker.io, and start dockerd (see docs/drills.md)"

_PROBED: dict[tuple[str, ...], Engine] = {}
_PROBE_LOCK = threading.Lock()


def detect_engine(
    preference: str = "auto",
    cache_dir: Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
) -> Engine:
    """The engine drills use: podman if it can really run a container here, else docker if its daemon runs one.

    ``preference`` is the policy's drill.engine: "podman" or "docker" use only that one. ``env`` supplies PATH
    (and DOCKER_HOST) for finding the engines; default os.environ. Raises DrillUnavailable, saying what is
    missing or broken and what to install, when nothing works.
    """
    if preference not in ("auto", "podman", "docker"):
        raise UsageError(f"drill.engine must be auto, podman or docker (got {preference!r})")
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    env = dict(os.environ if env is None else env)
    kinds = ["podman", "docker"] if preference == "auto" else [preference]
    problems = []
    for kind in kinds:
        try:
            return _probe(kind, cache_dir, env)
        except DrillUnavailable as e:
            problems.append(e.message)
    hint = {
        "auto": f"install podman ({INSTALL_PODMAN}) or docker ({INSTALL_DOCKER}); "
        "a drill never runs the restore on this host without a container",
        "podman": f'{INSTALL_PODMAN}, or set drill.engine = "auto" to allow docker',
        "docker": f'{INSTALL_DOCKER}, or set drill.engine = "auto" to allow podman',
    }[preference]
    raise DrillUnavailable("; ".join(problems), hint=hint)


def _probe(kind: str, cache_dir: Path, env: dict[str, str]) -> Engine:
    binary = shutil.which(kind, path=env.get("PATH", os.defpath))
    if binary is None:
        install = INSTALL_PODMAN if kind == "podman" else INSTALL_DOCKER
        raise DrillUnavailable(f"{kind} is not installed (not on PATH; {install})")
    key = (kind, binary, str(cache_dir), env.get("DOCKER_HOST", ""))
    with _PROBE_LOCK:
        if key in _PROBED:
            cached = _PROBED[key]
            return type(cached)(binary=cached.binary, cache_dir=cached.cache_dir, env=dict(cached.env))
        engine: Engine
        if kind == "podman":
            if shutil.which("runc", path=env.get("PATH", os.defpath) + ":/usr/sbin:/sbin") is None:
                raise DrillUnavailable(f"podman is installed but runc is not ({INSTALL_PODMAN})")
            engine = PodmanEngine(binary=binary, cache_dir=cache_dir, env=_podman_env(cache_dir, env))
        else:
            engine = DockerEngine(binary=binary, cache_dir=cache_dir, env=_docker_env(env))
            try:
                engine.command("version", "--format", "{{.Server.Version}}", timeout=15)
            except Failed as e:
                where = env.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
                raise DrillUnavailable(f"docker: no daemon answers at {where} ({e}); {INSTALL_DOCKER}") from None
        _probe_run(engine)
        _PROBED[key] = engine
        return type(engine)(binary=engine.binary, cache_dir=engine.cache_dir, env=dict(engine.env))


def _probe_run(engine: Engine) -> None:
    """Run /bin/true in a tiny rootfs made of the host's own ``true`` and its libraries, with drill flags."""
    rootfs = _probe_rootfs(engine.cache_dir / "containers" / "probe-rootfs")
    image = ImageRef(name="localhost/qfbackup-drill-probe:1", rootfs=rootfs)
    spec = ContainerSpec(image=image, command=("/bin/true",), user="65534:65534", memory_mib=64, cpus=0.5,
                         pids_limit=64, timeout_s=PROBE_TIMEOUT_S)  # fmt: skip
    try:
        result = engine.run(spec)
    except Failed as e:
        raise DrillUnavailable(f"{engine.kind} cannot run a container here: {e}") from None
    if not result.ok:
        detail = (result.stderr.strip().splitlines() or ["no output"])[-1]
        why = "timed out" if result.timed_out else f"exit {result.exit_code}"
        raise DrillUnavailable(f"{engine.kind} is installed but cannot run a container here ({why}: {detail})")


def _probe_rootfs(path: Path) -> Path:
    """Build (once) a rootfs with just /bin/true; cheaper than any image and needs no registry. Built beside its
    final name and renamed into place complete, so a killed build never leaves a rootfs that looks finished."""
    if (path / ".complete").exists():
        return path
    true = shutil.which("true", path="/usr/bin:/bin") or "/bin/true"
    tmp = temp_path(path)
    tmp.mkdir(parents=True)
    try:
        libs = subprocess.run(["ldd", true], capture_output=True, text=True).stdout.split()
        files = [os.path.realpath(true)] + [p for p in libs if p.startswith("/")]
        for src in files:
            dest = tmp / src.lstrip("/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(os.path.realpath(src), dest)
        (tmp / "bin").mkdir(exist_ok=True)
        if not (tmp / "bin/true").exists():
            os.symlink(os.path.realpath(true), tmp / "bin/true")
        for d in ("proc", "sys", "dev", "tmp", "etc", "run", "var/tmp"):
            (tmp / d).mkdir(parents=True, exist_ok=True)
        (tmp / ".complete").touch()
        if path.exists():
            shutil.rmtree(path)
        tmp.rename(path)
        fsync_dir(path.parent)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


def _podman_env(cache_dir: Path, env: Mapping[str, str]) -> dict[str, str]:
    """Write containers.conf + storage.conf under the cache and return the environment that selects them."""
    conf_dir = cache_dir / "containers"
    conf_dir.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        # podman's run state belongs on tmpfs: after a reboot it must not believe old containers still run
        digest = hashlib.sha256(str(cache_dir.resolve()).encode()).hexdigest()[:10]
        run_dir = Path("/run/qfbackup-drill") / digest
    else:
        run_dir = conf_dir / "run"
    nofile, nproc = ulimits()
    containers_conf = f"""# written by qfbackup (qfbackup/drill/detect.py); used only by drill containers
[containers]
default_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]
log_driver = "k8s-file"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{run_dir}/events.log"
tmp_dir = "{run_dir}/libpod"

[network]
network_config_dir = "{conf_dir}/networks"
"""
    storage_conf = f"""# written by qfbackup (qfbackup/drill/detect.py); used only by drill containers
[storage]
driver = "overlay"
graphroot = "{conf_dir}/storage"
runroot = "{run_dir}/storage"
"""
    _write_if_changed(conf_dir / "containers.conf", containers_conf)
    _write_if_changed(conf_dir / "storage.conf", storage_conf)
    out = {k: v for k, v in env.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "XDG_RUNTIME_DIR")}
    out.setdefault("PATH", os.defpath)
    if "/usr/sbin" not in out["PATH"].split(":"):
        out["PATH"] += ":/usr/sbin:/sbin"  # runc and conmon's helpers live there
    out["CONTAINERS_CONF"] = str(conf_dir / "containers.conf")
    out["CONTAINERS_STORAGE_CONF"] = str(conf_dir / "storage.conf")
    return out


def _docker_env(env: Mapping[str, str]) -> dict[str, str]:
    keep = ("PATH", "HOME", "DOCKER_HOST", "DOCKER_CONFIG", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH")
    return {k: v for k, v in env.items() if k in keep}


def _write_if_changed(path: Path, text: str) -> None:
    """Rewrite a config file only when its content changes: a podman call running right now reads it whole."""
    if path.exists() and path.read_text() == text:
        return
    write_atomic(path, text)
