"""The `appbuzz` command line: the top of the layers, above the flow and the API."""
