"""Benchmarks, run on demand with `python -m bench` (never part of the test suite's timing).

Inputs are built at run time from ../shared/data/AppleStore.csv into a temporary folder; every
target is a ratio against a baseline measured in the same run.
"""
