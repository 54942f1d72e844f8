"""The master secret, stored only wrapped: by a passphrase (scrypt) and/or by a key file.

Each wrapping is one object ``keys/<id>``. Adding, listing, removing or changing a wrapping never touches data:
the master secret, and so every chunk, stays the same. A key file is a 0600 file holding 32 random bytes; it is
the escrow copy an operator keeps offline (docs/runbooks/lost-key.md).
"""

from __future__ import annotations

import base64
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from qfbackup.common.secretfile import read_secret_file
from qfbackup.common.units import utc_now
from qfbackup.errors import AuthenticationFailed, KeyRefused, UsageError
from qfbackup.repo.crypto import MASTER_SECRET_LEN, hkdf, seal, unseal
from qfbackup.repo.store import Store

KEYFILE_MAGIC = "QFBACKUP-KEYFILE-V1"
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**16, 8, 1


@dataclass(frozen=True)
class KeyInfo:
    id: str
    kind: str  # "passphrase" | "keyfile"
    label: str
    created: str
    host: str


@dataclass(frozen=True)
class Credential:
    """What the operator supplies to unlock: a passphrase or the secret read from a key file."""

    kind: str
    secret: bytes

    def __repr__(self) -> str:  # never print the secret, even in a traceback
        return f"Credential(kind={self.kind!r}, secret=<redacted>)"

    @classmethod
    def passphrase(cls, text: str) -> Credential:
        if not text:
            raise UsageError("the passphrase is empty")
        return cls("passphrase", text.encode())

    @classmethod
    def from_keyfile(cls, path: str | os.PathLike) -> Credential:
        return cls("keyfile", read_keyfile(Path(path)))


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def _unb64(s: str) -> bytes:
    return base64.b64decode(s)


def write_keyfile(path: Path) -> bytes:
    """Create a new key file (0600, never overwriting) and return its secret."""
    secret = os.urandom(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise UsageError(f"{path} already exists", hint="choose a new file: a key file is never overwritten") from None
    except OSError as e:
        raise UsageError(f"cannot create key file {path}: {e.strerror}") from None
    with os.fdopen(fd, "w") as f:
        f.write(f"{KEYFILE_MAGIC}\n{_b64(secret)}\n")
    return secret


def read_keyfile(path: Path) -> bytes:
    lines = read_secret_file(path, "key file").split()
    if len(lines) != 2 or lines[0] != KEYFILE_MAGIC:
        raise UsageError(f"{path} is not a qfbackup key file")
    return _unb64(lines[1])


def _wrapping_key(cred: Credential, kdf: dict) -> bytes:
    salt = _unb64(kdf["salt"])
    if kdf["name"] == "scrypt":
        return Scrypt(salt=salt, length=32, n=kdf["n"], r=kdf["r"], p=kdf["p"]).derive(cred.secret)
    if kdf["name"] == "hkdf-sha256":
        return hkdf(cred.secret, b"qfbackup/v1/keyfile-wrap", salt=salt)
    raise UsageError(f"unknown key derivation {kdf['name']!r}")


def _aad(repo_id: str, doc: dict) -> bytes:
    """Binds the wrap to its repository and to every other field of the key object (label, kdf...)."""
    meta = {k: v for k, v in doc.items() if k != "wrapped"}
    return f"qfbackup/v1/key/{repo_id}/".encode() + json.dumps(meta, sort_keys=True, separators=(",", ":")).encode()


def add_key(store: Store, repo_id: str, master: bytes, cred: Credential, label: str = "") -> KeyInfo:
    """Wrap the master secret with a new credential and store it as ``keys/<id>``."""
    key_id = os.urandom(8).hex()
    if cred.kind == "passphrase":
        kdf = {"name": "scrypt", "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P, "salt": _b64(os.urandom(16))}
    else:
        kdf = {"name": "hkdf-sha256", "salt": _b64(os.urandom(16))}
    info = KeyInfo(key_id, cred.kind, label, utc_now(), socket.gethostname())
    doc = {
        "version": 1,
        "id": key_id,
        "kind": cred.kind,
        "label": label,
        "created": info.created,
        "host": info.host,
        "kdf": kdf,
    }
    doc["wrapped"] = _b64(seal(_wrapping_key(cred, kdf), master, _aad(repo_id, doc)))
    store.put(f"keys/{key_id}", json.dumps(doc, indent=1).encode())
    return info


def _load_docs(store: Store) -> list[dict]:
    # A damaged key object opens nothing; verify reports it.
    return [json.loads(store.get(o.name)) for o in store.list("keys/") if check_key_object(store, o.name) is None]


REQUIRED_FIELDS = ("id", "kind", "created", "kdf", "wrapped")


def check_key_object(store: Store, name: str) -> str | None:
    """Why a key object is unusable, or None. (Whether it opens needs its credential, which verify lacks.)"""
    try:
        d = json.loads(store.get(name))
    except ValueError:
        return "damaged key object (not JSON)"
    if not isinstance(d, dict) or any(f not in d for f in REQUIRED_FIELDS):
        return "damaged key object (fields missing)"
    if f"keys/{d['id']}" != name:
        return "key object does not match its name"
    return None


def list_keys(store: Store) -> list[KeyInfo]:
    docs = _load_docs(store)
    return sorted(
        (KeyInfo(d["id"], d["kind"], d.get("label", ""), d["created"], d.get("host", "")) for d in docs),
        key=lambda k: k.created,
    )


def unlock(store: Store, repo_id: str, cred: Credential) -> tuple[bytes, str]:
    """Return (master secret, id of the key that opened it), or refuse clearly."""
    docs = [d for d in _load_docs(store) if d["kind"] == cred.kind]
    for d in docs:
        try:
            master = unseal(_wrapping_key(cred, d["kdf"]), _unb64(d["wrapped"]), _aad(repo_id, d))
        except (AuthenticationFailed, KeyError, ValueError, TypeError, UsageError):
            continue  # not this credential's key, or a damaged key object (verify names it)
        if len(master) == MASTER_SECRET_LEN:
            return master, d["id"]
    what = "passphrase" if cred.kind == "passphrase" else "key file"
    raise KeyRefused(
        f"wrong {what}: it opens none of the repository's {len(docs)} {what} key(s) (or they are damaged)",
        hint="check QFBACKUP_PASSPHRASE_FILE / repository.passphrase_file, or use the escrow key file",
    )


def remove_key(store: Store, key_id: str, current_id: str) -> None:
    """Remove a wrapping; refuse to remove the one in use or the last one (that would lose the data)."""
    ids = [k.id for k in list_keys(store)]
    if key_id not in ids:
        raise UsageError(f"no key with id {key_id}")
    if key_id == current_id:
        raise UsageError("refusing to remove the key you unlocked with", hint="unlock with another key first")
    if len(ids) == 1:
        raise UsageError("refusing to remove the last key: the repository would become unreadable")
    store.delete(f"keys/{key_id}")
