"""docker-compose.yml, Dockerfile and .env.example, checked without a Docker engine.

What the engine would catch late is checked here early: the files parse, services start in order
on healthchecks, the worker scales, the image installs the lock, and the variables handed to the
workers are exactly the settings appbuzz reads (derived from `flows.settings.Settings`).
"""

from __future__ import annotations

import re
import shlex
import tomllib

import pytest
import yaml
from pydantic import AliasChoices

from flows.settings import SETUP_FIELDS, Settings
from tests.deploy.production import CREATE_LIMIT, DEPLOY, ROOT, SETUP, START_WORKER
from tests.support.environment import is_setting
from transforms.day_spikes import SpikeRule

COMPOSE = ROOT / "docker-compose.yml"
MANY_HOSTS = ROOT / "docker-compose.many-hosts.yml"
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"
# what .env sets for compose itself rather than for ${VAR} in the file
COMPOSE_OWN = {"COMPOSE_PROJECT_NAME"}
# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?message}, ${VAR?message}
INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def services() -> dict[str, dict]:
    return compose()["services"]


def env_example() -> dict[str, str]:
    pairs = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


def settings_env_names() -> dict[str, list[str]]:
    """Each Settings field a run reads and the variables that set it, first the one compose
    should pass (`appbuzz setup`'s own fields are the deploy service's)."""
    prefix = Settings.model_config["env_prefix"]
    names = {}
    for name, field in Settings.model_fields.items():
        if name in SETUP_FIELDS:
            continue
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names[name] = [c for c in alias.choices if isinstance(c, str)]
        elif isinstance(alias, str):
            names[name] = [alias]
        else:
            names[name] = [f"{prefix}{name}".upper()]
    return names


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's substitution, for the forms this file uses."""

    def one(match: re.Match) -> str:
        name, op, arg = match.groups()
        present = env.get(name)
        if op in (":-", "-"):
            unset = present is None or (op == ":-" and present == "")
            return arg if unset else present
        if op in (":?", "?") and (present is None or (op == ":?" and present == "")):
            raise ValueError(f"{name}: {arg}")
        return present or ""

    return INTERPOLATION.sub(one, value)


def worker_environment(env: dict[str, str]) -> dict[str, str]:
    declared = services()["worker"]["environment"]
    return {k: interpolate(str(v), env) for k, v in declared.items()}


def pool_name() -> str:
    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    (nightly,) = [d for d in spec["deployments"] if d["name"] == "nightly"]
    return nightly["work_pool"]["name"]


