"""`appbuzz serve` as a person runs it: usage errors, unusable databases, busy ports, Ctrl-C."""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import httpx
import pytest

from api.queries import DEFAULT_SELECTION
from tests.support.cli import Cli, Job
from tests.support.processes import stop_group
from transforms.ranking import selection_name


def test_default_selection_is_the_flows_default() -> None:
    import inspect

    from flows.app_mentions import app_mentions
    from transforms.defaults import DEFAULT_GENRES

    top_n = inspect.signature(app_mentions.fn).parameters["top_n"].default
    assert DEFAULT_SELECTION == selection_name(DEFAULT_GENRES, top_n) == "Book+Music/top10"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--port", "0"], "--port: expected a number of at least 1, got 0"),
        (["--port", "70000"], "--port: expected a port from 1 to 65535, got 70000"),
        (["--port", "http"], "--port: expected a whole number, got 'http'"),
        (["--databse-url", "sqlite:///x.db"], "unrecognized arguments: --databse-url"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(run_cli, args: list[str], expected: str) -> None:
    result = run_cli("serve", *args)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and expected in result.stderr


def test_unusable_database_is_one_line_exit_1_without_the_password(run_cli) -> None:
    with socket.socket() as sock:  # a port nobody listens on: bound, never accepting
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        url = f"postgresql+psycopg://appbuzz:pa55-secret@127.0.0.1:{port}/appbuzz"
        result = run_cli("serve", "--database-url", url)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert (
        f"postgresql+psycopg://appbuzz:***@127.0.0.1:{port}/appbuzz is not usable" in result.stderr
    )
    assert "pa55-secret" not in result.stderr + result.stdout


def test_missing_sqlite_file_is_reported_not_created(run_cli, tmp_path: Path) -> None:
    result = run_cli("serve", "--database-url", "sqlite:///data/appbuzz.db")
    assert result.returncode == 1
    assert "does not exist (`appbuzz run` creates it)" in result.stderr
    assert not (tmp_path / "data").exists()  # a reader creates nothing


def test_busy_port_is_one_line_exit_1(run_cli, sqlite_url: str) -> None:
    Path(sqlite_url.removeprefix("sqlite:///")).touch()
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = run_cli("serve", "--port", str(port), "--database-url", sqlite_url)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in result.stderr


def test_ctrl_c_stops_the_server_cleanly(sqlite_url: str, tmp_path: Path) -> None:
    Path(sqlite_url.removeprefix("sqlite:///")).touch()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = Cli().start(
        Job(tmp_path, ["serve", "--port", str(port), "--database-url", sqlite_url])
    )
    try:
        banner = server.stdout.readline()
        assert (
            banner == f"appbuzz: serving {sqlite_url} on http://127.0.0.1:{port} (docs at /docs)\n"
        )
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).json()["status"] == "ok"
        server.send_signal(signal.SIGINT)
        _, stderr = server.communicate(timeout=20)
    finally:
        stop_group(server, grace=0)
    assert server.returncode == 0
    assert "Traceback" not in stderr and "Application shutdown complete" in stderr
