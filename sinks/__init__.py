"""Writing: the database (SQLAlchemy Core), output files, Prefect artifacts."""
