"""Deterministic pseudo-random streams of any size, generated on the fly (never held in memory)."""

from __future__ import annotations

import hashlib
import random

BLOCK = 1 << 20


class PatternStream:
    """``size`` bytes from ``seed``; ``patches`` = [(offset, length, seed)] overwrite ranges with other bytes.

    Blocks are derived from (seed, block number), so two streams with the same seed share every untouched block.
    """

    def __init__(self, size: int, seed: int = 1, patches: list[tuple[int, int, int]] = ()) -> None:
        self.size = size
        self.seed = seed
        self.patches = list(patches)
        self.pos = 0

    def _block(self, n: int) -> bytes:
        return random.Random(self.seed * 1_000_003 + n).randbytes(BLOCK)

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = self.size - self.pos
        n = min(n, self.size - self.pos)
        out = bytearray()
        while len(out) < n:
            bno, off = divmod(self.pos + len(out), BLOCK)
            out += self._block(bno)[off : off + n - len(out)]
        for p_off, p_len, p_seed in self.patches:
            lo, hi = max(p_off, self.pos), min(p_off + p_len, self.pos + n)
            if lo < hi:
                patch = random.Random(p_seed).randbytes(p_len)
                out[lo - self.pos : hi - self.pos] = patch[lo - p_off : hi - p_off]
        self.pos += n
        return bytes(out)

    def sha256(self) -> str:
        h = hashlib.sha256()
        copy = PatternStream(self.size, self.seed, self.patches)
        while chunk := copy.read(8 * BLOCK):
            h.update(chunk)
        return h.hexdigest()


def sha256_of(chunks) -> tuple[str, int]:
    h, n = hashlib.sha256(), 0
    for c in chunks:
        h.update(c)
        n += len(c)
    return h.hexdigest(), n
