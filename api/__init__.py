"""The read-only HTTP service over appbuzz's tables (the original web app's routes, and more)."""
