"""`python -m bench [--quick] [--only NAME ...]`: run the benchmarks, print tables and targets.

Each benchmark is a module in `MODULES` with a `run(quick: bool) -> bool` function (True when
every target it checks passes) that prints its own table. A module that is not there (say,
a benchmark another branch adds) is reported and skipped; a module that is there but fails to
import is an error. Exit status: 0 when every target passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import signal
import sys
import time

# Add a benchmark by writing bench/<name>.py with `run(quick: bool) -> bool` and listing it here.
MODULES: tuple[str, ...] = (
    "bench.pipeline",
    "bench.overhead",
    "bench.x_api",
    "bench.serve",
    "bench.spikes",
    "bench.scaling",
    "bench.soak",
)
# run only when named (`--only soak`): a quarter of an hour on the deployed stack
ON_DEMAND: tuple[str, ...] = ("bench.soak",)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="x1 and x100, one run per case: an indicative check in about two minutes")  # fmt: skip
    parser.add_argument("--only", action="append", metavar="NAME",
                        help="run only these benchmarks (e.g. pipeline, x_api); repeatable")  # fmt: skip
    args = parser.parse_args(argv)
    # stopped from outside (kill, or Ctrl-C in a job where SIGINT is ignored): unwind normally,
    # so the Prefect server and the scratch databases a benchmark started are cleaned up
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    chosen = [
        m
        for m in MODULES
        if (m.rsplit(".", 1)[-1] in args.only if args.only else m not in ON_DEMAND)
    ]
    results: dict[str, bool | None] = {}
    for name in chosen:
        if importlib.util.find_spec(name) is None:
            print(f"== {name}: not present, skipped\n")
            results[name] = None
            continue
        module = importlib.import_module(name)
        print(f"== {name}")
        started = time.perf_counter()
        results[name] = bool(module.run(quick=args.quick))
        print(f"== {name}: {'all targets met' if results[name] else 'TARGETS MISSED'} "
              f"({time.perf_counter() - started:.0f} s)\n")  # fmt: skip
    return 0 if all(r is not False for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
