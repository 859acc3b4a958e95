"""The test toolkit: one of each thing the tests need from the outside world.

- `environment`: the process environment without appbuzz's, X's and Twitter's settings;
- `postgres`: the local PostgreSQL server and scratch databases on it;
- `cli`: `appbuzz ...` as a subprocess (one run, many at once, or one to stop mid-way);
- `processes`: stopping a process group this test started;
- `requirements`: what the suite needs from the machine: a skip here, a failure in CI;
- `polling`: `wait_for`, waiting for another process without hanging the suite;
- `prefect`: the session's Prefect server and what it holds about runs;
- `catalogues`: generated catalogues of any size, and the real file for the few tests about it.
"""
