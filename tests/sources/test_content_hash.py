"""The catalogue's sha256, hashed ahead of time: used only for the same, unchanged file, once."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest

from sources.content_hash import file_sha256, prefetch_sha256


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def wait_for_prefetches() -> None:
    for thread in threading.enumerate():
        if thread.name == "sha256-prefetch":
            thread.join(timeout=30)


def test_a_prefetched_hash_is_the_file_hash(catalogue_csv: Path) -> None:
    prefetch_sha256(catalogue_csv)
    assert file_sha256(catalogue_csv) == sha256_of(catalogue_csv)


def test_the_prefetched_result_is_taken_not_the_file_read_again(tmp_path: Path) -> None:
    """Proof by a file changed behind the cache's back (same inode, size and mtime): the
    prefetched hash of the old content comes back, once; the next call reads the file."""
    path = tmp_path / "catalogue.csv"
    path.write_bytes(b"id,name\n1,a\n")
    before = path.stat()
    prefetch_sha256(path)
    wait_for_prefetches()
    old = sha256_of(path)
    with path.open("r+b") as handle:
        handle.write(b"ID")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert file_sha256(path) == old
    assert file_sha256(path) == sha256_of(path) != old


def test_a_file_changed_since_the_prefetch_is_hashed_again(tmp_path: Path) -> None:
    path = tmp_path / "catalogue.csv"
    path.write_bytes(b"id,name\n1,a\n")
    prefetch_sha256(path)
    wait_for_prefetches()
    path.write_bytes(b"id,name\n1,a\n2,b\n")
    assert file_sha256(path) == sha256_of(path)


def test_a_missing_file_is_reported_by_whoever_asks(tmp_path: Path) -> None:
    prefetch_sha256(tmp_path / "missing.csv")  # no error here: the run reports it its own way
    with pytest.raises(FileNotFoundError):
        file_sha256(tmp_path / "missing.csv")


def test_a_pipe_is_never_read_ahead(tmp_path: Path) -> None:
    """Reading a pipe ahead would take its content away from the run."""
    fifo = tmp_path / "catalogue.fifo"
    os.mkfifo(fifo)
    prefetch_sha256(fifo)
    assert not [t for t in threading.enumerate() if t.name == "sha256-prefetch"]