def test_the_stack_has_its_services_built_from_the_repo() -> None:
    found = services()
    assert {"postgres", "prefect-db", "prefect-server", "deploy", "worker", "api"} <= set(found)
    for name in ("prefect-server", "deploy", "worker", "api"):
        build = found[name]["build"]
        assert (ROOT / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE
        assert found[name]["image"] == found["worker"]["image"], "one image, built once"


def test_services_start_in_order_on_health() -> None:
    found = services()
    for name, service in found.items():
        for dependency, rule in (service.get("depends_on") or {}).items():
            assert dependency in found, f"{name} depends on unknown {dependency}"
            condition = rule["condition"]
            if condition == "service_healthy":
                assert "healthcheck" in found[dependency], f"{dependency} needs a healthcheck"
            else:
                assert condition == "service_completed_successfully"
                assert found[dependency].get("restart") == "no", f"{dependency} is a one-shot"
    needs = {
        name: {d: r["condition"] for d, r in (s.get("depends_on") or {}).items()}
        for name, s in found.items()
    }
    assert needs["prefect-server"] == {"prefect-db": "service_healthy"}
    assert needs["deploy"] == {"prefect-server": "service_healthy"}
    assert needs["worker"] == {
        "postgres": "service_healthy",
        "prefect-server": "service_healthy",
        "deploy": "service_completed_successfully",
    }
    assert needs["api"] == {"postgres": "service_healthy"}
    assert needs["nginx"] == {"api": "service_healthy"}
    for name in ("postgres", "prefect-db", "prefect-server", "worker", "api", "nginx"):
        test = found[name]["healthcheck"]["test"]
        assert test[0] in ("CMD", "CMD-SHELL") and len(test) > 1


def test_prefect_server_has_a_postgresql_of_its_own() -> None:
    found = services()
    url = found["prefect-server"]["environment"]["PREFECT_API_DATABASE_CONNECTION_URL"]
    assert url.startswith("postgresql+asyncpg://") and "@prefect-db:5432/" in url
    appbuzz_url = found["worker"]["environment"]["APPBUZZ_DATABASE_URL"]
    assert appbuzz_url.startswith("postgresql+psycopg://") and "@postgres:5432/" in appbuzz_url


def test_worker_scales_and_runs_the_pool_of_prefect_yaml() -> None:
    worker = services()["worker"]
    # a fixed name or a published host port would make `--scale worker=4` fail
    assert "container_name" not in worker and "ports" not in worker
    command = worker["command"]
    assert shlex.join(command).startswith(START_WORKER)
    assert command[command.index("--pool") + 1] == pool_name()
    assert "--with-healthcheck" in command and "8080" in str(worker["healthcheck"]["test"])
    # the image's default command is the same worker
    cmd = next(line for line in DOCKERFILE.read_text().splitlines() if line.startswith("CMD "))
    assert yaml.safe_load(cmd.removeprefix("CMD ")) == command


def test_deploy_service_runs_the_readme_steps_in_the_image() -> None:
    script = interpolate(" ".join(services()["deploy"]["command"]), env_example())
    # the limit the README creates, named as the X API tasks look it up
    assert f" {Settings.model_fields['x_concurrency_limit'].default} " in CREATE_LIMIT
    steps = [SETUP, DEPLOY]
    assert all(step in script for step in steps), script
    assert [script.index(step) for step in steps] == sorted(script.index(s) for s in steps)


def test_deploy_passes_the_self_healing_settings_from_env() -> None:
    # what an operator tunes of `appbuzz setup` (the pool and the limit's name are fixed by
    # prefect.yaml and the workers; the limit's size is SHARED_X_API_LIMIT on the command line)
    tunable = (
        "crash_after_seconds", "stall_after_seconds", "max_restarts", "night_deadline_seconds",
        "alert_webhook_url",
    )  # fmt: skip
    assert set(tunable) <= set(SETUP_FIELDS)
    prefix = Settings.model_config["env_prefix"]
    passed = {k: v for k, v in services()["deploy"]["environment"].items() if k.startswith(prefix)}
    assert passed == {
        f"{prefix}{name.upper()}": f"${{{prefix}{name.upper()}:-}}" for name in tunable
    }


def test_workers_share_one_results_volume() -> None:
    worker = services()["worker"]
    results = worker["environment"]["APPBUZZ_RESULTS_DIR"]
    assert f"appbuzz-results:{results}" in worker["volumes"]
    assert "appbuzz-results" in compose()["volumes"]


def test_api_scales_behind_nginx_on_the_api_port() -> None:
    found = services()
    # a fixed name or a published host port would make `--scale api=2` fail
    assert "container_name" not in found["api"] and "ports" not in found["api"]
    nginx = found["nginx"]
    assert nginx["image"] == "nginx:stable"
    assert nginx["ports"] == ["127.0.0.1:${APPBUZZ_API_PORT:-8080}:80"]
    assert "./nginx/appbuzz.conf:/etc/nginx/conf.d/default.conf:ro" in nginx["volumes"]
    conf = (ROOT / "nginx" / "appbuzz.conf").read_text()
    # the replicas re-resolved through Docker's DNS, each request's replica in the access log
    assert "resolver 127.0.0.11" in conf and "proxy_pass $api;" in conf
    assert "set $api http://api:8080;" in conf and "upstream=$upstream_addr" in conf


def test_many_hosts_override_shares_nothing_between_workers_but_the_bucket() -> None:
    override = yaml.safe_load(MANY_HOSTS.read_text())
    assert set(override) == {"services"} and set(override["services"]) == {"deploy", "worker"}
    worker, deploy = override["services"]["worker"], override["services"]["deploy"]
    base = services()["worker"]
    # every named volume of the base worker replaced, at its mount point, by one of its own
    named = [v.split(":")[1] for v in base["volumes"] if not v.startswith(("$", ".", "/"))]
    assert sorted(worker["volumes"]) == sorted(named)
    assert worker["environment"]["APPBUZZ_RESULTS_URL"].startswith("${APPBUZZ_RESULTS_URL:?")
    assert not [k for k in worker["environment"] if k.startswith("AWS_")], "the block has them"
    aws = {
        "AWS_ENDPOINT_URL_S3",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_DEFAULT_REGION",
    }
    assert set(deploy["environment"]) == {"APPBUZZ_RESULTS_URL"} | aws


def test_only_loopback_ports_are_published() -> None:
    for name, service in services().items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port}"


