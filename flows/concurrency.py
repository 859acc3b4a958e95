"""The Prefect global concurrency limit on X API requests in flight (`x-api`), kept honest.

Every run takes its slots with a lease (`SLOT_LEASE_SECONDS`), which the server repossesses when
its holder dies. A server that forgets its leases (Prefect 3.9's default, in-memory lease
storage, restarted) leaves their slots taken for good, and every later night would wait on a
full limit: the README's server runs with the filesystem lease storage, and appbuzz gives back
the slots of a limit no run of `app-mentions` can hold (none is running), in `appbuzz setup` and
before a night takes its first slot.

No request waits for its slot without end: a full limit, or a Prefect server away (restarting),
is waited for `SLOT_WAIT_SECONDS` at most, after which the night stops counting and fails with
one line (`XSlotUnavailable`). A slot that cannot be given back is logged; its lease ends it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from functools import partial
from uuid import UUID

from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.actions import (
    GlobalConcurrencyLimitCreate,
    GlobalConcurrencyLimitUpdate,
)
from prefect.client.schemas.filters import (
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.concurrency.sync import concurrency
from prefect.exceptions import ObjectNotFound

from flows.liveness import Liveness
from flows.run_log import run_logger
from transforms.errors import AppbuzzError, XSlotUnavailable

FLOW = "app-mentions"
# How long a slot stays taken when its holder dies without giving it back (a killed worker):
# the server's minimum (Prefect's default is 5 min), so a crashed night's slots come back about
# when the night is marked Crashed and restarted, not minutes later. Prefect renews the lease
# while a request is still running.
SLOT_LEASE_SECONDS = 60
# The longest a request waits for its slot, the Prefect server's restarts included: a night
# that cannot get one in this time stops counting and fails with one line (never waits for
# ever on a limit nobody gives back), retrying the server every `SLOT_RETRY_SECONDS`.
SLOT_WAIT_SECONDS = 300
SLOT_RETRY_SECONDS = 3.0
# a run in one of these may hold slots of the limit
HOLDING = [StateType.PENDING, StateType.RUNNING, StateType.CANCELLING]


def ensure_limit(client: SyncPrefectClient, name: str, limit: int) -> str:
    """The limit exists with `limit` slots, and none of them is stale."""
    try:
        current = client.read_global_concurrency_limit_by_name(name)
    except ObjectNotFound:
        client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=limit))
        return f"concurrency limit {name}: created, {limit}"
    given_back = release_stale_slots(client, name)
    stale = f"; {given_back} stale slot(s) given back" if given_back else ""
    if current.limit == limit:
        return f"concurrency limit {name}: kept, {limit}{stale}"
    client.update_global_concurrency_limit(name, GlobalConcurrencyLimitUpdate(limit=limit))
    return f"concurrency limit {name}: {current.limit} -> {limit}{stale}"


def release_stale_slots(client: SyncPrefectClient, name: str, this_run: UUID | None = None) -> int:
    """Give back the limit's taken slots when no run of `app-mentions` but `this_run` is in a
    state that could hold them; how many were given back."""
    taken = client.read_global_concurrency_limit_by_name(name).active_slots
    if taken == 0:
        return 0
    holders = client.read_flow_runs(
        flow_filter=FlowFilter(name=FlowFilterName(any_=[FLOW])),
        flow_run_filter=FlowRunFilter(
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=HOLDING))
        ),
    )
    if any(run.id != this_run for run in holders):
        return 0
    client.update_global_concurrency_limit(name, GlobalConcurrencyLimitUpdate(active_slots=0))
    return taken


def x_api_slot(
    name: str, this_run: UUID | None, liveness: Liveness | None = None
) -> Callable[[], AbstractContextManager[object]] | None:
    """A slot of the limit `name` for each X request, if the server has the limit active; its
    stale slots given back first, so no night waits on holders that are gone."""
    try:
        with get_client(sync_client=True) as client:
            limit = client.read_global_concurrency_limit_by_name(name)
            given_back = release_stale_slots(client, name, this_run) if limit.active else 0
    except ObjectNotFound:
        return None
    if not limit.active:
        return None
    if given_back:
        run_logger().warning(
            "concurrency limit %r: %d slot(s) held by no running night given back "
            "(a Prefect server that forgot its leases)", name, given_back,
        )  # fmt: skip
    return partial(shared_slot, name, liveness)


@contextmanager
def shared_slot(name: str, liveness: Liveness | None = None) -> Iterator[None]:
    """One slot of the limit `name` for one X request, waited for `SLOT_WAIT_SECONDS` at most
    (a full limit, or a Prefect server away: its restart is waited out, retried every few
    seconds), else `XSlotUnavailable`, which stops the run's counts with one line. A slot that
    cannot be given back (the server away as the request ends) is logged, not raised: its lease
    ends within `SLOT_LEASE_SECONDS` and the server takes it back."""
    if liveness is not None:
        liveness.check()
    deadline = time.monotonic() + SLOT_WAIT_SECONDS
    slot = _acquired(name, deadline)
    try:
        yield
    finally:
        try:
            slot.__exit__(None, None, None)
        except Exception as error:
            run_logger().warning(
                "concurrency limit %r: a slot not given back (%s); its lease ends within %d s",
                name, _one_line(error), SLOT_LEASE_SECONDS,
            )  # fmt: skip


def _acquired(name: str, deadline: float) -> AbstractContextManager[None]:
    """The slot, entered; the server's faults retried until `deadline`."""
    told = False
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise XSlotUnavailable(
                f"no slot of the Prefect concurrency limit {name!r} within {SLOT_WAIT_SECONDS} s "
                "(the limit full or the Prefect server away): counting stopped, the counts "
                "so far kept"
            )
        slot = concurrency(
            name, occupy=1, strict=True, lease_duration=SLOT_LEASE_SECONDS, timeout_seconds=left,
            # a renewal that fails while the server restarts must not end the request
            raise_on_lease_renewal_failure=False,
        )  # fmt: skip
        try:
            slot.__enter__()
            return slot
        except TimeoutError:
            continue  # the deadline has passed: the loop says so
        except AppbuzzError:
            raise
        except Exception as error:  # the server away or restarting: wait it out
            if not told:
                run_logger().warning(
                    "concurrency limit %r: the Prefect server did not answer (%s); retrying "
                    "for up to %d s", name, _one_line(error), SLOT_WAIT_SECONDS,
                )  # fmt: skip
                told = True
            time.sleep(min(SLOT_RETRY_SECONDS, max(0.0, deadline - time.monotonic())))


def _one_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
