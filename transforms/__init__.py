"""Pure Polars: schemas, validation, ranking, query building. No I/O here."""
