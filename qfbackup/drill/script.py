"""The script a drill runs inside its container, and the parser of what it prints.

The container sees only its mounts: ``/drill/data`` (the restored data directory, or an empty one for a dump
drill), ``/drill/wal`` (the staged WAL, read-only), ``/drill/input`` (checks and dump files, read-only) and
``/drill/out`` (server log). The script starts PostgreSQL, waits until replay stopped (paused at the target, or
promoted at the end of the WAL) or the server died, reports the replay position, promotes, then runs the checks.
It prints one ``QFB <kind> <fields...>`` line per fact; everything else it prints is ignored. The verdict is made
on the host from those facts and the server log, never inside the container.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

NULL = "__QFB_NULL__"

_COMMON = r"""
set -u
PGBIN={pgbin}
D=/drill/data
LOG=/drill/out/server.log
export PGTZ=UTC PGDATESTYLE=ISO PGHOST=/tmp PGPORT=5432 PGUSER=postgres
PSQL="$PGBIN/psql -AtX -v ON_ERROR_STOP=1 -P null={null}"
now() {{ date +%s.%N; }}
fact() {{ echo "QFB $*"; }}
start_server() {{
  $PGBIN/pg_ctl -D "$D" -l "$LOG" -w -t {start_timeout} \
    -o "-k /tmp -c listen_addresses='' -c port=5432 -c archive_mode=off" start >/dev/null 2>&1
}}
databases() {{ $PSQL -d postgres -c "select datname from pg_database where datallowconn and not datistemplate"; }}
run_checks() {{
  for f in /drill/input/checks/*.sql; do
    [ -e "$f" ] || continue
    n=$(basename "$f" .sql)
    db=$(cat "/drill/input/checks/$n.db")
    v=$($PSQL -d "$db" -f "$f" 2>/drill/out/check-$n.err)
    rc=$?
    [ -n "$v" ] || v={null}  # no row at all is no value: NULL, never an empty string that passes "is not null"
    fact CHECK "$n" "$rc" "${{v%%$'\n'*}}"
  done
  if [ "{amcheck}" = 1 ]; then
    for db in $(databases); do
      out=$($PSQL -d "$db" -c "create extension if not exists amcheck" -c \
        "select count(bt_index_check(c.oid, true)) from pg_index i join pg_class c on c.oid = i.indexrelid
         join pg_am a on a.oid = c.relam where a.amname = 'btree' and c.relpersistence <> 't'
         and i.indisready and i.indisvalid" 2>/drill/out/amcheck-$db.err)
      rc=$?
      fact AMCHECK "$db" "$rc" "${{out##*$'\n'}}"
    done
  fi
  if [ "{read_all}" = 1 ]; then
    for db in $(databases); do
      $PGBIN/pg_dump -d "$db" -f /dev/null 2>/drill/out/readall-$db.err
      fact READALL "$db" $?
    done
  fi
}}
"""

PITR_SCRIPT = (
    _COMMON
    + r"""
fact T start $(now)
if ! start_server; then fact T replay $(now); fact SERVER failed-to-start; exit 0; fi
fact T started $(now)
state=""
while :; do
  state=$($PSQL -d postgres -c "select case when pg_is_in_recovery() then pg_get_wal_replay_pause_state()
                                 else 'promoted' end" 2>/dev/null)
  case "$state" in paused|promoted) break ;; esac
  if ! $PGBIN/pg_ctl -D "$D" status >/dev/null 2>&1; then fact T replay $(now); fact SERVER died; exit 0; fi
  sleep 0.1
done
fact T replay $(now)
fact STATE "$state"
fact REPLAY "$($PSQL -d postgres -c "select coalesce(pg_last_wal_replay_lsn()::text, '{null}') || ' ' ||
  coalesce(to_char(pg_last_xact_replay_timestamp() at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"'),
  '{null}') || ' ' || (select timeline_id from pg_control_checkpoint())")"
if [ "$state" = paused ]; then
  $PSQL -d postgres -c "select pg_promote(true, 120)" >/dev/null || {{ fact SERVER promote-failed; exit 0; }}
fi
fact T promoted $(now)
run_checks
fact T checks $(now)
$PGBIN/pg_ctl -D "$D" -m fast -w stop >/dev/null 2>&1
fact DONE
"""
)

DUMP_SCRIPT = (
    _COMMON
    + r"""
fact T start $(now)
$PGBIN/initdb -D "$D" -U postgres --auth=trust >/drill/out/initdb.log 2>&1 || {{ fact SERVER initdb-failed; exit 0; }}
start_server || {{ fact SERVER failed-to-start; exit 0; }}
fact T started $(now)
if [ -e /drill/input/globals.sql ]; then
  $PGBIN/psql -AtX -d postgres -f /drill/input/globals.sql >/drill/out/globals.log 2>&1
fi
$PGBIN/pg_restore --create -d postgres --no-password /drill/input/db.dump >/drill/out/pg_restore.log 2>&1
fact RESTORE $?
fact T replay $(now)
run_checks
fact T checks $(now)
$PGBIN/pg_ctl -D "$D" -m fast -w stop >/dev/null 2>&1
fact DONE
"""
)


def render(template: str, *, pgbin: str, amcheck: bool, read_all: bool, start_timeout: int) -> str:
    return template.format(
        pgbin=shlex.quote(pgbin), null=NULL, amcheck=int(amcheck), read_all=int(read_all),
        start_timeout=int(start_timeout),
    )  # fmt: skip


@dataclass
class Facts:
    """What the container reported."""

    times: dict[str, float] = field(default_factory=dict)
    server: str | None = None  # failed-to-start, died, promote-failed, initdb-failed
    state: str | None = None  # paused | promoted
    replay_lsn: str | None = None
    replay_time: str | None = None
    timeline: int | None = None
    restore_rc: int | None = None
    checks: dict[str, tuple[int, str | None]] = field(default_factory=dict)
    amcheck: dict[str, tuple[int, str]] = field(default_factory=dict)
    read_all: dict[str, int] = field(default_factory=dict)
    done: bool = False


def parse(stdout: str) -> Facts:
    f = Facts()
    for line in stdout.splitlines():
        if not line.startswith("QFB "):
            continue
        kind, _, rest = line[4:].partition(" ")
        parts = rest.split(" ")
        if kind == "T":
            f.times[parts[0]] = float(parts[1])
        elif kind == "SERVER":
            f.server = rest
        elif kind == "STATE":
            f.state = rest
        elif kind == "REPLAY" and len(parts) == 3:
            f.replay_lsn = None if parts[0] == NULL else parts[0]
            f.replay_time = None if parts[1] == NULL else parts[1]
            f.timeline = int(parts[2])
        elif kind == "RESTORE":
            f.restore_rc = int(parts[0])
        elif kind == "CHECK":
            value = " ".join(parts[2:])
            f.checks[parts[0]] = (int(parts[1]), None if value == NULL else value)
        elif kind == "AMCHECK":
            f.amcheck[parts[0]] = (int(parts[1]), " ".join(parts[2:]))
        elif kind == "READALL":
            f.read_all[parts[0]] = int(parts[1])
        elif kind == "DONE":
            f.done = True
    return f
