"""The Prefect automations that keep the nightly job healthy, as code (`appbuzz setup` applies them).

Prefect Cloud detects unresponsive runs by itself; a self-hosted server does only what its
automations say. These cover the nights nobody watches:

- a run of `app-mentions` whose heartbeats stop (worker killed, machine gone) is marked `Crashed`;
- a run of `app-mentions` that reports no progress (`appbuzz.night.progress`: an app counted, a
  bounded wait announced) for `stall_after_seconds` is marked `Crashed` too, though its process
  still heartbeats (a night hung on something that never answers); the old process, finding
  its run given up, ends (`flows.liveness`);
- a crashed run of `app-mentions/nightly` is scheduled again, the same flow run (same parameters,
  same scheduled date, so the same night), at most `max_restarts` times; the ledger of counts
  in the database holds what was counted, so it asks only for apps not yet counted;
- a run that ends `Failed` (any failed state, `Rejected` too) or `Crashed` sends one notification;
- a nightly run that started (or went `Late`, nobody took it) without a run of `nightly`
  `Completed` within `night_deadline_seconds` sends the same kind of notification;
- each spike event (`appbuzz.mentions.spike`: an app's day far above its usual day) sends one
  message naming the app, the day, the count and the baseline, with a link to the app's page.
"""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from prefect.client.schemas.objects import StateType
from prefect.events.actions import ChangeFlowRunState, SendNotification
from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture
from prefect.events.schemas.events import ResourceSpecification

from flows.progress import PROGRESS_EVENT
from flows.settings import Settings
from sinks.events import SPIKE_EVENT

FLOW = "app-mentions"
DEPLOYMENT = "nightly"
PREFIX = "appbuzz: "
CRASH_SILENT = f"{PREFIX}silent run -> Crashed"
CRASH_STALLED = f"{PREFIX}stalled night -> Crashed"
RESTART_CRASHED = f"{PREFIX}restart a crashed night"
NOTIFY_FAILED = f"{PREFIX}notify a failed or crashed run"
NOTIFY_MISSED = f"{PREFIX}notify a missed night"
NOTIFY_SPIKE = f"{PREFIX}notify a spike"

TERMINAL = ("Completed", "Failed", "Cancelled", "Crashed")


def _of_app_mentions(
    deployment: str | None,
) -> list[ResourceSpecification | dict[str, str | list[str]]]:
    """Related-resource filters: runs of the flow from a deployment (all, or the named one)."""
    named = {} if deployment is None else {"prefect.resource.name": deployment}
    return [
        ResourceSpecification.model_validate(
            {"prefect.resource.role": "flow", "prefect.resource.name": FLOW}
        ),
        ResourceSpecification.model_validate({"prefect.resource.role": "deployment", **named}),
    ]


def _runs(**more: str | list[str]) -> ResourceSpecification:
    """Flow runs, with more labels of the event's resource (`prefect.state-type`, ...)."""
    return ResourceSpecification.model_validate(
        {"prefect.resource.id": "prefect.flow-run.*", **more}
    )


_HEAD = (
    "Deployment: {{ flow.name }}/{{ deployment.name }}\n"
    "Night: {{ flow_run.expected_start_time.strftime('%Y-%m-%d') }} (run {{ flow_run.name }})\n"
)
_LINK = "Run: {{ flow_run|ui_url }}\n"
# the state as the event saw it: by the time this renders, a restart may have rescheduled the run
_FAILED_BODY = (
    _HEAD + "State: {{ event.resource['prefect.state-name'] }} (attempt "
    "{{ event.resource['prefect.run-count'] }})\n"
    "Message: {{ event.resource['prefect.state-message'] }}\n" + _LINK
)
_MISSED_BODY = (
    _HEAD + "State now: {{ flow_run.state.name }} (attempt {{ flow_run.run_count }})\n"
    "Message: {{ flow_run.state.message }}\n" + _LINK
)


def crash_silent_runs(settings: Settings) -> AutomationCore:
    """The heartbeat check: after a heartbeat, another heartbeat or an end within the window."""
    return AutomationCore(
        name=CRASH_SILENT,
        description="A run of app-mentions that stopped sending heartbeats is marked Crashed.",
        trigger=EventTrigger(
            posture=Posture.Proactive,
            match=_runs(),
            match_related=_of_app_mentions(None),
            after={"prefect.flow-run.heartbeat"},
            expect={"prefect.flow-run.heartbeat", *(f"prefect.flow-run.{s}" for s in TERMINAL)},
            for_each={"prefect.resource.id"},
            threshold=1,
            within=timedelta(seconds=settings.crash_after_seconds),
        ),
        actions=[
            ChangeFlowRunState(
                name=None,
                force=False,
                state=StateType.CRASHED,
                message=f"no heartbeat for {settings.crash_after_seconds} s: the worker or its "
                "machine stopped",
            )
        ],
    )


def crash_stalled_nights(settings: Settings) -> AutomationCore:
    """The progress check: after the run starts running or reports progress, more progress or
    an end within the window; a run that went on heartbeating without any is given up."""
    minutes = settings.stall_after_seconds / 60
    return AutomationCore(
        name=CRASH_STALLED,
        description=f"A running night of {FLOW} with no progress for {minutes:g} min is "
        "marked Crashed (then restarted and alerted as any crash).",
        trigger=EventTrigger(
            posture=Posture.Proactive,
            match=_runs(),
            match_related=_of_app_mentions(None),
            after={"prefect.flow-run.Running", PROGRESS_EVENT},
            expect={PROGRESS_EVENT, *(f"prefect.flow-run.{s}" for s in TERMINAL)},
            for_each={"prefect.resource.id"},
            threshold=1,
            within=timedelta(seconds=settings.stall_after_seconds),
        ),
        actions=[
            ChangeFlowRunState(
                name=None,
                force=False,
                state=StateType.CRASHED,
                message=f"no progress for {settings.stall_after_seconds} s: the night was "
                "stalled (its process still running)",
            )
        ],
    )


