"""Where Prefect keeps the count tasks' results and cache records: a local folder by default
(`APPBUZZ_RESULTS_DIR`, or Prefect's own), or S3-compatible object storage
(`APPBUZZ_RESULTS_URL=s3://bucket[/prefix]`) that every host reads alike.

Object storage is a Prefect block saved on the server, prefect-aws's `S3Bucket` named
`appbuzz-results` (slug `s3-bucket/appbuzz-results`; Prefect reads a bare `s3://...` string as a
block slug, so the URL itself is never handed to Prefect). `appbuzz setup` saves it, idempotently,
from the URL and the standard AWS variables of the shell it runs in: the endpoint
(`AWS_ENDPOINT_URL_S3`, else `AWS_ENDPOINT_URL`; unset means AWS itself), `AWS_ACCESS_KEY_ID`,
`AWS_SECRET_ACCESS_KEY` (kept in the block as a secret) and `AWS_DEFAULT_REGION`. A worker needs
only the URL: it loads the block from the server, so a result one host wrote is read by any other.
The secret is never printed, logged or put in a table; only the endpoint and the bucket are named.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
from pydantic import SecretStr

from transforms.errors import SettingInvalid
from transforms.redaction import safe_url

if TYPE_CHECKING:  # prefect-aws (boto3) takes a second to import: only when the URL is set
    from prefect_aws import S3Bucket

RESULTS_BLOCK = "appbuzz-results"
RESULTS_SLUG = f"s3-bucket/{RESULTS_BLOCK}"
# The cache is an accelerator: storage that does not answer must not hold a night for minutes
# (botocore's defaults: 60 s per connection attempt). A read that fails is a cache miss (the
# ledger still holds the count), a write that fails is logged and the count goes on.
CLIENT = {"connect_timeout": 5, "read_timeout": 30, "retries": {"max_attempts": 3}}


@dataclass(frozen=True)
class Location:
    """A bucket and the folder in it, from `APPBUZZ_RESULTS_URL` (validated by the settings)."""

    bucket: str
    prefix: str

    @classmethod
    def of(cls, url: str) -> Location:
        parts = urlsplit(url)
        return cls(parts.netloc, parts.path.strip("/"))

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"


@dataclass(frozen=True)
class AwsEnvironment:
    """The standard AWS variables, as boto3 and the AWS CLI read them."""

    endpoint: str | None
    access_key_id: str | None
    secret_access_key: SecretStr | None
    region: str | None

    @classmethod
    def read(cls, environ: Mapping[str, str] | None = None) -> AwsEnvironment:
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        secret = get("AWS_SECRET_ACCESS_KEY")
        return cls(
            get("AWS_ENDPOINT_URL_S3") or get("AWS_ENDPOINT_URL"),
            get("AWS_ACCESS_KEY_ID"),
            SecretStr(secret) if secret else None,
            get("AWS_DEFAULT_REGION") or get("AWS_REGION"),
        )

    def __repr__(self) -> str:  # the secret stays out of any traceback or log
        return f"AwsEnvironment(endpoint={self.endpoint!r}, region={self.region!r})"


def results_block(location: Location, aws: AwsEnvironment) -> S3Bucket:
    """The block for `location`, reached with `aws`'s endpoint and credentials."""
    from prefect_aws import AwsClientParameters, AwsCredentials, S3Bucket

    credentials = AwsCredentials(
        aws_access_key_id=aws.access_key_id,
        aws_secret_access_key=aws.secret_access_key,
        region_name=aws.region,
        aws_client_parameters=AwsClientParameters(endpoint_url=aws.endpoint, config=CLIENT),
    )
    return S3Bucket(bucket_name=location.bucket, bucket_folder=location.prefix,
                    credentials=credentials)  # fmt: skip


def _shape(block: S3Bucket) -> tuple[Any, ...]:
    """What a saved block is compared on (the secret by value, never shown)."""
    from prefect_aws import AwsCredentials

    credentials = block.credentials
    assert isinstance(credentials, AwsCredentials)
    secret = credentials.aws_secret_access_key
    return (
        block.bucket_name,
        block.bucket_folder,
        credentials.aws_client_parameters.endpoint_url,
        credentials.aws_client_parameters.config,
        credentials.aws_access_key_id,
        secret.get_secret_value() if secret else None,
        credentials.region_name,
    )


def _saved() -> S3Bucket | None:
    """The server's `appbuzz-results` block, or None when it has none."""
    from prefect_aws import S3Bucket

    try:
        block = S3Bucket.load(RESULTS_BLOCK, _sync=True)  # type: ignore[call-arg]
    except ValueError:
        return None
    assert isinstance(block, S3Bucket)
    return block


def _where(location: Location, aws: AwsEnvironment) -> str:
    return f"{location} at {safe_url(aws.endpoint) if aws.endpoint else 'AWS'}"


def ensure_results_block(url: str, environ: Mapping[str, str] | None = None) -> str:
    """Save the block for `url` from the AWS variables, unless the server holds it as it is;
    one line saying which (no credential in it)."""
    location, aws = Location.of(url), AwsEnvironment.read(environ)
    wanted = results_block(location, aws)
    existing = _saved()
    if existing is not None and _shape(existing) == _shape(wanted):
        return f"results storage {RESULTS_SLUG}: kept ({_where(location, aws)})"
    wanted.save(RESULTS_BLOCK, overwrite=True)
    said = "created" if existing is None else "updated"
    return f"results storage {RESULTS_SLUG}: {said} ({_where(location, aws)})"


def object_storage(url: str) -> S3Bucket:
    """The server's block for `APPBUZZ_RESULTS_URL`, which the count tasks persist their
    results and cache records to (a folder, `APPBUZZ_RESULTS_DIR`, when the URL is unset). A
    block missing on the server is saved from this host's AWS variables when it has credentials
    (an `appbuzz run` on its own temporary server); otherwise, or for another bucket, one line."""
    location = Location.of(url)
    try:
        block = _saved()
        if block is None and AwsEnvironment.read().access_key_id is not None:
            ensure_results_block(url)
            block = _saved()
    except httpx.HTTPError as error:
        raise SettingInvalid(
            f"setting APPBUZZ_RESULTS_URL: the block {RESULTS_SLUG} cannot be read: the Prefect "
            f"server did not answer ({type(error).__name__})"
        ) from None
    if block is None:
        raise SettingInvalid(
            f"setting APPBUZZ_RESULTS_URL: the Prefect server has no block {RESULTS_SLUG} "
            f"(run `appbuzz setup` with APPBUZZ_RESULTS_URL={location} and the AWS variables)"
        )
    saved = Location(block.bucket_name, block.bucket_folder.strip("/"))
    if saved != location:
        raise SettingInvalid(
            f"setting APPBUZZ_RESULTS_URL: {location}, but the Prefect server's block "
            f"{RESULTS_SLUG} holds {saved} (run `appbuzz setup` with the URL the workers have)"
        )
    return block
