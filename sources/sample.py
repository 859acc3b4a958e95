"""A synthetic App Store catalogue with the real file's 17 columns, for the default run and tests.

Invented, never copied: names are drawn from word lists by a seeded generator, so the sample is
the same bytes on every machine. It carries what makes the real file tricky: commas and quotes
inside names, `&`, en dashes, emoji and CJK text, and ties in `rating_count_tot`.
"""

from __future__ import annotations

import random

import polars as pl

COLUMNS = (
    "",
    "id",
    "track_name",
    "size_bytes",
    "currency",
    "price",
    "rating_count_tot",
    "rating_count_ver",
    "user_rating",
    "user_rating_ver",
    "ver",
    "cont_rating",
    "prime_genre",
    "sup_devices.num",
    "ipadSc_urls.num",
    "lang.num",
    "vpp_lic",
)

GENRES = (
    "Games", "Entertainment", "Education", "Photo & Video", "Utilities", "Health & Fitness",
    "Productivity", "Social Networking", "Lifestyle", "Music", "Shopping", "Sports", "Book",
    "Finance", "Travel", "News", "Weather", "Reference", "Food & Drink", "Business",
    "Navigation", "Medical", "Catalogs",
)  # fmt: skip

_BRANDS = (
    "Lumen", "Echo", "Pixel", "Harbor", "Quill", "Nimbus", "Vela", "Orbit", "Tempo", "Maple",
    "Cinder", "Fable", "Atlas", "Juniper", "Kite", "Sonar", "Paper Moon", "Rhythm & Co",
    "Café Olé", "Übersetzer", "Señor Beat", "Škoda Tunes", "Åse", "読書家", "音楽ボックス", "小说阅读",
    "책방", "Música Viva", "Zoë's", "The \"Real\" Deal",
)  # fmt: skip
_NOUNS = {
    "Music": ("Radio", "Player", "Tuner", "Karaoke", "Piano", "Beats", "Podcasts", "Lyrics"),
    "Book": ("Reader", "eBooks", "Library", "Audiobooks", "Comics", "Stories", "Manga"),
}
_DEFAULT_NOUNS = ("App", "Pro", "Lite", "Plus", "HD", "Go", "Studio", "Tracker", "Planner")
_TAGLINES = (
    "", " - Free", " – Read, Listen & Learn", ": the classic", " | Offline", " - Music & Radio",
    ", Reimagined", " 🎵", " 📚", " – Discover new music, artists, videos & lyrics",
)  # fmt: skip
_CONT_RATINGS = ("4+", "9+", "12+", "17+")


_SYLLABLES = ("ka", "lo", "mi", "ra", "tu", "ve", "zo", "ne", "si", "pa", "du", "re")


def _coined(index: int) -> str:
    """A made-up word, different for every index: a brand's second word."""
    word = ""
    while True:
        index, digit = divmod(index, len(_SYLLABLES))
        word += _SYLLABLES[digit]
        if index == 0:
            return word.capitalize()


def sample_catalogue(
    rows: int = 300, seed: int = 20170601, distinct_brands: bool = False
) -> pl.DataFrame:
    """`rows` synthetic apps; Book and Music get a good share so the default run ranks ten.

    `distinct_brands` gives every app a brand of its own (as most apps of the real file have), so
    a large catalogue's top apps never share an X query; the default keeps the shipped sample."""
    rng = random.Random(seed)
    genres = [
        rng.choice(("Book", "Music")) if rng.random() < 0.3 else rng.choice(GENRES)
        for _ in range(rows)
    ]
    names = [
        f"{rng.choice(_BRANDS)} {rng.choice(_NOUNS.get(g, _DEFAULT_NOUNS))}{rng.choice(_TAGLINES)}"
        for g in genres
    ]
    if distinct_brands:
        names = [
            name.replace(" ", f" {_coined(i)} ", 1) if " " in name else f"{name} {_coined(i)}"
            for i, name in enumerate(names)
        ]
    # heavy-tailed counts, rounded so that ties happen, as they do in the real file
    ratings = [int(rng.paretovariate(0.9) * 40) // 10 * 10 for _ in range(rows)]
    ids = rng.sample(range(281_000_000, 1_190_000_000), rows)
    return pl.DataFrame(
        {
            "": [str(i) for i in range(1, rows + 1)],
            "id": [str(i) for i in ids],
            "track_name": names,
            "size_bytes": [rng.randrange(2_000_000, 2_000_000_000) for _ in range(rows)],
            "currency": ["USD"] * rows,
            "price": [
                rng.choice((0.0, 0.0, 0.0, 0.99, 1.99, 2.99, 4.99, 9.99)) for _ in range(rows)
            ],
            "rating_count_tot": ratings,
            "rating_count_ver": [rng.randrange(0, r + 1) for r in ratings],
            "user_rating": [
                rng.choice((0.0, 1.5, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0)) for _ in range(rows)
            ],
            "user_rating_ver": [rng.choice((0.0, 2.5, 3.5, 4.0, 4.5, 5.0)) for _ in range(rows)],
            "ver": [
                f"{rng.randrange(1, 12)}.{rng.randrange(0, 20)}.{rng.randrange(0, 9)}"
                for _ in range(rows)
            ],
            "cont_rating": [rng.choice(_CONT_RATINGS) for _ in range(rows)],
            "prime_genre": genres,
            "sup_devices.num": [rng.choice((37, 38, 40, 43, 47)) for _ in range(rows)],
            "ipadSc_urls.num": [rng.randrange(0, 6) for _ in range(rows)],
            "lang.num": [rng.randrange(1, 40) for _ in range(rows)],
            "vpp_lic": [rng.choice((0, 1, 1, 1)) for _ in range(rows)],
        }
    ).select(COLUMNS)
