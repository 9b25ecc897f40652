"""Unpacking cost: Shipyard's member-by-member unpacker against tarfile's `data` filter.

Builds one artifact like a real release (`git archive` of this repository's HEAD, plus
a generated tree of N small files, gzipped), then times, median of R runs each, a plain
`tarfile.extractall(filter="data")` and `shipyard.host.unpack.safe_unpack`. Also times
one reply line of M MiB through the local transport's channel. Writes
bench/results/unpack-<commit12>-<time>.json; not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import io
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from resultfiles import facts, store_result  # noqa: E402

from shipyard.host.unpack import safe_unpack  # noqa: E402
from shipyard.transport.local import LocalTransport  # noqa: E402


def make_artifact(path: Path, extra_files: int) -> tuple[int, int]:
    """HEAD of this repository plus `extra_files` small files; (members, bytes)."""
    raw = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", "HEAD"], capture_output=True, check=True
    ).stdout
    out = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(raw)) as source,
        tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for member in source:
            tar.addfile(member, source.extractfile(member) if member.isfile() else None)
        for i in range(extra_files):
            body = f"# generated module {i}\nVALUE = {i}\n".encode() * 20
            info = tarfile.TarInfo(f"generated/pkg{i // 100}/mod{i}.py")
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    data = out.getvalue()
    path.write_bytes(gzip.compress(data, compresslevel=6))
    with tarfile.open(path) as tar:
        return len(tar.getmembers()), len(data)


def time_runs(runs: int, work: Path, unpack: object) -> list[float]:
    times = []
    for i in range(runs):
        dest = work / f"out-{i}"
        dest.mkdir()
        start = time.perf_counter()
        unpack(dest)  # type: ignore[operator]
        times.append(time.perf_counter() - start)
        shutil.rmtree(dest)
    return times


def reply_seconds(mib: int, runs: int) -> list[float]:
    script = "import sys\nfor n in sys.stdin: print('y' * int(n), flush=True)\n"

    async def main() -> list[float]:
        channel = await LocalTransport().channel([sys.executable, "-c", script])
        times = []
        try:
            for _ in range(runs):
                start = time.perf_counter()
                reply = await channel.request(b"%d\n" % (mib * 1024 * 1024), timeout=120)
                times.append(time.perf_counter() - start)
                assert len(reply) == mib * 1024 * 1024 + 1
        finally:
            await channel.close()
        return times

    return asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extra-files", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--reply-mib", type=int, default=32)
    parser.add_argument("--json-out", help="another path (never overwritten)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="syb-") as tmp:
        work = Path(tmp)
        artifact = work / "a.tar.gz"
        members, size = make_artifact(artifact, args.extra_files)
        compressed = artifact.stat().st_size

        def stock(dest: Path) -> None:
            with tarfile.open(artifact, "r:gz") as tar:
                tar.extractall(dest, filter="data")

        stock_times = time_runs(args.runs, work, stock)
        ours = time_runs(args.runs, work, lambda dest: safe_unpack(artifact, dest))
    replies = reply_seconds(args.reply_mib, args.runs)
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    result = {
        "machine": facts(commit),  # run on a clean checkout: the tree is HEAD
        "python": sys.version.split()[0],
        "artifact": {
            "members": members,
            "unpacked_bytes": size,
            "compressed_bytes": compressed,
        },
        "runs": args.runs,
        "tarfile_data_filter_s": {"median": statistics.median(stock_times), "all": stock_times},
        "safe_unpack_s": {"median": statistics.median(ours), "all": ours},
        "local_reply": {
            "mib": args.reply_mib,
            "median_s": statistics.median(replies),
            "all": replies,
        },
    }
    print(f"stored {store_result('unpack', result, out=args.json_out)}")
    print(f"| unpack | median of {args.runs} |")
    print("|---|---|")
    print(f"| tarfile `data` filter | {result['tarfile_data_filter_s']['median']:.3f} s |")
    print(f"| Shipyard `safe_unpack` | {result['safe_unpack_s']['median']:.3f} s |")
    print(f"({members} members, {size / 1e6:.1f} MB unpacked)")
    reply = result["local_reply"]["median_s"]
    print(f"local channel, one {args.reply_mib} MiB reply line: {reply:.3f} s")


if __name__ == "__main__":
    main()
