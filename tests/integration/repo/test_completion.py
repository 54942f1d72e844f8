"""Shell completion through the real CLI, as bash and zsh ask for it (``_QFBACKUP_COMPLETE``), against real
repositories: commands, cluster names from the policy and the repository, snapshot ids of the right kind; and
nothing at all (no candidate, no error, no prompt, no wait past the deadline) when nothing can be looked up."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from qfbackup.cli.complete import DEADLINE_S
from qfbackup.output.humanize import when
from qfbackup.repo.keys import Credential
from qfbackup.repo.repository import Repository
from qfbackup.repo.store import open_store
from tests.integration.ingest.conftest import Ingest, make_ingest
from tests.integration.repo.conftest import PASSPHRASE

#: a Python start, the imports and the repository lookup, on a loaded 2-core machine
SLACK_S = 15.0


@dataclass
class Completion:
    returncode: int
    values: list[str]
    helps: dict[str, str]  # value -> help (zsh shows it; bash has none)
    stderr: str
    seconds: float


def complete(env: dict[str, str], line: str, *, shell: str = "bash", stdin: int | None = None) -> Completion:
    """What ``shell`` gets for TAB at the end of ``line`` (a trailing space: a new, empty word)."""
    words = line.split()
    cword = len(words) if line.endswith(" ") else len(words) - 1
    env = {**env, "_QFBACKUP_COMPLETE": f"{shell}_complete", "COMP_WORDS": line, "COMP_CWORD": str(cword)}
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "qfbackup"],
        env=env,
        stdin=subprocess.DEVNULL if stdin is None else stdin,
        capture_output=True,
        text=True,
        timeout=DEADLINE_S + SLACK_S,
        start_new_session=True,  # no controlling terminal: a prompt could only go to stdin/stderr, seen below
    )
    seconds = time.monotonic() - start
    lines = proc.stdout.splitlines()
    if shell == "bash":
        values, helps = [ln.split(",", 1)[1] for ln in lines if ln], {}
    else:  # zsh: type, value, help per candidate
        triples = [lines[i : i + 3] for i in range(0, len(lines) - len(lines) % 3, 3)]
        values, helps = [v for _, v, _ in triples], {v: h for _, v, h in triples}
    return Completion(proc.returncode, values, helps, proc.stderr, seconds)


def offers(env: dict[str, str], line: str) -> list[str]:
    """The candidates, after checking that completion stayed quiet and succeeded."""
    c = complete(env, line)
    assert (c.returncode, c.stderr) == (0, ""), (line, c)
    return c.values


def snapshots(repo: str, passphrase: str = PASSPHRASE):
    """The repository's snapshots read through the library, not through any output of the CLI."""
    return Repository.open(open_store(repo), Credential.passphrase(passphrase)).snapshots()


def unique_prefix(of: str, other: str, at_least: int = 6) -> str:
    """The shortest prefix of ``of`` (``at_least`` characters or more) that ``other`` does not start with."""
    return next(of[:n] for n in range(at_least, len(of) + 1) if not other.startswith(of[:n]))


def test_commands_subcommands_and_options_complete(cli):
    assert offers(cli.env, "qfbackup wal p") == ["pull"]
    assert sorted(offers(cli.env, "qfbackup re")) == ["repo", "restore"]
    assert offers(cli.env, "qfbackup restore dump --no-") == ["--no-globals"]
    assert offers(cli.env, "qfbackup restore --action pro") == ["promote"]
    assert offers(cli.env, "qfbackup snapshot list --kind wal") == ["wal", "wal-quarantine"]


def test_a_short_id_completes_to_the_full_id_of_its_kind(cli, tmp_path):
    data = tmp_path / "models"
    data.mkdir()
    (data / "weights.bin").write_bytes(os.urandom(4096))
    cli.run("snapshot", "create", str(data))
    cli.run("snapshot", "create", str(data), "--tag", "again")
    first, second = sorted(snapshots(cli.repo), key=lambda s: s.time)
    short = unique_prefix(second.id, first.id)
    assert offers(cli.env, f"qfbackup show {short}") == [second.id]
    assert offers(cli.env, f"qfbackup snapshot restore {short}") == [second.id]
    # a file set is not a base backup or a dump: those options offer only their own kind
    assert offers(cli.env, f"qfbackup restore --backup {short}") == []
    assert offers(cli.env, f"qfbackup restore dump --cluster main --db x --snapshot {short}") == []
    assert offers(cli.env, "qfbackup show ") == [second.id, first.id]  # newest first
    assert offers(cli.env, f"qfbackup --repo {cli.repo} show {unique_prefix(first.id, second.id, 4)}") == [first.id]
    zsh = complete(cli.env, f"qfbackup show {short}", shell="zsh")
    assert zsh.helps == {second.id: f"file-set snapshot of {data}, {when(second.time)}"}, zsh


