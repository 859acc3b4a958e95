"""The run's scratch folder: where the catalogue pass spills its first step, and where the valid
rows wait for the catalogue load. Private to the run, removed with it.

The first step's outputs are written as Parquet (the rows step 2 looks at: a memory-mapped Arrow
file would count against the process's resident memory when read back, and the chosen genres may
be most of the file), Arrow (the keys, read whole anyway) and CSV (the valid rows, ready for
`COPY`).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import polars as pl

from transforms.catalogue_pass import FirstStep


class Scratch:
    """A private folder for one run (`with Scratch() as scratch:`)."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="appbuzz-"))
        self.notable_path = self.folder / "notable.parquet"
        self.keys_path = self.folder / "keys.arrow"
        self.valid_path = self.folder / "valid-rows.csv"

    def __enter__(self) -> Scratch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def first_step_sinks(self, step: FirstStep) -> list[pl.LazyFrame]:
        """The first step's outputs as sinks into this folder, to be collected together."""
        sinks = [
            step.notable.sink_parquet(
                self.notable_path, compression="lz4", statistics=False, lazy=True
            ),
            step.keys.sink_ipc(self.keys_path, lazy=True),
        ]
        if step.valid is not None:
            sinks.append(step.valid.sink_csv(self.valid_path, include_header=False, lazy=True))
        return sinks

    def notable(self) -> pl.LazyFrame:
        return pl.scan_parquet(self.notable_path)

    def keys(self) -> pl.DataFrame:
        return pl.read_ipc(self.keys_path)

    def append_valid_rows(self, rows: pl.LazyFrame) -> None:
        """More valid rows after the first step (those rescued on the exact second look)."""
        frame = rows.collect()
        if frame.height:
            with self.valid_path.open("ab") as handle:
                frame.write_csv(handle, include_header=False)

    def drop_first_step(self) -> None:
        """What step 2 has read is not needed again: free the disk now, not at the run's end."""
        for path in (self.notable_path, self.keys_path):
            path.unlink(missing_ok=True)
