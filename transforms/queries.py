"""Build each app's X search query from its name: the brand, as one exact quoted phrase.

An app name is data, never query syntax. Inside a quoted phrase the X query language reads
operators (`OR`, `-`, `#`, `@`, `$`, `lang:`, parentheses) as plain words; the only way out of
the phrase is a double quote, so every character that is or could pass for one (ASCII `"`, the
typographic quotes, the backslash some parsers take for an escape) becomes a space, and so do
control characters. The query never exceeds the API's 512 characters: the phrase is shortened
at a word boundary when needed.
"""

from __future__ import annotations

import polars as pl

MAX_QUERY_CHARS = 512
PLACEHOLDER = "{phrase}"
DEFAULT_TEMPLATE = f'"{PLACEHOLDER}" -is:retweet'

# The brand is the part of the name before the first of these separators.
_SEPARATORS = r"(?s)(?: - | – | — |: | \| ).*$"
# Characters that could end the phrase early or act as an escape; all become spaces.
_PHRASE_BREAKERS = r'["\\“”„‟″〃＂«»\p{Cc}\p{Zl}\p{Zp}]'


def check_template(template: str) -> str:
    """The template must hold `"{phrase}"` once, and leave room for a phrase within 512 chars."""
    if template.count(PLACEHOLDER) != 1 or f'"{PLACEHOLDER}"' not in template:
        raise ValueError(f'expected a template containing "{PLACEHOLDER}" once, in double quotes')
    prefix, suffix = template.split(PLACEHOLDER)
    if prefix.count('"') % 2 != 1 or suffix.count('"') % 2 != 1:
        raise ValueError(f'expected the quotes around "{PLACEHOLDER}" to be balanced')
    if len(template) - len(PLACEHOLDER) > MAX_QUERY_CHARS - 16:
        raise ValueError(f"expected a template shorter than {MAX_QUERY_CHARS - 16} characters")
    return template


def _clean(text: pl.Expr) -> pl.Expr:
    return (
        text.str.replace_all(_PHRASE_BREAKERS, " ").str.replace_all(r"\s+", " ").str.strip_chars()
    )


def phrase_expr(name: pl.Expr, budget: int) -> pl.Expr:
    """The quoted phrase for a name: its brand, cleaned, cut to `budget` chars; null if empty."""
    brand = _clean(name.str.replace(_SEPARATORS, ""))
    whole = _clean(name)
    phrase = pl.when(brand.str.len_chars() > 0).then(brand).otherwise(whole)
    cut = phrase.str.slice(0, budget)
    # a cut inside a word drops that partial word, unless the phrase is a single long word
    shortened = (
        pl.when(phrase.str.len_chars() > budget)
        .then(
            pl.when(phrase.str.slice(budget, 1) == " ")
            .then(cut)
            .otherwise(cut.str.replace(r"\s+\S*$", ""))
        )
        .otherwise(phrase)
        .str.strip_chars()
    )
    return pl.when(shortened.str.len_chars() > 0).then(shortened)


def query_expr(name: pl.Expr, template: str = DEFAULT_TEMPLATE) -> pl.Expr:
    """The full query for each name: the template with the phrase in its placeholder."""
    prefix, suffix = check_template(template).split(PLACEHOLDER)
    phrase = phrase_expr(name, MAX_QUERY_CHARS - len(prefix) - len(suffix))
    return pl.concat_str(pl.lit(prefix), phrase, pl.lit(suffix))


def with_mention_queries(ranked: pl.DataFrame, template: str = DEFAULT_TEMPLATE) -> pl.DataFrame:
    """The ranked apps with `mention_query`: what is sent to X and stored with each row."""
    return ranked.with_columns(query_expr(pl.col("track_name"), template).alias("mention_query"))


def build_query(name: str, template: str = DEFAULT_TEMPLATE) -> str | None:
    """One name's query (the same expression as the frame version): for tests and tools."""
    frame = pl.DataFrame({"track_name": [name]}, schema={"track_name": pl.String})
    query: str | None = with_mention_queries(frame, template).item(0, "mention_query")
    return query
