"""The streaming tar scanner: same answer however the stream is sliced; truncation and corruption detected."""

from __future__ import annotations

import io
import random
import tarfile

import pytest

from qfbackup.errors import TarFormatError
from qfbackup.pg.tarscan import BLOCK, Capture, ScanningReader, TarScanner


def make_tar(members: dict[str, bytes], *, fmt: int = tarfile.USTAR_FORMAT, dirs: tuple[str, ...] = ()) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for d in dirs:
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            tar.addfile(info)
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


MEMBERS = {
    "backup_label": b"START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\n",
    "PG_VERSION": b"15\n",
    "base/1/1259": bytes(range(256)) * 40,
    "empty": b"",
    "exact": b"x" * BLOCK,
    "backup_manifest": b'{"Files": []}' + b" " * 3000 + b'"WAL-Ranges": []',
}


def scan(data: bytes, sizes: list[int] | None = None, **kw) -> TarScanner:
    scanner = TarScanner(**kw)
    pos = 0
    rng = random.Random(len(data))
    while pos < len(data):
        step = sizes[pos % len(sizes)] if sizes else rng.randint(1, 3000)
        scanner.feed(data[pos : pos + step])
        pos += step
    return scanner


@pytest.mark.parametrize("sizes", [None, [1], [511], [512], [513], [10_000_000]])
def test_slicing_does_not_matter(sizes) -> None:
    data = make_tar(MEMBERS, dirs=("base", "base/1"))
    scanner = scan(data, sizes, capture={"backup_label": Capture(), "backup_manifest": Capture()})
    summary = scanner.finish()
    assert summary.members == len(MEMBERS) + 2
    assert summary.files == len(MEMBERS)
    assert summary.file_bytes == sum(len(v) for v in MEMBERS.values())
    assert summary.total_bytes == len(data)
    assert summary.captured["backup_label"].data == MEMBERS["backup_label"]
    assert summary.captured["backup_manifest"].data == MEMBERS["backup_manifest"]
    assert not summary.captured["backup_label"].truncated
    assert "base/1" in summary.names_seen


def test_head_and_tail_capture_are_bounded() -> None:
    data = make_tar(MEMBERS)
    summary = scan(
        data, capture={"backup_manifest": Capture(limit=100, tail=True), "base/1/1259": Capture(limit=10)}
    ).finish()
    manifest = summary.captured["backup_manifest"]
    assert manifest.truncated and manifest.data == MEMBERS["backup_manifest"][-100:]
    assert manifest.size == len(MEMBERS["backup_manifest"])
    assert summary.captured["base/1/1259"].data == MEMBERS["base/1/1259"][:10]


def test_long_names_gnu_and_pax() -> None:
    long = "pg_tblspc/" + "d" * 150 + "/backup_label"
    for fmt in (tarfile.GNU_FORMAT, tarfile.PAX_FORMAT):
        data = make_tar({long: b"hello", "tail": b"t"}, fmt=fmt)
        summary = scan(data, [700], capture={long: Capture()}).finish()
        assert summary.captured[long].data == b"hello", fmt
        assert summary.members == 2


def test_ustar_prefix_and_dot_slash() -> None:
    name = "a" * 120 + "/file"  # tarfile splits it into prefix + name in ustar
    data = make_tar({name: b"p", "./backup_label": b"L"})
    summary = scan(data, capture={name: Capture(), "backup_label": Capture()}).finish()
    assert summary.captured[name].data == b"p" and summary.captured["backup_label"].data == b"L"


def test_every_truncation_is_detected() -> None:
    data = make_tar({"a": b"1" * 700, "b": b"2"})  # tarfile pads the archive to 10240 bytes with zeros
    marker = _end_marker(data)
    assert marker == 7 * BLOCK  # two headers, 2 + 1 data blocks, then the two zero blocks
    for cut in range(0, len(data) + 1, 37):
        if cut < marker:
            with pytest.raises(TarFormatError, match="truncated"):
                scan(data[:cut]).finish()
        else:  # only zero padding after the end marker is missing: the archive is whole
            assert scan(data[:cut]).finish().end_offset == marker


def _end_marker(data: bytes) -> int:
    scanner = scan(data)
    return scanner.finish().end_offset


def test_one_zero_block_is_not_an_end() -> None:
    data = make_tar({"a": b"1"})
    marker = _end_marker(data)
    with pytest.raises(TarFormatError, match="only one of the two"):
        scan(data[: marker - BLOCK]).finish()
    # tarfile pads to a 10240-byte record with zeros: accepted
    scan(data + bytes(BLOCK * 3)).finish()


def test_corruption_and_trailing_garbage() -> None:
    data = bytearray(make_tar({"a": b"1" * 600, "b": b"2"}))
    bad = bytearray(data)
    bad[1536 + 10] ^= 0x01  # b's name: its header follows a's header and two data blocks
    with pytest.raises(TarFormatError, match="checksum mismatch at offset 1536"):
        scan(bytes(bad)).finish()
    misaligned = b"\x01" * 100 + bytes(data)
    with pytest.raises(TarFormatError, match="no ustar header at offset 0"):
        scan(misaligned).finish()
    marker = _end_marker(bytes(data))
    garbage = bytes(data[:marker]) + b"\0junk"
    with pytest.raises(TarFormatError, match="data after the end-of-archive marker"):
        scan(garbage).finish()
    lone = bytes(data[:1536]) + bytes(BLOCK) + b"\x07" * BLOCK  # a, a zero block, then not a zero block
    with pytest.raises(TarFormatError, match="single zero block"):
        scan(lone).finish()


def test_required_members() -> None:
    data = make_tar({"PG_VERSION": b"15\n"})
    with pytest.raises(TarFormatError, match="has no backup_label"):
        scan(data, require=("PG_VERSION", "backup_label")).finish()


def test_base256_size() -> None:
    data = bytearray(make_tar({"big": b"z" * 1000}))
    data[124:136] = b"\x80" + (1000).to_bytes(11, "big")
    data[148:156] = b"        "
    data[148:156] = f"{sum(data[:512]):06o}\0 ".encode()
    summary = scan(bytes(data), capture={"big": Capture()}).finish()
    assert summary.captured["big"].data == b"z" * 1000


def test_scanning_reader_passes_bytes_through() -> None:
    data = make_tar(MEMBERS)
    scanner = TarScanner({"PG_VERSION": Capture()})
    reader = ScanningReader(io.BytesIO(data), scanner)
    out = bytearray()
    buf = bytearray(777)
    while n := reader.readinto(buf):
        out += buf[:n]
    assert bytes(out) == data
    assert scanner.finish().captured["PG_VERSION"].data == b"15\n"
    scanner2 = TarScanner()
    assert ScanningReader(io.BytesIO(data), scanner2).read() == data
    scanner2.finish()
