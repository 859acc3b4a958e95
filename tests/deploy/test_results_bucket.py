"""Results on object storage (`APPBUZZ_RESULTS_URL`): two process workers on hosts of their own
(their own Prefect home, their own empty results folder, no AWS variables: the block on the
server holds the endpoint and credentials) and one S3-compatible bucket, moto's standalone server
on 127.0.0.1 (tests/support/s3.py). A night whose worker is killed after three apps are counted
is resumed by the other worker: the three tasks are `Cached` from the objects in the bucket
(listed here, read back through the state Prefect recorded), X is asked for the seven others.
The secret access key is a canary found nowhere but in the block. About a minute.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest

from flows.results import RESULTS_BLOCK, RESULTS_SLUG
from sinks.tables import app_mentions, appbuzz_runs, mention_ledger
from tests.deploy.production import RUN_NOW, SETUP, Deployed, flow_run_id, worker_env
from tests.deploy.test_self_healing import kill_tree, settled_counts
from tests.fake_x_api import FakeXApi
from tests.secret_scan import _decoded_results, files_holding
from tests.support.polling import wait_for
from tests.support.postgres import table_rows
from tests.support.s3 import ObjectStore, moto_server

pytestmark = pytest.mark.postgres

PREFIX = "appbuzz/results"
HANG = 3600.0


@pytest.fixture
def bucket(tmp_path: Path, deployed: Deployed) -> ObjectStore:
    canary = f"canary-{uuid.uuid4().hex}"
    with moto_server(tmp_path / "moto.log", secret=canary) as store:
        yield store
    # the block and the limit `appbuzz setup` made on the session's server: gone for the others
    for document in deployed.prefect.call("POST", "/block_documents/filter", json={}):
        if document["name"] == RESULTS_BLOCK:
            deployed.prefect.call("DELETE", f"/block_documents/{document['id']}")
    deployed.prefect.call("DELETE", "/v2/concurrency_limits/x-api")


def host(fake: FakeXApi, postgres_url: str, machine: Path, url: str) -> dict[str, str]:
    """A worker on a machine of its own: its Prefect home and results folder, the bucket's URL,
    and no AWS variable (what it needs of the bucket is in the server's block)."""
    return {
        **worker_env(fake, postgres_url, machine),
        "PREFECT_HOME": str(machine / "prefect-home"),
        "APPBUZZ_RESULTS_DIR": str(machine / "results"),
        "APPBUZZ_RESULTS_URL": url,
    }


def files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


@pytest.mark.timeout(600)
def test_a_killed_night_resumes_on_another_host_from_the_bucket(
    deployed: Deployed,
    worker,
    bucket: ObjectStore,
    fake_x_api: FakeXApi,
    postgres_url: str,
    catalogue_csv: Path,
    tmp_path: Path,
) -> None:
    canary = bucket.secret_access_key
    url = f"s3://{bucket.bucket}/{PREFIX}/"  # a trailing slash is the same place
    setup = deployed.shell.with_env(APPBUZZ_RESULTS_URL=url, **bucket.env())
    first_setup = setup.run(SETUP).ok().output
    again = setup.run(SETUP).ok().output
    where = f"s3://{bucket.bucket}/{PREFIX} at {bucket.endpoint}"
    assert f"results storage {RESULTS_SLUG}: created ({where})" in first_setup, first_setup
    assert f"results storage {RESULTS_SLUG}: kept ({where})" in again, again
    assert canary not in first_setup + again

    began = time.monotonic()
    machine_a, machine_b = (host(fake_x_api, postgres_url, tmp_path / m, url) for m in "ab")
    hang = fake_x_api.script("slow", seconds=HANG, after=3, times=5)
    first = worker(**machine_a)
    shell = deployed.shell.with_env(CATALOGUE=str(catalogue_csv))
    run_id = flow_run_id(shell.run(RUN_NOW.replace(" --watch", "")).ok().output)
    wait_for(
        lambda: fake_x_api.in_flight >= 1
        and settled_counts(postgres_url) == 3
        and len(bucket.keys(PREFIX)) == 3,
        timeout=180, interval=0.5,
        what="three apps counted, their results in the bucket, the run waiting on X",
    )  # fmt: skip
    written_by_a = bucket.keys(PREFIX)
    counted = {r.query for r in fake_x_api.requests if r.status == 200}
    print(f"\nMEASURED: three apps counted on host A in {time.monotonic() - began:.1f} s; "
          f"bucket: {written_by_a}")  # fmt: skip

    killed = time.time()
    kill_tree(first)  # host A is gone, its flow-run process with it
    hang.times = 0
    # what the crash automation does after 90 s of silence, done at once; `appbuzz setup`'s
    # restart automation then schedules the night again, and host B takes it
    deployed.prefect.call(
        "POST", f"/flow_runs/{run_id}/set_state",
        json={"state": {"type": "CRASHED", "message": "host A was killed"}, "force": True},
    )  # fmt: skip
    worker(**machine_b)
    resumed = time.monotonic()

    def ended() -> str | None:
        state = deployed.prefect.flow_run(run_id)["state"]
        return state["type"] if state["type"] in {"COMPLETED", "FAILED", "CANCELLED"} else None

    assert (
        wait_for(ended, timeout=240, interval=1, what="the restarted night to end") == "COMPLETED"
    )
    assert deployed.prefect.flow_run(run_id)["run_count"] == 2
    print(f"MEASURED: host B resumed the night to Completed in {time.monotonic() - resumed:.1f} s")

    # X was asked only for the seven apps host A had not counted, each once
    asked_after = [r.query for r in fake_x_api.requests if r.started > killed]
    assert len(asked_after) == 7 and not counted & set(asked_after), asked_after
    rows = table_rows(postgres_url, app_mentions, app_mentions.c.rank)
    assert len(rows) == 10 and {r["mention_status"] for r in rows} == {"ok"}
    assert all(r["n_citacoes"] == fake_x_api.total_for(r["mention_query"]) for r in rows)
    runs = table_rows(postgres_url, appbuzz_runs, appbuzz_runs.c.started_at)
    assert [(r["status"], r["x_requests"]) for r in runs] == [("completed", 7)]

    # the three came from the bucket: host B's tasks are `Cached`, their state points at the
    # objects host A wrote (the block on the server, the key in the bucket)
    tasks = [t for t in deployed.prefect.task_runs(run_id) if t["name"].startswith("count-")]
    states = Counter(t["state_name"] for t in tasks)
    print(f"MEASURED: task states {dict(states)}; X asked {len(asked_after)} time(s) on host B")
    cached = [t for t in tasks if t["state_name"] == "Cached"]
    assert len(cached) == 3, states
    (block,) = [
        d
        for d in deployed.prefect.call("POST", "/block_documents/filter", json={})
        if d["name"] == RESULTS_BLOCK
    ]
    read = []
    for task in cached:
        data = deployed.prefect.call("GET", f"/task_run_states/{task['state_id']}")["data"]
        assert data["storage_block_id"] == block["id"], data
        key = data["storage_key"]
        read.append(key if key.startswith(f"{PREFIX}/") else f"{PREFIX}/{key}")
    print(f"MEASURED: host B's cached tasks read {sorted(read)}")
    assert sorted(read) == written_by_a, (read, written_by_a)
    every = bucket.keys(PREFIX)
    assert len(every) == 10 and set(written_by_a) <= set(every)
    print(f"MEASURED: bucket {bucket.bucket} holds {len(every)} result objects under {PREFIX}/")
    # the hosts kept nothing of their own: no local result anywhere
    for machine in (tmp_path / "a", tmp_path / "b"):
        assert files_under(machine / "results") == []
        assert files_under(machine / "prefect-home" / "storage") == []

    # the secret access key is in the block only: not in a log, an artifact, a table, an object
    records = deployed.prefect.records(run_id)
    assert len(records["logs"]) > 10 and len(records["artifacts"]) >= 2
    assert canary not in json.dumps(records)
    tables = [table_rows(postgres_url, t) for t in (app_mentions, appbuzz_runs, mention_ledger)]
    assert canary not in repr(tables)
    objects = {k: bucket.read(k) for k in every}
    assert not [k for k, v in objects.items() if canary.encode() in v + _decoded_results(v)]
    hits, seen = files_holding(canary, [tmp_path])  # worker logs, homes, moto's log
    assert hits == [] and seen > 3