def test_key_ids_complete_from_the_repository(cli, tmp_path):
    cli.run("key", "add", "--keyfile", str(tmp_path / "ops-2.key"), "--label", "ops-2")
    keys = {k["id"]: k for k in json.loads(cli.run("--json", "key", "list").stdout)["keys"]}
    added = next(i for i, k in keys.items() if k["label"] == "ops-2")
    other = next(i for i in keys if i != added)
    assert sorted(offers(cli.env, "qfbackup key remove ")) == sorted(keys)
    assert offers(cli.env, f"qfbackup key remove {unique_prefix(added, other, 3)}") == [added]
    zsh = complete(cli.env, f"qfbackup key remove {added}", shell="zsh")
    assert zsh.helps == {added: "keyfile ops-2"}, zsh


def test_nothing_to_look_up_offers_nothing_and_says_nothing(cli, tmp_path):
    no_credential = {k: v for k, v in cli.env.items() if k != "QFBACKUP_PASSPHRASE_FILE"}
    wrong = tmp_path / "wrong-passphrase"
    wrong.write_text("not-the-passphrase\n")
    wrong.chmod(0o600)
    broken_policy = tmp_path / "policy.toml"
    broken_policy.write_text("[repository\npath = ")
    cases = {
        "no repository": {**cli.env, "QFBACKUP_REPO": str(tmp_path / "nothing-here")},
        "no credential": no_credential,
        "a wrong passphrase": {**cli.env, "QFBACKUP_PASSPHRASE_FILE": str(wrong)},
        "a broken policy": {**cli.env, "QFBACKUP_POLICY": str(broken_policy)},
    }
    master, slave = os.openpty()  # stdin is the user's terminal while the shell completes
    try:
        for why, env in cases.items():
            for line in ("qfbackup show ", "qfbackup list --cluster ", "qfbackup restore --backup "):
                c = complete(env, line, stdin=slave)
                assert (c.returncode, c.values, c.stderr) == (0, [], ""), (why, line, c)
                assert c.seconds < DEADLINE_S + SLACK_S, (why, line, c)
        os.set_blocking(master, False)
        try:
            echoed = os.read(master, 4096)
        except BlockingIOError:
            echoed = b""
        assert echoed == b"", f"completion wrote to the terminal: {echoed!r}"  # never a passphrase prompt
    finally:
        os.close(master)
        os.close(slave)


def test_a_hung_s3_endpoint_is_given_up_at_the_deadline(cli):
    """An endpoint that accepts connections and never answers: without the deadline this waits for botocore's
    read timeout and every retry; completion gives up after DEADLINE_S."""
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(16)  # never accepted: connects succeed, requests hang
        env = {
            **cli.env,
            "QFBACKUP_REPO": "s3://completion/repo",
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{hung.getsockname()[1]}",
            "AWS_ACCESS_KEY_ID": "AK",
            "AWS_SECRET_ACCESS_KEY": "SK",
        }
        c = complete(env, "qfbackup show ")
    assert (c.returncode, c.values, c.stderr) == (0, [], ""), c
    assert DEADLINE_S <= c.seconds < DEADLINE_S + SLACK_S, c


@pytest.fixture
def site(tmp_path, pg_cluster, sshd) -> Ingest:
    """The ingest site (cluster ``main`` behind sshd) with one real dump, and a policy that also names a cluster
    ``ledger`` of which the repository holds nothing."""
    if pg_cluster.psql("select 1 from pg_database where datname = 'signalcartel'").strip() != "1":
        pg_cluster.psql("create database signalcartel")
    ledger = f'\n[clusters.ledger]\nhost = "vms"\nport = {pg_cluster.port + 1}\n'
    site = make_ingest(tmp_path, sshd, {"main": pg_cluster}, databases={"main": ["signalcartel"]}, extra=ledger)
    site.cli.run("backup", "dump", "--cluster", "main")
    return site


def test_clusters_complete_from_the_policy_and_the_repository(site):
    env = site.cli.env
    assert offers(env, "qfbackup list --cluster m") == ["main"]
    assert offers(env, "qfbackup wal status --cluster le") == ["ledger"]
    assert offers(env, "qfbackup backup dump --cluster ") == ["ledger", "main"]
    assert offers(env, "qfbackup restore --host ") == ["vms"]
    assert complete(env, "qfbackup restore --host v", shell="zsh").helps == {"vms": "127.0.0.1"}
    zsh = complete(env, "qfbackup restore --cluster ", shell="zsh")
    assert zsh.helps == {"ledger": "in the policy", "main": "in the policy, in the repository"}, zsh
    # after a disaster only the repository is left: its snapshots still name the cluster
    repo, passphrase = site.cli.repo, Path(site.cli.passfile).read_text().strip()
    bare = {k: v for k, v in env.items() if k != "QFBACKUP_POLICY"}
    bare.update(QFBACKUP_REPO=repo, QFBACKUP_PASSPHRASE_FILE=str(site.cli.passfile))
    assert offers(bare, "qfbackup restore --cluster ") == ["main"]
    (dump,) = [s for s in snapshots(repo, passphrase) if s.kind == "dump"]
    assert offers(env, f"qfbackup restore dump --cluster main --db signalcartel --snapshot {dump.id[:5]}") == [dump.id]
    assert offers(bare, f"qfbackup show {dump.id[:5]}") == [dump.id]
    assert offers(env, f"qfbackup restore --backup {dump.id[:5]}") == []
