"""An output folder that cannot be written is refused before the run, not found after the load
(which would leave the database a night ahead of apps.csv and apps.json)."""

from __future__ import annotations

from pathlib import Path

from tests.support.cli import Cli, Job


def test_output_folder_under_a_file_is_refused_before_anything_is_written(
    cli: Cli, catalogue_csv: Path, tmp_path: Path
) -> None:
    blocker = tmp_path / "out"
    blocker.write_text("a file where the output folder should be\n")
    database = tmp_path / "appbuzz.db"
    done = cli.run(Job(tmp_path, ["run", "--csv", str(catalogue_csv), "--database-url",
                                  f"sqlite:///{database}", "--out", "out/nightly"]))  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "output folder out/nightly" in done.stderr and "is a file, not a folder" in done.stderr
    assert not database.exists() and done.stdout == ""
    assert blocker.read_text() == "a file where the output folder should be\n"
