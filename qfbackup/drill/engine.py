"""The container layer under restore drills: find an engine that really works, run one isolated container, clean up.

Why a container at all: a drill restores production data and replays its WAL. On the backup VM's own PostgreSQL
(or with network access) a misconfigured restore_command or archive_command could touch production, and a failure
could leave a server running. So every drill runs in a container with no network but loopback (there is nowhere
to archive to or fetch from), resource limits, and removed afterwards; when no engine can run, drills refuse with
DrillUnavailable and never fall back to running the restore on the host.

Why private configuration: podman reads containers.conf and storage.conf from /etc and /usr/share. Rather than change
the machine's files (or rely on them), every podman call gets ``CONTAINERS_CONF`` and ``CONTAINERS_STORAGE_CONF``
pointing at files under the drill cache: runc with cgroupfs (no systemd here), ulimits the host's hard limits allow
(without them runc fails with "error setting rlimit type 7"), container storage under the cache instead of
/var/lib/containers, and podman's run state under /run (tmpfs, so a reboot resets it).

Why names and owner labels: a drill can be interrupted (SIGINT, SIGTERM from a timer, the process killed). Every
container gets a unique name (so a timeout or interrupt removes exactly it) and labels saying it is a drill and which
process started it, so ``Engine.cleanup()`` later removes containers whose owner is gone without touching a drill
another process is running right now.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from qfbackup.errors import DrillUnavailable, Failed, UsageError

if TYPE_CHECKING:
    from qfbackup.drill.image import ImageRef

LABEL = "qfbackup.drill"
"""Every drill container carries ``qfbackup.drill=1``; cleanup and tests filter on it."""
OWNER_LABEL = "qfbackup.drill.owner"
"""``host/pid/starttime`` of the qfbackup process that started the container (pid reuse cannot fool it)."""
NAME_PREFIX = "qfbackup-drill-"
NOFILE = 16384
NPROC = 32768
"""Wanted container ulimits (soft = hard), lowered to the host's hard limits when those are smaller."""
PROBE_TIMEOUT_S = 60.0
COMMAND_TIMEOUT_S = 120.0
"""For engine housekeeping commands (rm, ps, inspect); a hung engine must not hang the drill forever."""
INSTALL_PODMAN = "apt-get install podman runc"
INSTALL_DOCKER = "apt-get install docker.io, and start dockerd (see docs/drills.md)"

__all__ = [
    "ContainerResult",
    "ContainerSpec",
    "DockerEngine",
    "DrillUnavailable",  # defined in qfbackup.errors (exit code 11); re-exported here for drill code
    "Engine",
    "Mount",
    "PodmanEngine",
    "detect_engine",
]


# ---------------------------------------------------------------------------------------------------------------
# what to run, and what came back


@dataclass(frozen=True)
class Mount:
    """A host path bind-mounted into the container."""

    host: Path
    container: str
    read_only: bool = False

    def __post_init__(self) -> None:
        for value in (str(self.host), self.container):
            if "," in value or ":" in value:
                raise UsageError(f"container mount path {value!r} contains ',' or ':', which engines cannot express")
        if not self.container.startswith("/"):
            raise UsageError(f"container mount point {self.container!r} is not absolute")

    def argv(self) -> list[str]:
        opts = f"type=bind,source={Path(self.host).resolve()},target={self.container}"
        return ["--mount", opts + (",readonly" if self.read_only else "")]


def new_container_name() -> str:
    return NAME_PREFIX + secrets.token_hex(6)


