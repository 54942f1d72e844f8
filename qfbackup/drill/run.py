"""A restore drill: restore into a throwaway container, prove the target was reached, check, measure RTO and RPO.

Phases (each timed; their sum is the RTO a real restore of the same data would need on this machine):
fetch (stage the WAL), restore (write the base backup), replay (start PostgreSQL until it pauses at the target
or promotes at the end of the WAL), checks (policy SQL invariants, amcheck, a full read). RPO is reported twice:
how much newer WAL exists than the target, and how old the newest stored WAL is now (what a disaster right now
would lose). The workspace and the container are removed whatever happens, unless ``keep``.

While it runs, the drill announces each phase it enters to a ``PhaseHook`` (the terminal shows them as they
happen); what a person sees live is coarser than the measured phases, because the container replays and checks in
one run.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Protocol

from qfbackup.catalog import kinds
from qfbackup.catalog.plan import plan_restore
from qfbackup.catalog.window import Coverage, Window, when
from qfbackup.common.atomic import write_atomic
from qfbackup.common.process import ProcessIdentity, current, is_alive
from qfbackup.common.units import utc_now
from qfbackup.drill import history
from qfbackup.drill.container import ContainerResult, ContainerSpec, Mount
from qfbackup.drill.detect import detect_engine
from qfbackup.drill.image import default_cache_dir, drill_image
from qfbackup.drill.script import DUMP_SCRIPT, PITR_SCRIPT, parse, render
from qfbackup.drill.verdict import (
    Verdict,
    judge_bounds,
    judge_checks,
    judge_completion,
    judge_dump,
    judge_replay,
)
from qfbackup.errors import DrillUnavailable, QfError, Unprovable, UsageError
from qfbackup.ops.restore.cluster import restore_local
from qfbackup.pg.recovery import Target, parse_time

CONTAINER_WAL = "/drill/wal"
OWNER_FILE = "owner.pid"


class PhaseHook(Protocol):
    """Told when the drill enters a phase (ending the one before); ``total``: the bytes the phase will read, when
    known. Returns the callback those bytes are counted with as they are read."""

    def __call__(self, name: str, total: int | None = None) -> Callable[[int], None]: ...


def _no_phases(name: str, total: int | None = None) -> Callable[[int], None]:
    return lambda nbytes: None


@dataclass
class DrillTarget:
    """What the drill restored to: ``spec`` as asked; the rest once it is chosen (None before, or when the
    drill failed first). ``time`` is ISO 8601 with its offset: the target time, or the dump's time."""

    spec: str  # random | latest | an ISO time | an LSN | dump
    kind: str | None = None  # time | lsn | latest | dump
    time: str | None = None
    lsn: str | None = None
    database: str | None = None  # dump drills


@dataclass
class DrillResult:
    """One drill's outcome. ``failures`` and ``proofs`` are the verdict's sentences; ``checks`` its rows
    (``why`` None when the check held). RTO is the phases' sum (None when nothing was restored); RPO the age of
    the newest stored WAL (dump drills: of the dump) at drill time; ``target_to_newest_wal_seconds`` how far
    before the newest stored WAL the target lies (0 for latest, None for an LSN target or a dump)."""

    id: str
    kind: str  # pitr | dump
    cluster: str
    started_at: str  # ISO 8601 with offset
    target: DrillTarget
    passed: bool = False
    failures: list[str] = field(default_factory=list)
    proofs: list[str] = field(default_factory=list)
    checks: list[dict] = field(default_factory=list)
    phases: dict[str, float] = field(default_factory=dict)
    rto_seconds: float | None = None
    rpo_seconds: float | None = None
    target_to_newest_wal_seconds: float | None = None
    snapshot_id: str | None = None  # the base backup (pitr) or the dump restored
    wal_files: int = 0
    engine: str | None = None
    kept: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def choose_target(spec: str, window: Window, rnd: random.Random) -> Target:
    """``random`` (a time inside the current restorable window), ``latest``, an ISO time, or an LSN."""
    if spec == "latest":
        return Target("latest")
    if spec != "random":
        return Target("lsn", spec) if "/" in spec and ":" not in spec else Target("time", spec)
    start, end = window.first.end_time, window.reach.end_time
    if end - start < timedelta(seconds=2):
        raise UsageError("the restorable window is too short for a random target", hint="use --target latest")
    moment = start + timedelta(seconds=1) + (end - start - timedelta(seconds=1)) * rnd.random()
    return Target("time", min(moment, end - timedelta(seconds=1)).isoformat(timespec="microseconds"))


