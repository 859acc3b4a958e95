"""The Prefect flow (wiring only), its settings and the `appbuzz` command line."""
