"""The `x-api` limit's slots that no night holds are given back (what a Prefect server that forgot
its leases leaves: taken slots, nobody to free them), and never while a night may hold them."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from prefect import flow
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
from prefect.states import Completed, Crashed, Running

from flows.concurrency import (
    FLOW,
    HOLDING,
    ensure_limit,
    release_stale_slots,
    shared_slot,
    x_api_slot,
)
from flows.liveness import Liveness
from transforms.errors import XSlotUnavailable

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture
def client() -> Iterator[SyncPrefectClient]:
    with get_client(sync_client=True) as client:
        yield client


def end_leftover_nights(client: SyncPrefectClient) -> None:
    """Nights that earlier tests' killed processes left `Running` on the session's server end
    `Crashed`, as the crash automation ends them on a production server."""
    leftovers = client.read_flow_runs(
        flow_filter=FlowFilter(name=FlowFilterName(any_=[FLOW])),
        flow_run_filter=FlowRunFilter(
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=HOLDING))
        ),
    )
    for run in leftovers:
        client.set_flow_run_state(run.id, Crashed(), force=True)


@pytest.fixture
def stale_limit(client: SyncPrefectClient) -> Iterator[str]:
    """A limit whose five slots are taken by leases the server no longer knows."""
    end_leftover_nights(client)
    name = f"x-api-{uuid.uuid4().hex[:8]}"
    client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=5))
    client.update_global_concurrency_limit(name, GlobalConcurrencyLimitUpdate(active_slots=5))
    yield name
    client.delete_global_concurrency_limit_by_name(name)


def taken(client: SyncPrefectClient, name: str) -> int:
    return client.read_global_concurrency_limit_by_name(name).active_slots


def test_setup_gives_back_the_slots_no_night_holds(
    client: SyncPrefectClient, stale_limit: str
) -> None:
    said = ensure_limit(client, stale_limit, 5)
    assert said == f"concurrency limit {stale_limit}: kept, 5; 5 stale slot(s) given back"
    assert taken(client, stale_limit) == 0


def test_a_night_about_to_count_gives_them_back_and_takes_its_own(
    client: SyncPrefectClient, stale_limit: str
) -> None:
    slot = x_api_slot(stale_limit, this_run=None)
    assert slot is not None and taken(client, stale_limit) == 0
    with slot():
        assert taken(client, stale_limit) == 1
    assert taken(client, stale_limit) == 0


def test_never_while_another_night_is_running(client: SyncPrefectClient, stale_limit: str) -> None:
    @flow(name=FLOW)
    def night() -> None: ...

    run = client.create_flow_run(night, state=Running())
    try:
        assert release_stale_slots(client, stale_limit, this_run=uuid.uuid4()) == 0
        assert taken(client, stale_limit) == 5  # the running night may hold them
        assert release_stale_slots(client, stale_limit, this_run=run.id) == 5  # only itself
    finally:
        client.set_flow_run_state(run.id, Completed(), force=True)


def take_a_slot(name: str) -> None:
    with shared_slot(name):
        pass


def test_a_full_limit_is_waited_for_a_bounded_time_then_stops_the_night(
    client: SyncPrefectClient, stale_limit: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Slots another running night holds: no slot within SLOT_WAIT_SECONDS is the night's one
    message (XSlotUnavailable), never a wait without end."""
    from flows import concurrency

    monkeypatch.setattr(concurrency, "SLOT_WAIT_SECONDS", 2)
    started = time.monotonic()
    expected = f"no slot of the Prefect concurrency limit '{stale_limit}' within 2 s"
    with pytest.raises(XSlotUnavailable, match=expected):
        take_a_slot(stale_limit)
    assert time.monotonic() - started < 30
    assert taken(client, stale_limit) == 5


def test_a_server_away_is_waited_out_then_stops_the_night(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The server refusing connections while a request waits for its slot: retried until the
    bounded wait ends, one warning line, then the one message."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from bench.services import free_port
    from flows import concurrency

    monkeypatch.setattr(concurrency, "SLOT_WAIT_SECONDS", 4)
    monkeypatch.setattr(concurrency, "SLOT_RETRY_SECONDS", 0.5)
    away = f"http://127.0.0.1:{free_port()}/api"
    with temporary_settings({PREFECT_API_URL: away}), pytest.raises(XSlotUnavailable):
        take_a_slot("x-api")
    told = [r for r in caplog.records if "did not answer" in r.getMessage()]
    assert len(told) == 1, told


def test_an_attempt_knows_when_the_server_gave_up_on_it(client: SyncPrefectClient) -> None:
    @flow(name=FLOW)
    def night() -> None: ...

    run = client.create_flow_run(night, state=Running())
    try:
        fresh = client.read_flow_run(run.id)
        assert Liveness(run.id, fresh.run_count).superseded() is None
        client.set_flow_run_state(run.id, Crashed(message="no progress"), force=True)
        said = Liveness(run.id, fresh.run_count).superseded()
        assert said is not None and "Crashed" in said and "no progress" in said
    finally:
        client.set_flow_run_state(run.id, Completed(), force=True)
    # a server that cannot say is no reason to stop a night
    assert Liveness(uuid.uuid4(), 1).superseded() is None