def test_image_installs_the_lock_then_the_project() -> None:
    lines = [line.strip() for line in DOCKERFILE.read_text().splitlines()]
    steps = [line for line in lines if line and not line.startswith("#")]
    base = steps[0].split()[1]
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert base.startswith(f"python:{requires.removeprefix('>=')}")
    copy_lock = steps.index("COPY requirements.lock ./")
    install_lock = steps.index("RUN pip install -r requirements.lock")
    copy_all = steps.index("COPY . .")
    project = next(i for i, s in enumerate(steps) if "pip install --no-deps -e ." in s)
    assert copy_lock < install_lock < copy_all < project
    assert (ROOT / "requirements.lock").exists()
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".env", ".venv", ".git"} <= ignored, "no secret or local state in the image"


def test_worker_gets_every_setting_and_nothing_else() -> None:
    names = settings_env_names()
    passed = {k for k in services()["worker"]["environment"] if is_setting(k)}
    assert passed == {aliases[0] for aliases in names.values()}


def test_api_serves_the_workers_database_and_nothing_else() -> None:
    found = services()
    api = found["api"]
    assert api["command"][:2] == ["appbuzz", "serve"] and "/healthz" in str(api["healthcheck"])
    worker = found["worker"]["environment"]
    spike_rule = {f"APPBUZZ_{name}".upper() for name in SpikeRule.model_fields}  # marks spikes
    assert api["environment"] == {
        "APPBUZZ_DATABASE_URL": worker["APPBUZZ_DATABASE_URL"],
        **{name: worker[name] for name in spike_rule},
    }


def test_env_example_and_compose_name_the_same_variables() -> None:
    text = COMPOSE.read_text() + MANY_HOSTS.read_text()
    referenced = {name for name, _, _ in INTERPOLATION.findall(text)}
    example = env_example()
    assert referenced == set(example) - COMPOSE_OWN, "each ${VAR} of compose is in .env.example"
    assert "X_BEARER_TOKEN" in example and example["X_BEARER_TOKEN"] == "", "no real token"
    assert ".env" in (ROOT / ".gitignore").read_text().split()


@pytest.mark.usefixtures("clean_environment")
def test_settings_read_the_worker_environment_built_from_env_example(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    example = env_example()
    for key, value in worker_environment(example).items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    password = example["APPBUZZ_POSTGRES_PASSWORD"]
    assert settings.database_url.get_secret_value() == (
        f"postgresql+psycopg://appbuzz:{password}@postgres:5432/appbuzz"
    )
    assert str(settings.out_dir) == "/var/lib/appbuzz/out"
    # left empty in .env, a setting keeps its default: no token means no enrichment, not ""
    defaults = Settings.model_construct()
    assert settings.x_bearer_token is None
    assert settings.x_max_concurrency == Settings.model_fields["x_max_concurrency"].default
    assert settings.x_api_base_url == defaults.x_api_base_url

    # and compose refuses to start without the passwords instead of running with none
    for secret in ("APPBUZZ_POSTGRES_PASSWORD", "PREFECT_POSTGRES_PASSWORD"):
        without = {k: v for k, v in example.items() if k != secret}
        with pytest.raises(ValueError, match=secret):
            interpolate(COMPOSE.read_text(), without)


def test_compose_1_29_and_v2_both_read_the_project_name() -> None:
    # a top-level `name:` is Compose v2 only: Debian's docker-compose 1.29 rejects the file
    assert set(compose()) <= {"services", "volumes"} | {k for k in compose() if k.startswith("x-")}
    assert env_example()["COMPOSE_PROJECT_NAME"] == "appbuzz"


def test_image_gives_the_prefect_ui_a_folder_its_user_owns() -> None:
    # the server writes its UI build at start; site-packages is root's, so without this: 404 on /
    text = DOCKERFILE.read_text()
    folder = re.search(r"PREFECT_UI_STATIC_DIRECTORY=(\S+)", text)
    assert folder, "PREFECT_UI_STATIC_DIRECTORY is not set in the image"
    made = text.index(f"mkdir -p /var/lib/appbuzz/out /var/lib/appbuzz/results {folder.group(1)}")
    assert made < text.index("chown -R appbuzz /var/lib/appbuzz") < text.index("USER appbuzz")
