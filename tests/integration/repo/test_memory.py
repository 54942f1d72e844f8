"""Peak RSS while storing a 1 GiB stream stays bounded (resource usage of a child process, not timing)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import io, sys
    from qfbackup.repo.keys import Credential
    from qfbackup.repo.repository import Repository
    from qfbackup.repo.catalog import Snapshot
    from qfbackup.repo.store import open_store
    from tests.support.streams import PatternStream

    repo = Repository.init(open_store(sys.argv[1]), Credential.passphrase("rss"))
    src = PatternStream(int(sys.argv[2]), seed=11)
    with repo.writer() as w:
        ref = w.store_stream(src)
        w.commit(Snapshot(kind="stream", source="rss", streams={"d": ref}))
    # read it back too: restore must be bounded as well
    n = sum(len(c) for c in repo.read_stream(ref))
    assert n == ref.size == int(sys.argv[2]), (n, ref.size)
    # VmHWM, not the parent's ru_maxrss: that one also counts the forked copy of a big pytest process.
    hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
    print(ref.size, int(hwm.split()[1]))
    """
)


def peak_rss_mib(argv: list[str]) -> tuple[float, str]:
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=os.getcwd(), check=False)
    assert proc.returncode == 0, proc.stderr
    size, hwm_kib = proc.stdout.split()
    return int(hwm_kib) / 1024, size


@pytest.mark.slow
def test_peak_rss_of_1_gib_stream_under_256_mib(tmp_path):
    size = 1 << 30
    peak, out = peak_rss_mib([sys.executable, "-c", SCRIPT, str(tmp_path / "repo"), str(size)])
    assert int(out) == size
    baseline, _ = peak_rss_mib([sys.executable, "-c", SCRIPT, str(tmp_path / "repo-small"), str(8 << 20)])
    print(f"peak RSS: 1 GiB stream {peak:.0f} MiB, 8 MiB stream {baseline:.0f} MiB")
    assert peak < 256
    assert peak < baseline + 128  # does not grow with the stream
