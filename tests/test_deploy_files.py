"""The deployment files, checked without Docker (no engine runs where the tests do):
docker-compose.yml is parsed and its environment checked against the real settings, and the
Dockerfile is read line by line."""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url

import settings as hubbub_settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
APP_SERVICES = ("migrate", "hubbub")

# Stand-ins for what an operator puts in .env.
OPERATOR_ENV = {
    "MYSQL_PASSWORD": "app-password-for-tests",
    "MYSQL_ROOT_PASSWORD": "root-password-for-tests",
    "HUBBUB_JWT_SECRET": "0123456789abcdef0123456789abcdef-tests",
}

# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?message}, ${VAR?message}, and $$ for a `$`.
_REFERENCE = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")
_WHOLE_REFERENCE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::?[-?][^}]*)?\}")


def interpolate(text: str, env: dict[str, str]) -> str:
    """What compose makes of a value, given the variables in `env`."""

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name", "op", "arg")
        value = env.get(name)
        unset_or_empty = value is None or (value == "" and op is not None and op.startswith(":"))
        if op in ("-", ":-"):
            return arg if unset_or_empty else value
        if op in ("?", ":?"):
            if unset_or_empty:
                raise KeyError(f"{name}: {arg}")
            return value
        return value or ""

    return _REFERENCE.sub(substitute, text)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def service(compose: dict[str, Any], name: str) -> dict[str, Any]:
    return compose["services"][name]


def environment(svc: dict[str, Any]) -> dict[str, str]:
    """A service's environment as a dict, whether written as a mapping or a list."""
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(key): str(value) for key, value in env.items()}


def depends_on(svc: dict[str, Any]) -> dict[str, str]:
    deps = svc.get("depends_on") or {}
    if isinstance(deps, list):
        return {name: "service_started" for name in deps}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def command(svc: dict[str, Any]) -> list[str]:
    cmd = svc.get("command")
    return cmd.split() if isinstance(cmd, str) else list(cmd or [])


def settings_key_names() -> set[str]:
    return {field.name for field in dataclasses.fields(hubbub_settings.Settings)} | {"env"}


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments left out."""
    joined = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    pairs = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instruction, _, args = line.partition(" ")
            pairs.append((instruction.upper(), args.strip()))
    return pairs


# --- docker-compose.yml ------------------------------------------------------------------


def test_compose_has_the_cluster_services(compose: dict[str, Any]) -> None:
    assert {"mysql", "migrate", "nats", "hubbub", "lb"} <= set(compose["services"])


def test_two_replicas_share_one_bus_behind_the_load_balancer(compose: dict[str, Any]) -> None:
    hubbub = service(compose, "hubbub")
    assert hubbub["deploy"]["replicas"] == 2
    assert environment(hubbub)["HUBBUB_BUS_URL"] == "nats://nats:4222"
    assert "ports" not in hubbub  # only through the load balancer
    lb = service(compose, "lb")
    assert "8080:8080" in [str(port) for port in lb["ports"]]
    config = Path(__file__).parent.parent / "deploy" / "haproxy.cfg"
    assert any(str(volume).startswith("./deploy/haproxy.cfg:") for volume in lb["volumes"])
    text = config.read_text()
    assert "server-template hubbub 2 hubbub:8080" in text and "timeout tunnel" in text


def test_mysql_is_mysql8_with_a_healthcheck_and_a_volume(compose: dict[str, Any]) -> None:
    mysql = service(compose, "mysql")
    assert mysql["image"].startswith("mysql:8")
    test = mysql["healthcheck"]["test"]
    assert "mysqladmin ping" in (test if isinstance(test, str) else " ".join(test))
    assert any(str(volume).endswith(":/var/lib/mysql") for volume in mysql["volumes"])
    env = environment(mysql)
    assert {"MYSQL_DATABASE", "MYSQL_USER", "MYSQL_PASSWORD", "MYSQL_ROOT_PASSWORD"} <= set(env)


def test_migrate_runs_once_after_mysql_is_healthy(compose: dict[str, Any]) -> None:
    migrate = service(compose, "migrate")
    assert command(migrate) == ["hubbub", "migrate"]
    assert str(migrate.get("restart", "no")) == "no"
    assert depends_on(migrate) == {"mysql": "service_healthy"}


def test_server_waits_for_the_migrations_and_a_healthy_mysql(compose: dict[str, Any]) -> None:
    hubbub = service(compose, "hubbub")
    assert command(hubbub) in ([], ["hubbub", "serve"])  # empty: the image's CMD, which is serve
    deps = depends_on(hubbub)
    assert deps["migrate"] == "service_completed_successfully"
    assert deps["mysql"] == "service_healthy"
    upload_dir = environment(hubbub)["HUBBUB_UPLOAD_DIR"]
    assert any(str(volume).endswith(f":{upload_dir}") for volume in hubbub["volumes"])


def test_app_services_run_the_same_image_in_production(compose: dict[str, Any]) -> None:
    for name in APP_SERVICES:
        svc = service(compose, name)
        assert svc["build"] in (".", {"context": "."}), name
        env = environment(svc)
        assert env["HUBBUB_ENV"] == "production", name
        assert env["HUBBUB_DATABASE_URL"].startswith("mysql+aiomysql://"), name
        assert _WHOLE_REFERENCE.fullmatch(env["HUBBUB_JWT_SECRET"]), name
    assert environment(service(compose, "migrate")) == environment(service(compose, "hubbub"))


def test_every_hubbub_variable_is_a_settings_key(compose: dict[str, Any]) -> None:
    used = {key for svc in compose["services"].values() for key in environment(svc) if key.startswith("HUBBUB_")}
    # Also names that appear only in ${...} references or in the Dockerfile's ENV lines.
    for text in (COMPOSE_FILE.read_text(), DOCKERFILE.read_text()):
        used |= set(re.findall(r"\bHUBBUB_[A-Z0-9_]+\b", text))
    assert used, "no HUBBUB_ variables found"
    unknown = {name for name in used if name.removeprefix("HUBBUB_").lower() not in settings_key_names()}
    assert not unknown, f"not settings keys: {sorted(unknown)}"


def test_no_secret_is_written_in_the_compose_file(compose: dict[str, Any]) -> None:
    for name, svc in compose["services"].items():
        for key, value in environment(svc).items():
            if re.search(r"PASSWORD|SECRET", key):
                assert _WHOLE_REFERENCE.fullmatch(value), f"{name}.{key} must come from a ${{VAR}}"
                # Required, not defaulted: a forgotten secret stops compose instead of being guessed.
                assert ":?" in value, f"{name}.{key} must be required with ${{VAR:?message}}"
            if key.endswith("_URL") and "@" in value:
                # Give each variable a recognisable value: a password that does not come from
                # one then shows up as it was written.
                marked = {var: f"var-{var}" for var in re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", value)}
                password = make_url(interpolate(value, marked)).password
                assert str(password).startswith("var-"), f"{name}.{key} has a literal password"
    # The healthcheck gets root's password from the container's environment ($$ = a literal $).
    for password_arg in re.findall(r"(?<!\S)(?:-p|--password=)(\S+)", " ".join(service(compose, "mysql")["healthcheck"]["test"])):
        assert password_arg.strip("\"'").startswith("$$"), password_arg


def test_compose_refuses_to_start_without_the_secrets(compose: dict[str, Any]) -> None:
    env_text = json.dumps(environment(service(compose, "hubbub")))
    for missing in ("MYSQL_PASSWORD", "HUBBUB_JWT_SECRET"):
        partial = {key: value for key, value in OPERATOR_ENV.items() if key != missing}
        with pytest.raises(KeyError, match=missing):
            interpolate(env_text, partial)


# --- the compose environment is one that production accepts -----------------------------


@pytest.fixture
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No HUBBUB_* variables from the machine running the tests."""
    for name in list(os.environ):
        if name.startswith("HUBBUB_"):
            monkeypatch.delenv(name)
    return monkeypatch