def check_readable(repo) -> None:
    """Fail the drill while any snapshot cannot be read (``repo.snapshots()`` skipped it): the newest base backup,
    WAL or dump may be among them, and a real restore would silently start from an older one."""
    unreadable = getattr(repo, "unreadable_snapshots", {})
    if unreadable:
        raise Unprovable(
            f"{len(unreadable)} snapshot(s) in the repository cannot be read ("
            + "; ".join(f"{i[:12]}: {why}" for i, why in sorted(unreadable.items())[:3])
            + "): the newest base backup, WAL or dump may be among them, a real restore would silently start earlier"
        )


def current_window(repo, cluster: str, snapshots) -> tuple[Coverage, Window]:
    """The window a drill proves: the newest timeline's current window, from the oldest base backup whose WAL
    runs unbroken to the newest stored WAL on that timeline's path, to that WAL.

    Anything that makes it smaller than what the repository claims to hold fails the drill: a catalogue object
    that cannot be read (it may be the newest backup or WAL), a history file missing, a gap after the newest
    base backup (replay from it would stop there and silently lose the WAL after it), or newer WAL on another
    timeline than the one PostgreSQL's 'latest' follows. Returns the coverage too: the plan reuses it."""
    check_readable(repo)
    cov = Coverage(repo, cluster, snapshots)
    view = cov.view(cov.latest_timeline())
    if view.error:
        raise Unprovable(f"timeline {view.timeline}: {view.error}")
    if view.open_gaps:
        raise Unprovable(
            f"WAL gap inside the restorable window ({view.open_gaps[0]}): replay from the newest base backup stops "
            f"at {view.current.reach.describe()}"
        )
    if newer := cov.newer_elsewhere(view.timeline, view.current.reach):
        raise Unprovable(
            f"{newer.name} (archived {when(newer.mtime)}) is newer than anything timeline {view.timeline} (the "
            "highest, which PostgreSQL's 'latest' follows) can reach: restores would silently miss it"
        )
    return cov, view.current


def _logs(out_dir: Path) -> dict[str, str]:
    return {p.name: p.read_text(errors="replace") for p in out_dir.iterdir() if p.is_file()}


def _check_inputs(checks, input_dir: Path) -> None:
    (input_dir / "checks").mkdir(parents=True)
    for i, check in enumerate(checks):
        (input_dir / "checks" / f"{i:03d}.sql").write_text(check.sql)
        (input_dir / "checks" / f"{i:03d}.db").write_text(check.database)


def workspace_owner(path: Path) -> ProcessIdentity:
    """Who owns a workspace: the ProcessIdentity its ``owner.pid`` records (JSON), or, in a file written before
    start times were kept, the bare pid."""
    text = path.read_text()
    if text.strip().isdigit():
        return ProcessIdentity(int(text), None, None)
    return ProcessIdentity.from_dict(json.loads(text))


def new_workspace(cache: Path, drill_id: str) -> Path:
    """A private directory for one drill. Workspaces of drills whose process is gone (SIGKILL, OOM) hold a clear
    copy of the database: they are removed here, at the next drill. The owner is a pid with its start time and
    boot id, so an unrelated process that got the dead drill's pid does not keep its workspace alive."""
    root = cache / "work"
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    for old in root.iterdir():
        try:
            owner = workspace_owner(old / OWNER_FILE)
        except (OSError, ValueError, KeyError, TypeError):
            continue  # being created right now, or not ours to judge
        if not is_alive(owner):
            shutil.rmtree(old, ignore_errors=True)
    work = root / drill_id
    work.mkdir(mode=0o700)
    write_atomic(work / OWNER_FILE, json.dumps(current().to_dict()))
    return work


def newest_dump(snapshots, cluster: str, database: str | None):
    """The newest ``dump`` snapshot of ``cluster`` in which ``database`` succeeded, or None."""
    dumps = [s for s in snapshots if s.kind == kinds.DUMP and s.source == cluster]
    good = [s for s in dumps if s.meta.get("databases", {}).get(database, {}).get("status") == "ok"]
    return max(good, key=lambda s: s.time, default=None)


def _make_postgres_writable(path: Path, uid: int, gid: int) -> None:
    path.mkdir(exist_ok=True)
    if os.geteuid() == 0:
        os.chown(path, uid, gid)