@dataclass(frozen=True)
class ContainerSpec:
    """One drill container. Network is always "none" (loopback only): the field exists so that is explicit.

    ``read_only`` makes the image read-only; writable places are the mounts and tmpfs on /tmp, /var/tmp and /run
    (so start PostgreSQL with ``-k /tmp``). ``input`` is fed to the command's stdin. The environment travels in a
    0600 file, not on the engine's command line, where any local user could read it in ``ps``.
    """

    image: ImageRef
    command: Sequence[str]
    mounts: Sequence[Mount] = ()
    user: str = "postgres"
    env: Mapping[str, str] = field(default_factory=dict)
    memory_mib: int = 2048
    cpus: float = 2.0
    pids_limit: int = 4096
    timeout_s: float = 3600.0
    name: str = field(default_factory=new_container_name)
    labels: Mapping[str, str] = field(default_factory=dict)
    workdir: str = "/tmp"
    read_only: bool = True
    drop_capabilities: bool = True
    input: bytes | None = None
    network: Literal["none"] = "none"

    def __post_init__(self) -> None:
        if self.network != "none":
            raise UsageError(f"drill containers never get a network (asked for {self.network!r})")
        if not self.command:
            raise UsageError("a drill container needs a command")
        if not self.name.startswith(NAME_PREFIX):
            raise UsageError(f"drill container names start with {NAME_PREFIX!r} (got {self.name!r})")
        if self.memory_mib < 64 or self.cpus <= 0 or self.pids_limit < 16 or self.timeout_s <= 0:
            raise UsageError(
                f"container limits out of range: memory {self.memory_mib} MiB, cpus {self.cpus}, "
                f"pids {self.pids_limit}, timeout {self.timeout_s} s"
            )
        for key, value in self.env.items():
            if "\n" in key or "\n" in value or "=" in key:
                raise UsageError(f"container environment variable {key!r}: no newlines, no '=' in the name")

    @classmethod
    def from_policy(cls, drill: Any, image: ImageRef, command: Sequence[str], **kwargs: Any) -> ContainerSpec:
        """Limits from the policy's ``[drill]`` section (memory_mib, cpus, timeout_minutes); kwargs override."""
        limits = {"memory_mib": drill.memory_mib, "cpus": drill.cpus, "timeout_s": drill.timeout_minutes * 60.0}
        return cls(image=image, command=tuple(command), **{**limits, **kwargs})


@dataclass(frozen=True)
class ContainerResult:
    """How a container ended. exit_code is the command's, or the engine's own 125 ("could not run it")."""

    name: str
    engine: str
    exit_code: int
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out

    @property
    def engine_failed(self) -> bool:
        """The engine could not create or start the container (bad mount, missing image...), as opposed to the
        command failing inside it. podman and docker both use 125 for that."""
        return self.exit_code == 125 and not self.timed_out

    def check(self, what: str = "drill container") -> ContainerResult:
        """Raise Failed with the stderr tail unless the command succeeded."""
        if self.ok:
            return self
        tail = "\n  ".join(self.stderr.strip().splitlines()[-10:])
        if self.timed_out:
            reason = f"timed out after {self.seconds:.0f} s and was killed"
        elif self.engine_failed:
            reason = f"could not be started by {self.engine}"
        else:
            reason = f"exited with {self.exit_code}"
        raise Failed(f"{what} {self.name} {reason}" + (f":\n  {tail}" if tail else ""))


# ---------------------------------------------------------------------------------------------------------------
# engines