def compose_app_env(compose: dict[str, Any]) -> dict[str, str]:
    return {key: interpolate(value, OPERATOR_ENV) for key, value in environment(service(compose, "hubbub")).items()}


def test_production_accepts_the_compose_url_and_a_real_secret(compose: dict[str, Any], clean_environ: pytest.MonkeyPatch) -> None:
    env = compose_app_env(compose)
    assert env["HUBBUB_DATABASE_URL"] == "mysql+aiomysql://hubbub:app-password-for-tests@mysql:3306/hubbub"
    loaded = hubbub_settings.load_settings(
        "production", database_url=env["HUBBUB_DATABASE_URL"], jwt_secret=env["HUBBUB_JWT_SECRET"]
    )
    assert loaded.env == "production"
    assert loaded.database_url == env["HUBBUB_DATABASE_URL"]


def test_production_refuses_the_default_secret_with_the_compose_url(compose: dict[str, Any], clean_environ: pytest.MonkeyPatch) -> None:
    env = compose_app_env(compose)
    with pytest.raises(hubbub_settings.SettingsError, match="jwt_secret"):
        hubbub_settings.load_settings(
            "production", database_url=env["HUBBUB_DATABASE_URL"], jwt_secret=hubbub_settings.DEFAULT_JWT_SECRET
        )


def test_the_whole_compose_environment_loads_as_production(compose: dict[str, Any], clean_environ: pytest.MonkeyPatch) -> None:
    """Through the HUBBUB_* variables themselves, as the container gets them."""
    env = compose_app_env(compose)
    for key, value in env.items():
        clean_environ.setenv(key, value)
    loaded = hubbub_settings.load_settings()
    assert loaded.env == "production"
    assert loaded.database_url == env["HUBBUB_DATABASE_URL"]
    assert loaded.jwt_secret == OPERATOR_ENV["HUBBUB_JWT_SECRET"]
    assert (loaded.host, loaded.port, loaded.upload_dir) == ("0.0.0.0", 8080, "/data/uploads")


# --- Dockerfile ----------------------------------------------------------------------------


def test_dockerfile_is_multi_stage() -> None:
    froms = [args for instruction, args in dockerfile_instructions() if instruction == "FROM"]
    assert len(froms) > 1
    assert froms[-1].split()[0] == "python:3.11-slim"


def test_dockerfile_runs_as_a_non_root_user() -> None:
    users = [args for instruction, args in dockerfile_instructions() if instruction == "USER"]
    assert users, "no USER line"
    assert users[-1].split(":")[0] not in ("root", "0")


def test_dockerfile_serves_in_production_with_a_healthcheck() -> None:
    instructions = dockerfile_instructions()
    cmds = [args for instruction, args in instructions if instruction == "CMD"]
    assert json.loads(cmds[-1]) == ["hubbub", "serve"]
    env_text = " ".join(args for instruction, args in instructions if instruction == "ENV")
    assert "HUBBUB_ENV=production" in env_text
    assert "HUBBUB_HOST=0.0.0.0" in env_text
    assert "HUBBUB_UPLOAD_DIR=/data/uploads" in env_text
    assert ("EXPOSE", "8080") in instructions
    assert any(instruction == "VOLUME" and "/data/uploads" in args for instruction, args in instructions)
    healthchecks = [args for instruction, args in instructions if instruction == "HEALTHCHECK"]
    assert healthchecks and "/healthz" in healthchecks[-1] and "urllib" in healthchecks[-1]
