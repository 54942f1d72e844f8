"""Keys derived from the master secret, and the AEAD sealing every stored byte goes through.

One 64-byte random master secret per repository. From it, HKDF derives the encryption key (AES-256-GCM), the MAC
key (keyed BLAKE3: chunk ids reveal nothing about content without it) and the chunker seed (so chunk boundaries do
not fingerprint known files either). The master secret itself is only ever stored wrapped (see keys.py).

Nonces are 96 random bits per sealed object. With at most ~2**32 objects per key the chance of a collision stays
below 2**-32, far above any repository this tool will hold (~320 TiB at the ~80 KiB mean chunk size).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import blake3
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from qfbackup.errors import AuthenticationFailed

MASTER_SECRET_LEN = 64
NONCE_LEN = 12
TAG_LEN = 16
ID_LEN = 32


def hkdf(secret: bytes, info: bytes, length: int = 32, salt: bytes | None = None) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(secret)


def seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """nonce || ciphertext || tag, bound to ``aad``."""
    nonce = os.urandom(NONCE_LEN)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def unseal(key: bytes, sealed: bytes | memoryview, aad: bytes) -> bytes:
    if len(sealed) < NONCE_LEN + TAG_LEN:
        raise AuthenticationFailed("sealed data too short")
    try:
        return AESGCM(key).decrypt(bytes(sealed[:NONCE_LEN]), bytes(sealed[NONCE_LEN:]), aad)
    except InvalidTag:
        raise AuthenticationFailed("authentication tag mismatch") from None


def content_hash(data: bytes | memoryview) -> str:
    """Unkeyed BLAKE3 of stored (already encrypted) bytes: names packs, indexes and snapshots."""
    return blake3.blake3(data, max_threads=blake3.blake3.AUTO).hexdigest()


@dataclass(frozen=True)
class RepoKeys:
    """The working keys of an unlocked repository."""

    enc_key: bytes
    mac_key: bytes
    chunker_seed: int

    @classmethod
    def from_master(cls, master: bytes) -> RepoKeys:
        seed = int.from_bytes(hkdf(master, b"qfbackup/v1/chunker-seed", 8), "little") & (2**63 - 1)
        return cls(
            enc_key=hkdf(master, b"qfbackup/v1/aes-256-gcm"),
            mac_key=hkdf(master, b"qfbackup/v1/blake3-mac"),
            chunker_seed=seed,
        )

    def chunk_id(self, plaintext: bytes | memoryview) -> bytes:
        return blake3.blake3(plaintext, key=self.mac_key).digest()

    def stream_hasher(self) -> blake3.blake3:
        """Keyed hash of a whole stream, checked at the end of every restore."""
        return blake3.blake3(key=self.mac_key)
