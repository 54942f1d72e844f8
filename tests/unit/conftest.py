import pytest

from qfbackup.repo import keys as keys_mod
from qfbackup.repo.keys import Credential
from qfbackup.repo.repository import Repository
from qfbackup.repo.store_mem import MemStore


@pytest.fixture(autouse=True)
def fast_scrypt(monkeypatch):
    """Unit tests need correctness, not brute-force resistance: a cheap scrypt keeps them fast."""
    monkeypatch.setattr(keys_mod, "SCRYPT_N", 2**10)


@pytest.fixture
def mem_repo():
    store = MemStore()
    return Repository.init(store, Credential.passphrase("correct horse"), chunk_avg=16 * 1024, pack_size=256 * 1024)
