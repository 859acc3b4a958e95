"""Where a catalogue's CSV quoting goes wrong is said by line, the line a person must fix."""

from __future__ import annotations

from pathlib import Path

from sources.catalogue import first_malformed_line

HEADER = "id,track_name,size_bytes,price,rating_count_tot,user_rating,prime_genre\n"


def test_a_quote_never_closed_is_reported_on_the_line_that_opens_it(tmp_path: Path) -> None:
    path = tmp_path / "catalogue.csv"
    path.write_text(
        HEADER + '1,"Broken,10,0,5,4,Music\n2,Fine,10,0,5,4,Book\n3,Also,1,0,5,4,Book\n'
    )
    assert first_malformed_line(path, ",") == (2, "a quote is never closed")


def test_text_after_a_closing_quote_is_reported_on_its_line(tmp_path: Path) -> None:
    path = tmp_path / "catalogue.csv"
    path.write_text(HEADER + '1,Fine,10,0,5,4,Music\n2,"Oops"s,10,0,5,4,Book\n')
    line, reason = first_malformed_line(path, ",")
    assert line == 3 and "expected after" in reason


def test_well_formed_quoting_is_not_reported(tmp_path: Path) -> None:
    path = tmp_path / "catalogue.csv"
    path.write_text(HEADER + '1,"A, ""quoted""\nname",10,0,5,4,Music\n')
    assert first_malformed_line(path, ",") is None
