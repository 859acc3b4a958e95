"""Queries built from app names: the brand as one quoted phrase, whatever the name holds."""

from __future__ import annotations

import re

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transforms.queries import (
    DEFAULT_TEMPLATE,
    MAX_QUERY_CHARS,
    build_query,
    check_template,
    with_mention_queries,
)

QUOTES = '"“”„‟″〃＂«»'


def split_query(query: str, template: str = DEFAULT_TEMPLATE) -> str:
    """The phrase of a query built from `template`; fails if the query has any other shape."""
    prefix, suffix = template.split("{phrase}")
    assert query.startswith(prefix) and query.endswith(suffix), query
    phrase = query[len(prefix) : len(query) - len(suffix)]
    assert phrase and not any(q in phrase for q in QUOTES + "\\"), phrase
    return phrase


@pytest.mark.parametrize(
    ("name", "query"),
    [
        ("Pandora - Music & Radio", '"Pandora" -is:retweet'),
        ("Spotify Music", '"Spotify Music" -is:retweet'),
        ("iHeartRadio – Free Music & Radio Stations", '"iHeartRadio" -is:retweet'),
        ("Kindle – Read eBooks, Magazines & Textbooks", '"Kindle" -is:retweet'),
        ("TuneIn Radio - MLB NBA Audiobooks Podcasts Music", '"TuneIn Radio" -is:retweet'),
        ("Fooly: the game | extra", '"Fooly" -is:retweet'),
        ("Sound | Cloud - x", '"Sound" -is:retweet'),
        ("Smule Sing!", '"Smule Sing!" -is:retweet'),
        ("lang:en (beta)", '"lang:en (beta)" -is:retweet'),
        ('The "Real" Deal', '"The Real Deal" -is:retweet'),
        ("“Smart” quotes", '"Smart quotes" -is:retweet'),
        ('back\\"slash', '"back slash" -is:retweet'),
        ("line\nbreak\ttab", '"line break tab" -is:retweet'),
        ('" - Only tagline', '"- Only tagline" -is:retweet'),
        ("読書家 – 本", '"読書家" -is:retweet'),
    ],
)
def test_brand_phrase(name: str, query: str) -> None:
    assert build_query(name) == query


def test_name_with_nothing_searchable_has_no_query() -> None:
    assert build_query('"""') is None
    assert build_query(" \n ") is None


def test_long_names_are_cut_at_a_word_boundary_within_512() -> None:
    query = build_query("word " * 200)
    assert query is not None and len(query) <= MAX_QUERY_CHARS
    assert split_query(query).split() == ["word"] * len(split_query(query).split())
    one_word = build_query("x" * 2000)
    assert one_word is not None and len(one_word) == MAX_QUERY_CHARS


def test_template_is_configurable_and_checked() -> None:
    template = '"{phrase}" lang:en -is:retweet -is:reply'
    assert build_query("Amazon Music", template) == '"Amazon Music" lang:en -is:retweet -is:reply'
    for bad in (
        "{phrase} -is:retweet",
        '"{phrase}" "{phrase}"',
        "no placeholder",
        '"{phrase}"' + "x" * 600,
    ):
        with pytest.raises(ValueError):
            check_template(bad)


def test_frame_version_keeps_rows_and_adds_the_query() -> None:
    ranked = pl.DataFrame({"id": [1, 2], "track_name": ["A - b", '"""']})
    out = with_mention_queries(ranked)
    assert out.columns == ["id", "track_name", "mention_query"]
    assert out["mention_query"].to_list() == ['"A" -is:retweet', None]


SYNTAX = st.sampled_from(
    ['"', "(", ")", " OR ", "-", "#", "@", "$", "lang:", ":", " | ", " - ", " – ", "\\", "“", "”",
     "*", "~", "\n", "\t", " ", "AND", "is:retweet", "{phrase}", "\x00"]
)  # fmt: skip
NAMES = st.lists(st.one_of(SYNTAX, st.text(min_size=1, max_size=12)), max_size=60).map("".join)


@settings(max_examples=400, deadline=None)
@given(name=NAMES, extra=st.sampled_from(["", " lang:en", " -is:reply"]))
def test_any_name_stays_inside_one_balanced_phrase(name: str, extra: str) -> None:
    template = DEFAULT_TEMPLATE + extra
    query = build_query(name, template)
    if query is None:  # nothing but quotes, controls and spaces
        assert not re.sub(r'[\s"\\“”„‟″〃＂«»\x00-\x1f\x7f-\x9f]', "", name)
        return
    assert len(query) <= MAX_QUERY_CHARS
    assert query.count('"') == 2  # one phrase, balanced: nothing of the name escapes it
    phrase = split_query(query, template)
    # every word of the phrase is a word of the name, in order (the tail may be cut to fit)
    name_words = " ".join(re.sub(r'["\\“”„‟″〃＂«»\x00-\x1f\x7f-\x9f]', " ", name).split())
    assert name_words.startswith(phrase) or phrase in name_words