def restart_crashed_nights(settings: Settings) -> AutomationCore:
    """Schedules the same flow run again, as `prefect flow-run retry` does: its parameters and
    its scheduled date (the night) are kept; `prefect.run-count` bounds the restarts."""
    attempts = [str(n) for n in range(1, settings.max_restarts + 1)]
    return AutomationCore(
        name=RESTART_CRASHED,
        description=f"A crashed run of {FLOW}/{DEPLOYMENT} runs again, at most "
        f"{settings.max_restarts} times, asking X only for apps the ledger does not hold.",
        enabled=settings.max_restarts > 0,
        trigger=EventTrigger(
            posture=Posture.Reactive,
            match=_runs(**{"prefect.run-count": attempts or ["0"]}),
            match_related=_of_app_mentions(DEPLOYMENT),
            expect={"prefect.flow-run.Crashed"},
            threshold=1,
            within=timedelta(0),
        ),
        actions=[
            ChangeFlowRunState(
                state=StateType.SCHEDULED,
                name="AwaitingRetry",
                message=f"restarted after a crash (at most {settings.max_restarts} times)",
                force=True,
            )
        ],
    )


def notify_failed_runs(block_id: UUID) -> AutomationCore:
    return AutomationCore(
        name=NOTIFY_FAILED,
        description=f"One notification per failed or crashed run of {FLOW}.",
        trigger=EventTrigger(
            posture=Posture.Reactive,
            match=_runs(**{"prefect.state-type": ["FAILED", "CRASHED"]}),
            match_related=_of_app_mentions(None),
            expect={"prefect.flow-run.*"},
            threshold=1,
            within=timedelta(0),
        ),
        actions=[
            SendNotification(
                block_document_id=block_id,
                subject="appbuzz: {{ flow.name }}/{{ deployment.name }} run "
                "{{ flow_run.name }} ended {{ event.resource['prefect.state-name'] }}",
                body=_FAILED_BODY,
            )
        ],
    )


def notify_missed_nights(settings: Settings, block_id: UUID) -> AutomationCore:
    """Started (Pending: a worker took it) or `Late` (nobody did): some run of the deployment
    must reach `Completed` within the deadline, or the night is reported missed."""
    hours = settings.night_deadline_seconds / 3600
    return AutomationCore(
        name=NOTIFY_MISSED,
        description=f"No run of {FLOW}/{DEPLOYMENT} Completed within {hours:g} h of the "
        "night's run starting or going late.",
        trigger=EventTrigger(
            posture=Posture.Proactive,
            match=_runs(),
            match_related=_of_app_mentions(DEPLOYMENT),
            after={"prefect.flow-run.Pending", "prefect.flow-run.Late"},
            expect={"prefect.flow-run.Completed"},
            # one window per deployment, opened by the night's first run: any of its runs may
            # complete it. (Without `for_each` Prefect keeps a window open from the moment the
            # automation loads, with no run to name, and fires at its end.)
            for_each={"related:deployment:prefect.resource.id"},
            threshold=1,
            within=timedelta(seconds=settings.night_deadline_seconds),
        ),
        actions=[
            SendNotification(
                block_document_id=block_id,
                subject="appbuzz: missed night: {{ flow.name }}/{{ deployment.name }} has no "
                f"Completed run {hours:g} h after it was due",
                body=_MISSED_BODY,
            )
        ],
    )


_SPIKE_BODY = (
    "{{ event.resource['prefect.resource.name'] }} (app {{ event.payload.app_id }}): "
    "{{ event.payload.count }} mentions on {{ event.payload.day }}, against a usual "
    "{{ event.payload.median | round | int }} ({{ event.payload.baseline }} baseline of "
    "{{ event.payload.baseline_days }} days; robust score {{ event.payload.score | round(1) }})\n"
    "Night: {{ event.payload.snapshot_date }}, {{ event.payload.selection }}\n"
    "{% if event.payload.link %}App: {{ event.payload.link }}{% else %}App page: set "
    "APPBUZZ_DASHBOARD_URL on the workers for a link{% endif %}\n"
)


def notify_spikes(block_id: UUID) -> AutomationCore:
    """One message per spike event, as it comes (no batching: each names its app and day)."""
    return AutomationCore(
        name=NOTIFY_SPIKE,
        description="One notification per appbuzz.mentions.spike event: the app, the day, its "
        "count and the baseline it was judged on, with a link to the app's page.",
        trigger=EventTrigger(
            posture=Posture.Reactive,
            match=ResourceSpecification.model_validate({"prefect.resource.id": "appbuzz.app.*"}),
            expect={SPIKE_EVENT},
            threshold=1,
            within=timedelta(0),
        ),
        actions=[
            SendNotification(
                block_document_id=block_id,
                subject="appbuzz: spike: {{ event.resource['prefect.resource.name'] }}, "
                "{{ event.payload.count }} mentions on {{ event.payload.day }}",
                body=_SPIKE_BODY,
            )
        ],
    )


def automations(settings: Settings, block_id: UUID | None) -> list[AutomationCore]:
    """Everything `appbuzz setup` keeps on the server; notifications only with a block."""
    wanted = [
        crash_silent_runs(settings),
        crash_stalled_nights(settings),
        restart_crashed_nights(settings),
    ]
    if block_id is not None:
        wanted += [
            notify_failed_runs(block_id),
            notify_missed_nights(settings, block_id),
            notify_spikes(block_id),
        ]
    return wanted
