import os

import pytest

from qfbackup.errors import KeyRefused, UsageError
from qfbackup.repo.keys import Credential, list_keys, read_keyfile, remove_key, write_keyfile
from qfbackup.repo.repository import Repository


def test_wrong_passphrase_refused(mem_repo):
    with pytest.raises(KeyRefused, match="wrong passphrase"):
        Repository.open(mem_repo.store, Credential.passphrase("wrong"))


def test_change_passphrase_keeps_data_and_retires_old(mem_repo):
    import io

    with mem_repo.writer() as w:
        ref = w.store_stream(io.BytesIO(b"payload" * 1000))
        from qfbackup.repo.catalog import Snapshot

        snap = w.commit(Snapshot(kind="stream", source="t", streams={"d": ref}))
    mem_repo.change_passphrase(Credential.passphrase("new one"))
    with pytest.raises(KeyRefused):
        Repository.open(mem_repo.store, Credential.passphrase("correct horse"))
    repo = Repository.open(mem_repo.store, Credential.passphrase("new one"))
    assert b"".join(repo.read_stream(repo.snapshot(snap.id).streams["d"])) == b"payload" * 1000


def test_keyfile_unlocks_and_is_0600(mem_repo, tmp_path):
    path = tmp_path / "escrow.key"
    mem_repo.add_key(Credential("keyfile", write_keyfile(path)), label="escrow")
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    repo = Repository.open(mem_repo.store, Credential.from_keyfile(path))
    assert repo.config.id == mem_repo.config.id
    os.chmod(path, 0o644)
    with pytest.raises(UsageError, match="readable by group or others") as err:
        read_keyfile(path)
    assert "chmod 600" in err.value.hint


def test_cannot_remove_current_or_last_key(mem_repo):
    with pytest.raises(UsageError):
        remove_key(mem_repo.store, mem_repo.key_id, mem_repo.key_id)
    other = mem_repo.add_key(Credential.passphrase("second"))
    remove_key(mem_repo.store, other.id, mem_repo.key_id)
    assert [k.id for k in list_keys(mem_repo.store)] == [mem_repo.key_id]


def test_credential_repr_hides_secret():
    assert "hunter2" not in repr(Credential.passphrase("hunter2"))