class Drill:
    def __init__(
        self,
        repo,
        policy,
        *,
        cache_dir: Path | None = None,
        keep: bool = False,
        before_start: Callable[[Path], None] | None = None,
        log=None,
        phase: PhaseHook = _no_phases,
    ) -> None:
        self.repo = repo
        self.policy = policy
        self.cache = cache_dir or default_cache_dir(policy)
        self.keep = keep
        self.before_start = before_start  # sees the workspace just before the container starts (mutation tests)
        self.log = log or (lambda m: None)
        self.phase = phase
        self.drill = policy.drill

    def _history_path(self) -> Path:
        return self.cache / "history.sqlite"

    def _finish(self, result: DrillResult, verdict: Verdict, work: Path) -> DrillResult:
        # A drill that never restored measured no recovery time: no RTO (not 0), and no place in the trend.
        result.rto_seconds = round(sum(result.phases.values()), 2) if "restore" in result.phases else None
        judge_bounds(
            verdict,
            rto_seconds=result.rto_seconds,
            rpo_seconds=result.rpo_seconds,
            max_rto_minutes=self.drill.max_rto_minutes,
            max_rpo_minutes=self.drill.max_rpo_minutes,
        )
        result.failures, result.proofs, result.checks = verdict.failures, verdict.proofs, verdict.checks
        result.passed = verdict.passed
        if self.keep:
            result.kept = str(work)
        history.record(self._history_path(), self.repo.config.id, result.to_dict())
        return result

    def _run(
        self, result: DrillResult, body: Callable[[Path, object, object, tuple[int, int]], Verdict]
    ) -> DrillResult:
        work = new_workspace(self.cache, result.id)
        try:
            self.phase("prepare")
            major = self.policy.cluster(result.cluster).pg_version
            image = drill_image(self.cache, major, policy_image=self.drill.image, log=self.log)
            with detect_engine(self.drill.engine, self.cache) as engine:
                engine.prepare(image)  # docker's one-time import is not part of the RTO
                result.engine = engine.name
                verdict = body(work, engine, image, engine.user_ids(image))
        except (DrillUnavailable, UsageError):
            raise  # no drill could run (exit 11, never on the host instead), or the operator's input was wrong
        except QfError as e:
            verdict = Verdict(failures=[e.message])  # e.g. corrupt data, target unreachable: the drill failed
        finally:
            if not self.keep:
                shutil.rmtree(work, ignore_errors=True)
        return self._finish(result, verdict, work)

    def _container(self, engine, image, work: Path, template: str) -> tuple[ContainerResult, float]:
        script = render(
            template,
            pgbin=image.pg_bin_dir,
            amcheck=self.drill.amcheck,
            read_all=self.drill.read_all_tables,
            start_timeout=int(self.drill.timeout_minutes * 60),
        )
        spec = ContainerSpec.from_policy(
            self.drill, image, ["bash", "-c", script],
            mounts=[Mount(work / "data", "/drill/data"), Mount(work / "wal", CONTAINER_WAL, read_only=True),
                    Mount(work / "input", "/drill/input", read_only=True), Mount(work / "out", "/drill/out")],
        )  # fmt: skip
        if self.before_start:
            self.before_start(work)
        launched = time.time()
        return engine.run(spec), launched

    # -- point-in-time drill -------------------------------------------------------------------------------
    def pitr(self, cluster: str | None = None, target_spec: str = "random", *, seed: int | None = None) -> DrillResult:
        cluster = cluster or self.drill.cluster
        snapshots = self.repo.snapshots()
        rnd = random.Random(seed)
        result = DrillResult(secrets.token_hex(6), "pitr", cluster, utc_now(), DrillTarget(target_spec))

        def body(work: Path, engine, image, ids: tuple[int, int]) -> Verdict:
            self.phase("plan")
            coverage, window = current_window(self.repo, cluster, snapshots)
            target = choose_target(target_spec, window, rnd)
            result.target = DrillTarget(
                target_spec,
                target.kind,
                time=target.time.isoformat() if target.time else None,
                lsn=target.value if target.kind == "lsn" else None,
            )
            plan = plan_restore(self.repo, cluster, target, snapshots=snapshots, coverage=coverage)
            staged = plan  # exactly what `qfbackup restore` would stage: the drill tests the real thing
            result.snapshot_id, result.wal_files = plan.backup.id, len(staged.wal_files)
            newest = window.reach.end_time.timestamp()  # the newest point replay can reach: RPO counts from it
            result.rpo_seconds = round(time.time() - newest, 1)
            if target.time:
                result.target_to_newest_wal_seconds = round(newest - target.time.timestamp(), 1)
            elif target.kind == "latest":
                result.target_to_newest_wal_seconds = 0.0
            uid, gid = ids
            restored = restore_local(
                self.repo,
                staged,
                work / "data",
                action="pause",
                restore_command=f"cp {CONTAINER_WAL}/%f %p",
                progress=self.phase("restore", plan.base_bytes),
            )
            shutil.move(restored.spool, work / "wal")
            result.phases = {"fetch": round(restored.fetch_seconds, 2), "restore": round(restored.write_seconds, 2)}
            _check_inputs(self.drill.checks_for(cluster), work / "input")
            _make_postgres_writable(work / "out", uid, gid)
            self.phase("replay and checks")
            run, launched = self._container(engine, image, work, PITR_SCRIPT)
            facts = parse(run.stdout)
            logs = _logs(work / "out")
            result.phases["replay"] = round(facts.times.get("replay", time.time()) - launched, 2)
            if "checks" in facts.times and "promoted" in facts.times:
                result.phases["checks"] = round(facts.times["checks"] - facts.times["promoted"], 2)
            newest_staged = next((n for n in reversed(staged.wal_files) if len(n) == 24), None)
            verdict = judge_replay(
                target,
                facts,
                logs.get("server.log", ""),
                backup_stop_lsn=plan.backup.meta["stop_lsn"],
                newest_segment=newest_staged,
            )
            if not verdict.failures:
                # For "latest", the target moment is when the newest replayable WAL was archived.
                moment = target.time or window.reach.end_time
                judge_checks(verdict, facts, self.drill.checks_for(cluster), target_time=moment, logs=logs)
                judge_completion(verdict, run, facts, amcheck=self.drill.amcheck, read_all=self.drill.read_all_tables)
            return verdict

        return self._run(result, body)

    # -- logical dump drill --------------------------------------------------------------------------------
    def dump(self, cluster: str | None = None, database: str | None = None) -> DrillResult:
        cluster = cluster or self.drill.cluster
        snapshots = self.repo.snapshots()
        result = DrillResult(secrets.token_hex(6), "dump", cluster, utc_now(), DrillTarget("dump"))

        def body(work: Path, engine, image, ids: tuple[int, int]) -> Verdict:
            check_readable(self.repo)  # the newest dump may be the unreadable one: never drill an older instead
            db = database or next(iter(self.policy.cluster(cluster).databases), None)
            snap = newest_dump(snapshots, cluster, db)
            if snap is None:
                return Verdict(failures=[f"no successful dump of {cluster}/{db} in the repository"])
            result.snapshot_id = snap.id
            snap_time = parse_time(snap.time)
            result.target = DrillTarget("dump", "dump", time=snap_time.isoformat(), database=db)
            result.rpo_seconds = round(time.time() - snap_time.timestamp(), 1)
            uid, gid = ids
            t0 = time.monotonic()
            checks = [c for c in self.drill.checks_for(cluster) if c.database == db]
            _check_inputs(checks, work / "input")
            wanted = ((f"db/{db}.dump", "db.dump"), ("globals.sql", "globals.sql"))
            streams = [(snap.streams[name], local) for name, local in wanted if name in snap.streams]
            progress = self.phase("fetch", sum(ref.size for ref, _ in streams))
            for ref, local in streams:
                with open(work / "input" / local, "wb") as f:
                    for chunk in self.repo.read_stream(ref, progress=progress):
                        f.write(chunk)
            result.phases = {"fetch": round(time.monotonic() - t0, 2)}
            for d in ("data", "out", "wal"):
                _make_postgres_writable(work / d, uid, gid)
            self.phase("restore and checks")
            run, launched = self._container(engine, image, work, DUMP_SCRIPT)
            facts = parse(run.stdout)
            logs = _logs(work / "out")
            result.phases["restore"] = round(facts.times.get("replay", time.time()) - launched, 2)
            if "checks" in facts.times:
                result.phases["checks"] = round(facts.times["checks"] - facts.times["replay"], 2)
            verdict = judge_dump(
                facts,
                logs,
                checks,
                snapshot=snap.short_id,
                database=db,
                target_time=parse_time(snap.time),
            )
            judge_completion(verdict, run, facts, amcheck=self.drill.amcheck, read_all=self.drill.read_all_tables)
            return verdict

        return self._run(result, body)
