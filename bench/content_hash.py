"""Is hashing the catalogue ahead of time (a prefetch thread) worth its code? The sha256 of the
x1000 catalogue three ways, each in a fresh process, n times: alone with `hashlib.file_digest`;
after `import prefect` (what `appbuzz run` does first) with `file_digest`; and hashed in a thread
while Prefect is imported (the prefetch). Printed as seconds and as a share of a whole run's
wall time would be silly without the run: the nightly run waits minutes on X rate windows.

    .venv/bin/python -m bench.content_hash [--scale 1000] [--n 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.scaled import build_scaled

SEQUENTIAL = """
import hashlib, time
t = time.perf_counter()
import prefect, polars
with open({path!r}, "rb") as f:
    hashlib.file_digest(f, "sha256").hexdigest()
print(time.perf_counter() - t)
"""
OVERLAPPED = """
import time
t = time.perf_counter()
import threading, hashlib
result = []
def run():
    with open({path!r}, "rb") as f:
        result.append(hashlib.file_digest(f, "sha256").hexdigest())
thread = threading.Thread(target=run); thread.start()
import prefect, polars
thread.join()
print(time.perf_counter() - t)
"""
HASH_ONLY = """
import hashlib, time
t = time.perf_counter()
with open({path!r}, "rb") as f:
    hashlib.file_digest(f, "sha256").hexdigest()
print(time.perf_counter() - t)
"""


def timed(code: str, path: Path, n: int) -> float:
    runs = [
        float(subprocess.run([sys.executable, "-c", code.format(path=str(path))],
                             capture_output=True, text=True, check=True).stdout)
        for _ in range(n)
    ]  # fmt: skip
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=int, default=1000)
    parser.add_argument("--n", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = build_scaled(Path(folder), args.scale).path
        size = path.stat().st_size
        hash_only = timed(HASH_ONLY, path, args.n)
        sequential = timed(SEQUENTIAL, path, args.n)
        overlapped = timed(OVERLAPPED, path, args.n)
    print(f"x{args.scale} catalogue, {size / 1e6:.0f} MB, median of {args.n}:")
    print(f"  sha256 alone (file_digest)           {hash_only:6.2f} s")
    print(f"  import prefect+polars, then sha256   {sequential:6.2f} s")
    print(f"  sha256 in a thread during the import {overlapped:6.2f} s")
    print(f"  saved by the prefetch: {sequential - overlapped:.2f} s "
          f"({(sequential - overlapped) / sequential:.0%} of start-up)")  # fmt: skip


if __name__ == "__main__":
    main()