@dataclass
class Engine:
    """A working container engine (podman or docker) and the environment each of its calls needs."""

    binary: str
    cache_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    started: set[str] = field(default_factory=set, repr=False)
    kind: ClassVar[str] = "engine"

    # -- subclass hooks -----------------------------------------------------------------------------------------

    def image_args(self, image: ImageRef) -> list[str]:
        raise NotImplementedError

    def run_flags(self, spec: ContainerSpec) -> list[str]:
        return []

    def list_containers(self) -> list[dict[str, Any]]:
        """Drill containers (running or not): [{"name": ..., "labels": {...}}]."""
        raise NotImplementedError

    def prepare(self, image: ImageRef) -> None:
        """Do any one-time work ``image`` needs before a run (docker imports our rootfs, ~10-20 s the first time),
        so a drill can do it before its RTO clock starts. podman runs the rootfs directly: nothing to do."""

    # -- running ------------------------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.kind

    def command(self, *args: str, timeout: float = COMMAND_TIMEOUT_S, check: bool = True) -> str:
        """Run an engine subcommand (not a container) and return its stdout."""
        argv = [self.binary, *args]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, env=self.env, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise Failed(f"`{self.kind} {' '.join(args)}` did not finish within {timeout:.0f} s") from None
        if check and proc.returncode != 0:
            raise Failed(f"`{self.kind} {' '.join(args)}` failed (exit {proc.returncode}): {proc.stderr.strip()}")
        return proc.stdout

    def run_argv(self, spec: ContainerSpec, env_file: Path | None = None) -> list[str]:
        """The full engine command line for ``spec`` (exposed so tests and --verbose can show it)."""
        nofile, nproc = _ulimits()
        argv = [
            self.binary, "run", "--rm", "--name", spec.name, "--pull", "never",
            "--network", "none", "--hostname", "qfbackup-drill",
            "--label", f"{LABEL}=1", "--label", f"{OWNER_LABEL}={owner_token()}",
            "--memory", f"{spec.memory_mib}m", "--memory-swap", f"{spec.memory_mib}m",
            "--cpus", f"{spec.cpus:g}", "--pids-limit", str(spec.pids_limit),
            "--ulimit", f"nofile={nofile}:{nofile}", "--ulimit", f"nproc={nproc}:{nproc}",
            "--user", spec.user, "--workdir", spec.workdir,
        ]  # fmt: skip
        assert "--network" in argv and argv[argv.index("--network") + 1] == "none"
        for key, value in spec.labels.items():
            argv += ["--label", f"{key}={value}"]
        if spec.drop_capabilities:
            argv += ["--cap-drop", "all", "--security-opt", "no-new-privileges"]
        if spec.read_only:
            argv.append("--read-only")
        if spec.input is not None:
            argv.append("--interactive")
        if env_file is not None:
            argv += ["--env-file", str(env_file)]
        for mount in spec.mounts:
            argv += mount.argv()
        argv += self.run_flags(spec)
        argv += self.image_args(spec.image)
        command = list(spec.command)
        if spec.image.manifest is not None:
            # Backstop for a qfbackup killed by SIGKILL (no chance to remove anything): the container ends itself
            # a minute after the deadline and --rm removes it. Only our images are known to have GNU timeout.
            command = ["timeout", "--kill-after=10", f"{int(spec.timeout_s) + 60}", *command]
        return [*argv, *command]

    def run(self, spec: ContainerSpec) -> ContainerResult:
        """Run ``spec`` to completion and return its exit code and output.

        A timeout kills and removes the container (the result says timed_out); any exception while it runs,
        KeyboardInterrupt included, removes it before propagating. The engine client runs in its own session, so
        a Ctrl-C reaches only us and the removal happens in order rather than racing the client's own handling.
        SIGTERM and SIGHUP, where nobody handles them yet, unwind the same way while the container runs.
        """
        env_file = self._env_file(spec) if spec.env else None
        started = time.monotonic()
        timed_out = False
        self.started.add(spec.name)
        with _TerminationUnwinds():
            try:
                proc = subprocess.Popen(
                    self.run_argv(spec, env_file),
                    stdin=subprocess.PIPE if spec.input is not None else subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    env=self.env,
                    start_new_session=True,
                )
                try:
                    try:
                        out, err = proc.communicate(spec.input, timeout=spec.timeout_s)
                    except subprocess.TimeoutExpired:
                        timed_out = True
                        with _SignalsDeferred():
                            self.remove(spec.name)
                            out, err = _finish(proc)
                except BaseException:
                    with _SignalsDeferred():
                        self.remove(spec.name)
                        _finish(proc)
                        self.remove(spec.name)  # in case the client was still creating it
                    raise
            finally:
                if env_file is not None:
                    env_file.unlink(missing_ok=True)
        if not timed_out:
            self.started.discard(spec.name)
        return ContainerResult(
            name=spec.name,
            engine=self.kind,
            exit_code=proc.returncode if not timed_out else -signal.SIGKILL,
            stdout=out.decode(errors="replace"),
            stderr=err.decode(errors="replace"),
            seconds=time.monotonic() - started,
            timed_out=timed_out,
        )

    def remove(self, name: str) -> None:
        """Kill and remove one container by name; no error if it is already gone."""
        self.command("rm", "--force", *self._rm_flags(), name, check=False)
        self.started.discard(name)

    def _rm_flags(self) -> list[str]:
        return []

    def cleanup(self, *, all_owners: bool = False) -> list[str]:
        """Remove drill containers left behind by interrupted or killed drills.

        By default only those whose owning process is gone (or that this Engine started and still lists), so
        a drill another process runs right now survives; ``all_owners`` removes every drill container.
        """
        removed = []
        for container in self.list_containers():
            owner = container["labels"].get(OWNER_LABEL, "")
            if all_owners or container["name"] in self.started or not owner_alive(owner):
                self.remove(container["name"])
                removed.append(container["name"])
        return removed

    def __enter__(self) -> Engine:
        """Entering removes stale drill containers; leaving removes any this Engine started that still exist."""
        self.cleanup()
        return self

    def __exit__(self, *exc: object) -> None:
        with _SignalsDeferred():
            for name in list(self.started):
                self.remove(name)

    def user_ids(self, image: ImageRef, user: str = "postgres") -> tuple[int, int]:
        """uid and gid of ``user`` inside ``image``: compare with the host's before bind-mounting its files."""
        spec = ContainerSpec(
            image=image, command=("sh", "-c", f"id -u {user} && id -g {user}"), user="0:0", timeout_s=120
        )
        result = self.run(spec).check(f"looking up {user} in {image.name}")
        uid, gid = result.stdout.split()[:2]
        return int(uid), int(gid)

    def _env_file(self, spec: ContainerSpec) -> Path:
        tmp = self.cache_dir / "tmp"
        tmp.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = tmp / f"{spec.name}.env"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.writelines(f"{k}={v}\n" for k, v in spec.env.items())
        return path

    def describe(self) -> dict[str, Any]:
        return {"engine": self.kind, "binary": self.binary, "cache_dir": str(self.cache_dir)}


