"""The smallest Prefect flow worth timing: one flow, one task, nothing else.

`python -m bench.minimal_flow` runs it the way `appbuzz run` runs its flow (in process, against
whatever `PREFECT_API_URL` says, or a temporary server when it says nothing), so the difference
between the two is what appbuzz itself costs.
"""

from __future__ import annotations

from prefect import flow, task


@task
def one() -> int:
    return 1


@flow(name="bench-minimal")
def minimal() -> int:
    return one()


if __name__ == "__main__":
    minimal()
