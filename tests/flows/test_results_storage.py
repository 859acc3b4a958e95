"""`APPBUZZ_RESULTS_URL`: only `s3://bucket[/prefix]` is taken (one line otherwise); the block it
names is saved once from the AWS variables and kept after; a worker whose server lacks it, or
holds it for another bucket, is told in one line; the secret never shows. The block is saved on
the session's Prefect server (no object storage is reached: tests/deploy/test_results_bucket.py
does that, against moto's server)."""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.services import free_port
from flows.results import RESULTS_BLOCK, RESULTS_SLUG, AwsEnvironment, ensure_results_block
from flows.results import object_storage as storage_of
from flows.settings import check_results_url, read_settings
from tests.support.cli import Cli, Job
from transforms.errors import SettingInvalid

pytestmark = pytest.mark.usefixtures("clean_environment")


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("s3://appbuzz-results", "s3://appbuzz-results"),
        ("s3://appbuzz.results/nightly/", "s3://appbuzz.results/nightly"),
        ("s3://my-bucket/a/b/c", "s3://my-bucket/a/b/c"),
    ],
)
def test_an_s3_url_is_taken_as_a_bucket_and_a_prefix(given: str, kept: str) -> None:
    assert check_results_url(given) == kept


@pytest.mark.parametrize(
    "url",
    ["https://bucket/prefix", "bucket/prefix", "s3://", "s3://Bucket", "s3://ab", "s3://b..c",
     "s3://bucket/a//b", "s3://bucket/p?x=1", "s3://user:pw@bucket/p", "s3-bucket/appbuzz"],
)  # fmt: skip
def test_anything_else_is_refused_in_one_line(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("APPBUZZ_RESULTS_URL", url)
    with pytest.raises(SettingInvalid) as refused:
        read_settings()
    message = str(refused.value)
    assert "\n" not in message and "expected s3://bucket[/prefix]" in message, message
    assert message.startswith("setting results_url:")


def test_the_aws_variables_never_show_their_secret() -> None:
    aws = AwsEnvironment.read(
        {"AWS_ENDPOINT_URL": "http://127.0.0.1:9000", "AWS_SECRET_ACCESS_KEY": "canary-x",
         "AWS_ACCESS_KEY_ID": "AKIA", "AWS_DEFAULT_REGION": "eu-west-1"}
    )  # fmt: skip
    assert aws.endpoint == "http://127.0.0.1:9000" and aws.region == "eu-west-1"
    assert "canary" not in repr(aws) and "canary" not in str(aws)
    s3_first = AwsEnvironment.read(
        {"AWS_ENDPOINT_URL": "http://a:1", "AWS_ENDPOINT_URL_S3": "http://b:2"}
    )
    assert s3_first.endpoint == "http://b:2"


@pytest.fixture
def no_block(prefect_harness: None) -> Iterator[None]:
    """The session's server without an `appbuzz-results` block, before and after."""
    from prefect_aws import S3Bucket

    def drop() -> None:
        with contextlib.suppress(ValueError):
            S3Bucket.delete(RESULTS_BLOCK, _sync=True)  # type: ignore[call-arg]

    drop()
    yield
    drop()


@pytest.mark.usefixtures("no_block")
def test_setup_saves_the_block_once_and_workers_find_it_or_are_told(
    capsys: pytest.CaptureFixture[str],
) -> None:
    secret = f"canary-{uuid.uuid4().hex}"
    aws = {"AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9", "AWS_ACCESS_KEY_ID": "AKIA",
           "AWS_SECRET_ACCESS_KEY": secret, "AWS_DEFAULT_REGION": "us-east-1"}  # fmt: skip
    with pytest.raises(SettingInvalid, match=f"has no block {RESULTS_SLUG}.*appbuzz setup"):
        storage_of("s3://appbuzz-results/nightly")
    said = [ensure_results_block("s3://appbuzz-results/nightly", aws) for _ in range(2)]
    where = "s3://appbuzz-results/nightly at http://127.0.0.1:9"
    assert said == [
        f"results storage {RESULTS_SLUG}: created ({where})",
        f"results storage {RESULTS_SLUG}: kept ({where})",
    ]
    block = storage_of("s3://appbuzz-results/nightly")
    assert (block.bucket_name, block.bucket_folder) == ("appbuzz-results", "nightly")
    assert block._block_document_id is not None  # saved: another host reads what it points at
    with pytest.raises(SettingInvalid, match="holds s3://appbuzz-results/nightly"):
        storage_of("s3://other-bucket/nightly")
    rotated = {**aws, "AWS_SECRET_ACCESS_KEY": f"{secret}-2"}
    assert "updated" in ensure_results_block("s3://appbuzz-results/nightly", rotated)
    out = capsys.readouterr()
    assert secret not in out.out + out.err + repr(block) + str(said)


def test_object_storage_that_does_not_answer_slows_no_night_and_loses_no_count(
    catalogue_csv: Path, cli_x_env, tmp_path: Path
) -> None:
    """The bucket's endpoint refuses connections: every count task misses the cache and fails
    to write its result (logged), and the night still counts, loads and exits 0, in seconds."""
    dead = f"http://127.0.0.1:{free_port()}"
    env = cli_x_env(
        APPBUZZ_RESULTS_URL="s3://appbuzz-results/nightly",
        AWS_ENDPOINT_URL_S3=dead,
        AWS_ACCESS_KEY_ID="AKIA",
        AWS_SECRET_ACCESS_KEY=f"canary-{uuid.uuid4().hex}",
        AWS_DEFAULT_REGION="us-east-1",
    )
    cli = Cli(drop=("PREFECT_", "AWS_"))  # its own temporary server: the block is saved there
    began = time.monotonic()
    done = cli.run(Job(tmp_path, ["run", "--csv", str(catalogue_csv), "-v"], env))
    took = time.monotonic() - began
    print(f"\nMEASURED: a night with its object storage refusing connections: {took:.1f} s")
    assert done.returncode == 0, done.stderr[-3000:]
    rows = json.loads((tmp_path / "out" / "apps.json").read_text())
    assert len(rows) == 10 and {r["mention_status"] for r in rows} == {"ok"}
    assert env["AWS_SECRET_ACCESS_KEY"] not in done.stdout + done.stderr
    assert took < 120