@dataclass
class PodmanEngine(Engine):
    """podman with private containers.conf/storage.conf; our rootfs runs directly (``--rootfs DIR:O``)."""

    kind: ClassVar[str] = "podman"

    def image_args(self, image: ImageRef) -> list[str]:
        if image.rootfs is not None:
            if ":" in str(image.rootfs):
                raise UsageError(f"rootfs path {image.rootfs} contains ':', which podman cannot express")
            # :O = an overlay on top: the container's writes (if any) go to a throwaway layer, the cache stays pristine
            return ["--rootfs", f"{image.rootfs}:O"]
        return [image.name]

    def run_flags(self, spec: ContainerSpec) -> list[str]:
        return ["--log-driver", "k8s-file"]

    def _rm_flags(self) -> list[str]:
        return ["--ignore", "--time", "0"]

    def list_containers(self) -> list[dict[str, Any]]:
        out = self.command("ps", "--all", "--filter", f"label={LABEL}=1", "--format", "json")
        rows = json.loads(out or "[]") or []
        return [{"name": (r.get("Names") or ["?"])[0], "labels": r.get("Labels") or {}} for r in rows]


@dataclass
class DockerEngine(Engine):
    """docker (a running dockerd): our rootfs is imported once as an image tagged from its manifest."""

    kind: ClassVar[str] = "docker"
    _imported: set[str] = field(default_factory=set, repr=False)

    def image_args(self, image: ImageRef) -> list[str]:
        if image.rootfs is not None:
            self.ensure_imported(image)
        return [image.name]

    def run_flags(self, spec: ContainerSpec) -> list[str]:
        # docker's --read-only adds no tmpfs of its own; podman's does (/tmp, /var/tmp, /run)
        if not spec.read_only:
            return []
        flags = []
        for path in ("/tmp", "/var/tmp", "/run"):
            flags += ["--tmpfs", f"{path}:rw,nosuid,nodev,exec,mode=1777"]
        return flags

    def prepare(self, image: ImageRef) -> None:
        if image.rootfs is not None:
            self.ensure_imported(image)

    def ensure_imported(self, image: ImageRef) -> None:
        """``docker import`` the rootfs under the manifest's tag unless that tag exists (it changes per build)."""
        if image.name in self._imported:
            return
        probe = subprocess.run(
            [self.binary, "image", "inspect", image.name], capture_output=True, env=self.env, timeout=60
        )
        if probe.returncode != 0:
            assert image.rootfs is not None
            tar = subprocess.Popen(["tar", "-C", str(image.rootfs), "-c", "."], stdout=subprocess.PIPE)
            try:
                imp = subprocess.run(
                    [self.binary, "import", "-", image.name],
                    stdin=tar.stdout,
                    capture_output=True,
                    env=self.env,
                    timeout=1800,
                )
            finally:
                if tar.stdout:
                    tar.stdout.close()
                tar.wait()
            if imp.returncode != 0 or tar.returncode != 0:
                raise Failed(f"docker import of {image.rootfs} failed: {imp.stderr.decode(errors='replace').strip()}")
        self._imported.add(image.name)

    def list_containers(self) -> list[dict[str, Any]]:
        out = self.command("ps", "--all", "--filter", f"label={LABEL}=1", "--format", "{{json .}}")
        rows = []
        for line in out.splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            labels = dict(kv.split("=", 1) for kv in (row.get("Labels") or "").split(",") if "=" in kv)
            rows.append({"name": row.get("Names", "?").split(",")[0], "labels": labels})
        return rows

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "docker_host": self.env.get("DOCKER_HOST")}


