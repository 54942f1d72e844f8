"""A streaming tar scanner: watch a tar stream go by, keep a few small members, prove it ended properly.

Why: a base backup arrives as one tar on pg_basebackup's stdout and goes straight into the repository; nothing
is ever written to disk on the backup VM. Yet the backup's identity (start LSN, timeline, end LSN) lives inside
that tar, in ``backup_label`` and ``backup_manifest``. So the bytes pass through ``ScanningReader`` on their way
to the chunker, and ``TarScanner`` follows the tar structure as they pass: it reads each 512-byte header, skips
member data without copying (only the captured members are kept), and checks that the archive ends with its two
zero blocks. A stream that stops after a whole number of members would look complete to the chunker; the missing
end-of-archive marker is what gives it away, independently of the remote exit status.

Cost: work is per header, never per data byte, so scanning adds nothing measurable to a GiB/s stream.

PostgreSQL writes plain POSIX ustar (src/port/tar.c: names up to 99 bytes, base-256 sizes above 8 GiB). The
scanner also accepts GNU long names (``L``) and pax ``path``/``size`` records, so it stays correct on tars from
other tools, but it refuses anything that is not a ustar header with a valid checksum: a corrupt or misaligned
stream is reported at the offset where it went wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Protocol

from qfbackup.errors import TarFormatError

if TYPE_CHECKING:
    from collections.abc import Buffer

BLOCK = 512
_ZERO_BLOCK = bytes(BLOCK)
#: Types that never have data blocks, whatever their size field says (tarfile does the same).
_NO_DATA_TYPES = frozenset(b"123456")
_META_LIMIT = 1024 * 1024  # a GNU long name or pax header larger than this is not a sane tar


@dataclass(frozen=True)
class Capture:
    """What to keep of one member: at most ``limit`` bytes; with ``tail`` the last ones, else the first ones.

    ``tail`` serves members whose interesting part is at the end (backup_manifest: its WAL-Ranges come after the
    per-file list, which grows with the cluster), so memory stays bounded whatever the member's size.
    """

    limit: int = 64 * 1024
    tail: bool = False


@dataclass
class Captured:
    """A captured member: its (possibly partial) bytes, its full size, and whether bytes were dropped."""

    name: str
    size: int
    data: bytes
    truncated: bool


@dataclass
class TarSummary:
    """What the scan saw: counts, sizes, the captured members, and where the end-of-archive marker was."""

    members: int
    files: int
    file_bytes: int
    end_offset: int
    total_bytes: int
    captured: dict[str, Captured] = field(default_factory=dict)
    names_seen: frozenset[str] = frozenset()


class _State(Enum):
    HEADER = "header"
    DATA = "data"
    END = "end"  # after the first zero block: the second must follow
    DONE = "done"  # after both zero blocks: only zero padding may follow


def _cstr(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _number(raw: bytes, what: str, offset: int) -> int:
    """A numeric header field: octal text, or base-256 (high bit set) for values that do not fit."""
    if raw and raw[0] & 0x80:
        value = int.from_bytes(raw[1:], "big")
        return -value if raw[0] & 0x40 else value
    text = raw.split(b"\0", 1)[0].strip(b" ")
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError:
        raise TarFormatError(f"bad {what} field {raw!r} in the header at offset {offset}") from None


def _parse_pax(data: bytes, offset: int) -> dict[str, str]:
    """pax extended header records: ``"<len> <key>=<value>\\n"`` repeated."""
    records: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        space = data.find(b" ", pos)
        try:
            length = int(data[pos:space])
        except ValueError:
            raise TarFormatError(f"bad pax header record in the member at offset {offset}") from None
        record = data[space + 1 : pos + length - 1]
        key, _, value = record.partition(b"=")
        records[key.decode("utf-8", "surrogateescape")] = value.decode("utf-8", "surrogateescape")
        pos += length
    return records


class TarScanner:
    """Incremental tar parser: ``feed`` it the stream's bytes in any slicing, then ``finish``.

    ``capture`` maps member names (as stored, without a leading ``./`` or trailing ``/``) to what to keep of
    them; ``require`` names members that must be present (checked by ``finish``).
    """

    def __init__(self, capture: Mapping[str, Capture] | None = None, require: tuple[str, ...] = ()) -> None:
        self._capture_spec = dict(capture or {})
        self._require = require
        self._state = _State.HEADER
        self._header = bytearray()
        self._offset = 0  # stream offset of the next byte fed
        self._remaining = 0  # data + padding bytes left in the current member
        self._keep_left = 0  # bytes of the current member's data still to be offered to the capture buffer
        self._buf: bytearray | None = None  # capture buffer of the current member
        self._buf_spec: Capture | None = None
        self._buf_truncated = False
        self._member_name = ""
        self._member_size = 0
        self._member_type = 0
        self._next_name: str | None = None  # from a GNU long name or pax header, for the next member
        self._next_size: int | None = None
        self._end_offset = -1
        self._members = 0
        self._files = 0
        self._file_bytes = 0
        self._seen: set[str] = set()
        self.captured: dict[str, Captured] = {}

    @property
    def bytes_seen(self) -> int:
        return self._offset

    # -- feeding ------------------------------------------------------------------------------------------------

    def feed(self, data: Buffer) -> None:
        view = memoryview(data).cast("B")
        pos, n = 0, len(view)
        while pos < n:
            state = self._state
            if state is _State.DATA:
                take = min(self._remaining, n - pos)
                if self._buf is not None and self._keep_left:
                    self._keep(view[pos : pos + min(take, self._keep_left)])
                self._remaining -= take
                pos += take
                if self._remaining == 0:
                    self._end_member()
            elif state is _State.DONE:
                rest = view[pos:]
                if bytes(rest).count(0) != len(rest):
                    raise TarFormatError(f"data after the end-of-archive marker at offset {self._offset + pos}")
                pos = n
            else:
                take = min(BLOCK - len(self._header), n - pos)
                self._header += view[pos : pos + take]
                pos += take
                if len(self._header) == BLOCK:
                    block = bytes(self._header)
                    self._header.clear()
                    self._block(block, self._offset + pos - BLOCK)
        self._offset += n

    def _keep(self, part: memoryview) -> None:
        assert self._buf is not None and self._buf_spec is not None
        self._keep_left -= len(part)
        self._buf += part
        limit = self._buf_spec.limit
        if len(self._buf) > limit:
            self._buf_truncated = True
            if self._buf_spec.tail:
                del self._buf[: len(self._buf) - limit]
            else:
                del self._buf[limit:]
                self._keep_left = 0

    def _block(self, block: bytes, offset: int) -> None:
        if self._state is _State.END:
            if block != _ZERO_BLOCK:
                raise TarFormatError(f"a single zero block at offset {offset - BLOCK} followed by data")
            self._state = _State.DONE
            self._end_offset = offset + BLOCK
            return
        if block == _ZERO_BLOCK:
            self._state = _State.END
            return
        self._header_block(block, offset)

    def _header_block(self, h: bytes, offset: int) -> None:
        if h[257:262] != b"ustar":
            raise TarFormatError(f"no ustar header at offset {offset} (misaligned or corrupt stream)")
        stored = _number(h[148:156], "checksum", offset)
        actual = sum(h[:148]) + 8 * 32 + sum(h[156:])
        if stored != actual:
            raise TarFormatError(f"header checksum mismatch at offset {offset}")
        typeflag = h[156]
        name = _cstr(h[0:100])
        prefix = _cstr(h[345:500]) if h[257:263] == b"ustar\0" else ""
        if prefix:
            name = f"{prefix}/{name}"
        size = _number(h[124:136], "size", offset)
        if self._next_name is not None and typeflag not in b"LKxg":
            name, self._next_name = self._next_name, None
        if self._next_size is not None and typeflag not in b"LKxg":
            size, self._next_size = self._next_size, None
        if size < 0:
            raise TarFormatError(f"negative size in the header at offset {offset}")
        if typeflag in _NO_DATA_TYPES:
            size = 0  # any other type, known or not, is followed by its data (as tarfile assumes)
        # as tarfile does: "./x" is "x", a directory's "base/" is "base"
        self._member_name = (name[2:] if name.startswith("./") else name).rstrip("/") or name
        self._member_size = size
        self._member_type = typeflag
        self._buf, self._buf_spec, self._buf_truncated = None, None, False
        if typeflag in b"Lx":
            if size > _META_LIMIT:
                raise TarFormatError(f"oversized extended header ({size} bytes) at offset {offset}")
            self._buf, self._buf_spec = bytearray(), Capture(limit=size)
        elif typeflag in b"0\x007" and self._member_name in self._capture_spec:
            self._buf, self._buf_spec = bytearray(), self._capture_spec[self._member_name]
        self._keep_left = size if self._buf is not None else 0
        self._remaining = size + (-size % BLOCK)
        if self._remaining:
            self._state = _State.DATA
        else:
            self._end_member()

    def _end_member(self) -> None:
        self._state = _State.HEADER
        t = self._member_type
        data = bytes(self._buf) if self._buf is not None else None
        if t in b"L":
            self._next_name = _cstr(data or b"")
        elif t in b"x":
            pax = _parse_pax(data or b"", self._offset)
            if "path" in pax:
                self._next_name = pax["path"]
            if "size" in pax:
                self._next_size = int(pax["size"])
        elif t in b"Kg":
            pass  # long link names and global pax headers change nothing we track
        else:
            self._members += 1
            self._seen.add(self._member_name)
            if t in b"0\x007":
                self._files += 1
                self._file_bytes += self._member_size
            if data is not None:
                self.captured[self._member_name] = Captured(
                    self._member_name, self._member_size, data, self._buf_truncated
                )
        self._buf = self._buf_spec = None

    # -- the end ------------------------------------------------------------------------------------------------

    @property
    def ended(self) -> bool:
        """True once both end-of-archive zero blocks have been seen."""
        return self._state is _State.DONE

    def finish(self) -> TarSummary:
        """Call at the end of the stream: raises TarFormatError unless the archive ended properly and every
        required member was present."""
        if self._state is not _State.DONE:
            where = {
                _State.HEADER: "between members" if not self._header else "inside a header",
                _State.DATA: f"inside member {self._member_name!r}",
                _State.END: "after only one of the two end-of-archive zero blocks",
            }[self._state]
            raise TarFormatError(f"the stream stopped {where} after {self._offset} bytes: the archive is truncated")
        missing = [name for name in self._require if name not in self._seen]
        if missing:
            raise TarFormatError(f"the archive has no {', '.join(missing)}")
        return TarSummary(
            members=self._members,
            files=self._files,
            file_bytes=self._file_bytes,
            end_offset=self._end_offset,
            total_bytes=self._offset,
            captured=dict(self.captured),
            names_seen=frozenset(self._seen),
        )


class _Readable(Protocol):
    def readinto(self, b: Buffer, /) -> int: ...


class ScanningReader:
    """Pass-through reader: whatever the consumer reads from ``source`` is also fed to ``scanner``.

    Only ``readinto`` (what the chunker uses, straight into its own buffer) and ``read`` are offered; the scanner
    looks at the bytes in place, so the pass-through costs no copy.
    """

    def __init__(self, source: _Readable, scanner: TarScanner) -> None:
        self.source = source
        self.scanner = scanner

    def readable(self) -> bool:
        return True

    def readinto(self, b: Buffer) -> int:
        n = self.source.readinto(b)
        if n:
            self.scanner.feed(memoryview(b).cast("B")[:n])
        return n

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            parts = []
            while part := self.read(1024 * 1024):
                parts.append(part)
            return b"".join(parts)
        buf = bytearray(size)
        n = self.readinto(buf)
        return bytes(buf[:n])
