"""`appbuzz setup`: prepare a Prefect server for appbuzz, safe to repeat.

Creates what is missing and brings what exists to what the code says: the process work pool,
the global concurrency limit for the X API, the notification block (from APPBUZZ_ALERT_WEBHOOK_URL
when set), the automations of `flows.automations`, one of each by name, and (asked with
`--x-token-from-env`) the Secret block APPBUZZ_X_TOKEN_BLOCK holding X_BEARER_TOKEN; with
APPBUZZ_RESULTS_URL set, the object storage block the workers keep task results in
(`flows.results`: the bucket, the endpoint and credentials of the standard AWS variables).
"""

from __future__ import annotations

import argparse
import sys
from uuid import UUID

import httpx
from prefect.blocks.notifications import CustomWebhookNotificationBlock
from prefect.blocks.system import Secret
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.events.schemas.automations import AutomationCore
from prefect.exceptions import ObjectNotFound, PrefectHTTPStatusError
from prefect.settings import get_current_settings
from pydantic import SecretStr

from flows.automations import PREFIX, automations
from flows.concurrency import ensure_limit
from flows.results import ensure_results_block
from flows.settings import Settings, read_settings
from transforms.errors import SettingInvalid

DEFAULT_TOKEN_BLOCK = "appbuzz-x-token"


def ensure_work_pool(client: SyncPrefectClient, name: str) -> str:
    try:
        client.read_work_pool(name)
        return f"work pool {name}: kept"
    except ObjectNotFound:
        from prefect.workers.process import ProcessWorker

        template = ProcessWorker.get_default_base_job_template()
        client.create_work_pool(
            WorkPoolCreate(name=name, type="process", base_job_template=template)
        )
        return f"work pool {name}: created"


def ensure_alert_block(client: SyncPrefectClient, settings: Settings) -> tuple[UUID | None, str]:
    """The block the alerts go to: written from the webhook URL when it is set, otherwise any
    notification block already saved under the name (Slack, e-mail, ... made in the UI)."""
    name = settings.alert_block
    if settings.alert_webhook_url is not None:
        block = CustomWebhookNotificationBlock.model_validate(
            {
                "name": name,
                "url": settings.alert_webhook_url.get_secret_value(),
                "method": "POST",
                "json_data": {"subject": "{{subject}}", "body": "{{body}}"},
            }
        )
        block_id = block.save(name, overwrite=True)
        assert isinstance(block_id, UUID)
        return block_id, f"notification block {name}: webhook from APPBUZZ_ALERT_WEBHOOK_URL"
    for document in client.read_block_documents(include_secrets=False):
        schema = document.block_schema
        if document.name == name and schema is not None and "notify" in schema.capabilities:
            return document.id, f"notification block {name}: kept ({document.block_type_name})"
    return None, (
        "notifications: off (set APPBUZZ_ALERT_WEBHOOK_URL, or save a notification block "
        f"named {name}, and run setup again)"
    )


def apply_automations(client: SyncPrefectClient, wanted: list[AutomationCore]) -> list[str]:
    """One automation per name: the first of a name is updated, extra copies and appbuzz
    automations no longer wanted are deleted."""
    said = []
    names = {a.name for a in wanted}
    for automation in wanted:
        existing = client.read_automations_by_name(automation.name)
        if existing:
            client.update_automation(existing[0].id, automation)
            for extra in existing[1:]:
                client.delete_automation(extra.id)
            said.append(f"automation {automation.name!r}: updated")
        else:
            client.create_automation(automation)
            said.append(f"automation {automation.name!r}: created")
    for stale in client.read_automations():
        if stale.name.startswith(PREFIX) and stale.name not in names:
            client.delete_automation(stale.id)
            said.append(f"automation {stale.name!r}: deleted")
    return said


def store_x_token(token: SecretStr, block: str | None) -> str:
    """The token into the Secret block `block` (default `appbuzz-x-token`), so workers need no
    token of their own; the value is never printed."""
    name = block or DEFAULT_TOKEN_BLOCK
    Secret(value=token).save(name, overwrite=True)
    hint = "" if block else f" (set APPBUZZ_X_TOKEN_BLOCK={name} on the workers)"
    return f"secret block {name}: X_BEARER_TOKEN stored{hint}"


def setup(settings: Settings, x_token: SecretStr | None = None) -> list[str]:
    """Bring the server of PREFECT_API_URL to what appbuzz needs (and store `x_token` in the
    Secret block, when given); one line per thing done."""
    with get_client(sync_client=True) as client:
        lines = [
            ensure_work_pool(client, settings.work_pool),
            ensure_limit(client, settings.x_concurrency_limit, settings.x_api_limit),
        ]
        if x_token is not None:
            lines.append(store_x_token(x_token, settings.x_token_block))
        if settings.results_url is not None:  # the workers' results on object storage
            lines.append(ensure_results_block(settings.results_url))
        block_id, said = ensure_alert_block(client, settings)
        lines.append(said)
        lines += apply_automations(client, automations(settings, block_id))
    return lines


def setup_command(args: argparse.Namespace) -> int:
    """The CLI's `setup`: one line per thing done; a missing or unreachable server is one line."""
    try:
        settings = read_settings().overridden(x_api_limit=args.x_api_limit)
        token = settings.x_bearer_token if args.x_token_from_env else None
        if args.x_token_from_env and token is None:
            raise SettingInvalid("--x-token-from-env: X_BEARER_TOKEN is not set")
    except SettingInvalid as error:
        print(f"appbuzz: {error}", file=sys.stderr)
        return 2
    if not get_current_settings().api.url:
        print("appbuzz: setup needs a Prefect server: set PREFECT_API_URL", file=sys.stderr)
        return 2
    try:
        lines = setup(settings, token)
    except (httpx.HTTPError, PrefectHTTPStatusError) as error:
        print(
            f"appbuzz: the Prefect server at {get_current_settings().api.url} said: {error}",
            file=sys.stderr,
        )
        return 1
    for line in lines:
        print(f"appbuzz: {line}")
    return 0