# ---------------------------------------------------------------------------------------------------------------
# detection


_PROBED: dict[tuple[str, ...], Engine] = {}
_PROBE_LOCK = threading.Lock()


def detect_engine(
    preference: str = "auto",
    cache_dir: Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
) -> Engine:
    """The engine drills use: podman if it can really run a container here, else docker if its daemon runs one.

    ``preference`` is the policy's drill.engine: "podman" or "docker" use only that one. The probe runs a trivial
    container with the same isolation flags as a drill (once per process and configuration), because "installed"
    is not "works": the host's rlimits, cgroups or a stopped daemon show only when something runs. ``env`` supplies
    PATH (and DOCKER_HOST) for finding the engines; default os.environ. Raises DrillUnavailable, saying what is
    missing or broken and what to install, when nothing works.
    """
    from qfbackup.drill.image import default_cache_dir

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
    from qfbackup.drill.image import ImageRef

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
    """Build (once) a rootfs with just /bin/true; cheaper than any image and needs no registry."""
    marker = path / ".complete"
    if marker.exists():
        return path
    true = shutil.which("true", path="/usr/bin:/bin") or "/bin/true"
    tmp = path.with_name(path.name + f".tmp-{secrets.token_hex(4)}")
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
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


def _ulimits() -> tuple[int, int]:
    """NOFILE/NPROC, or the host's hard limit when lower: runc cannot raise a container above it."""
    values = []
    for wanted, which in ((NOFILE, resource.RLIMIT_NOFILE), (NPROC, resource.RLIMIT_NPROC)):
        hard = resource.getrlimit(which)[1]
        values.append(wanted if hard == resource.RLIM_INFINITY else min(wanted, hard))
    return values[0], values[1]


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
    nofile, nproc = _ulimits()
    containers_conf = f"""# written by qfbackup (qfbackup/drill/engine.py); used only by drill containers
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
    storage_conf = f"""# written by qfbackup (qfbackup/drill/engine.py); used only by drill containers
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
    if path.exists() and path.read_text() == text:
        return
    tmp = path.with_name(path.name + f".tmp-{secrets.token_hex(4)}")
    tmp.write_text(text)
    tmp.rename(path)


# ---------------------------------------------------------------------------------------------------------------
# process ownership and signals


def _start_time(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22, counted after the parenthesised command name


def owner_token(pid: int | None = None) -> str:
    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()}/{pid}/{_start_time(pid) or '?'}"


def owner_alive(token: str) -> bool:
    """Whether the process named by an owner label still runs here. Another host's containers (a shared docker
    daemon) count as alive: we cannot tell, so we leave them."""
    try:
        host, pid, start = token.split("/")
    except ValueError:
        return False
    if host != socket.gethostname():
        return True
    return pid.isdigit() and _start_time(int(pid)) == start


class _TerminationUnwinds:
    """SIGTERM (systemd, a CI timeout) and SIGHUP (a closed terminal) kill a Python process outright by default,
    which would leave the container running; while one runs they raise KeyboardInterrupt instead, so run()
    removes it. Handlers someone else installed (the CLI has its own) are left alone; main thread only."""

    def __enter__(self) -> None:
        self.previous: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGHUP):
                if signal.getsignal(sig) is signal.SIG_DFL:
                    self.previous[sig] = signal.signal(sig, _raise_interrupt)

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


class _SignalsDeferred:
    """While removing a container, a second Ctrl-C/SIGTERM must not abandon the removal half-way: it is held
    until the block ends, then raised as KeyboardInterrupt unless an exception is already propagating. Only the
    main thread can change handlers; elsewhere this does nothing."""

    def __enter__(self) -> None:
        self.caught = False
        self.previous: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.previous[sig] = signal.signal(sig, self._hold)

    def _hold(self, signum: int, frame: object) -> None:
        self.caught = True

    def __exit__(self, exc_type: object, *exc: object) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        if self.caught and exc_type is None:
            raise KeyboardInterrupt


def _finish(proc: subprocess.Popen[bytes], grace: float = 30.0) -> tuple[bytes, bytes]:
    """Collect the engine client's output after its container was removed; kill the client if it lingers."""
    try:
        return proc.communicate(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.communicate()
    except ValueError:  # communicate() was interrupted mid-read; the pipes are in an unknown state
        proc.kill()
        proc.wait()
        return b"", b""
