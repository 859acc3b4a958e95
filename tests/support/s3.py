"""S3-compatible object storage for the tests: moto's standalone server (`moto[server]`, a dev
dependency) as a process of its own on 127.0.0.1 and a free port, reached over real HTTP by
boto3 and by appbuzz's workers alike; never an in-process mock of boto. Stopped with the test."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.services import free_port
from tests.support.polling import wait_for
from tests.support.processes import stop_group

REGION = "us-east-1"


@dataclass(frozen=True)
class ObjectStore:
    """A running moto server: its endpoint, the credentials it takes (any), one bucket."""

    endpoint: str
    bucket: str
    access_key_id: str
    secret_access_key: str

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3", endpoint_url=self.endpoint, region_name=REGION,
            aws_access_key_id=self.access_key_id, aws_secret_access_key=self.secret_access_key,
        )  # fmt: skip

    def keys(self, prefix: str = "") -> list[str]:
        """Every object key in the bucket under `prefix`, sorted."""
        pages = (
            self.client()
            .get_paginator("list_objects_v2")
            .paginate(Bucket=self.bucket, Prefix=prefix)
        )
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))

    def read(self, key: str) -> bytes:
        body = self.client().get_object(Bucket=self.bucket, Key=key)["Body"]
        return bytes(body.read())

    def env(self) -> dict[str, str]:
        """The standard AWS variables pointing at this server."""
        return {
            "AWS_ENDPOINT_URL_S3": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_DEFAULT_REGION": REGION,
        }


@contextmanager
def moto_server(log: Path, secret: str | None = None) -> Iterator[ObjectStore]:
    """`python -m moto.server` on 127.0.0.1, with one empty bucket; `secret` is the secret
    access key the clients use (moto takes any: a canary can be traced)."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=sink, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:

        def ready() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"moto_server exited:\n{log.read_text(errors='replace')}")
            try:
                return httpx.get(f"{endpoint}/moto-api/", timeout=2).status_code < 500
            except httpx.HTTPError:
                return False

        wait_for(ready, timeout=60, what="moto_server to answer", interval=0.2)
        store = ObjectStore(endpoint, f"appbuzz-{uuid.uuid4().hex[:8]}", "AKIATESTTESTTEST",
                            secret or f"secret-{uuid.uuid4().hex}")  # fmt: skip
        store.client().create_bucket(Bucket=store.bucket)
        yield store
    finally:
        stop_group(process, grace=5)
