"""Settings: dynaconf reads `settings.toml` and `HUBBUB_*` variables, validates them once at
startup, and the result is frozen into a plain `Settings` object so that the hot path reads
attributes instead of going through dynaconf's lookups."""

from __future__ import annotations

import dataclasses
import ipaddress
from pathlib import Path
from typing import Any

from dynaconf import Dynaconf, ValidationError, Validator

SETTINGS_FILE = Path(__file__).with_name("settings.toml")
DEFAULT_JWT_SECRET = "change-me-insecure-default-for-development-only"
ENVIRONMENTS = ("development", "testing", "production")


class SettingsError(Exception):
    """A setting is missing or has a bad value; the message names the key."""


@dataclasses.dataclass(frozen=True, slots=True)
class Settings:
    env: str
    host: str
    port: int
    database_url: str
    database_timeout_seconds: float
    upload_dir: str
    jwt_secret: str
    jwt_ttl_seconds: int
    bcrypt_rounds: int
    message_max_chars: int
    ws_max_frame_bytes: int
    ws_rate_per_second: float
    ws_rate_burst: int
    ws_send_queue_max: int
    ws_heartbeat_seconds: float
    recall_window_seconds: int
    edit_window_seconds: int
    message_max_reactions: int
    history_max_limit: int
    upload_max_bytes: int
    group_max_members: int
    login_attempts_per_minute: int
    refresh_ttl_seconds: int
    session_seen_every_seconds: int
    deleted_username_hold_days: int
    deleted_user_content: str
    allowed_origins: tuple[str, ...]
    shutdown_timeout_seconds: float
    shutdown_drain_seconds: float
    log_level: str
    log_format: str
    plugins_autoload: bool
    plugins_enabled: tuple[str, ...]
    handlers_disabled: tuple[str, ...]
    handlers_override: tuple[str, ...]
    hooks_disabled: tuple[str, ...]
    plugin_names_unprefixed: tuple[str, ...]
    plugin_timeout_seconds: float
    bus_url: str
    bus_heartbeat_seconds: float
    bus_node_timeout_seconds: float
    bus_test_delay_seconds: float
    bus_test_drop_every: int
    metrics_allowed_networks: tuple[str, ...]
    metrics_token: str

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_network(value: Any) -> bool:
    try:
        ipaddress.ip_network(value)
        return True
    except (TypeError, ValueError):
        return False


def _int(name: str, low: int, high: int | None = None) -> Validator:
    """An integer in [low, high]: a float, a bool ("true" parses as one) or text is refused."""
    bounds = f"an integer from {low} to {high}" if high is not None else f"an integer of at least {low}"

    def in_range(value: Any) -> bool:
        return _is_int(value) and value >= low and (high is None or value <= high)

    return Validator(name, must_exist=True, condition=in_range, messages={"condition": f"{name} must be {bounds}, got {{value!r}}"})


def _positive_number(name: str) -> Validator:
    def positive(value: Any) -> bool:
        return _is_number(value) and value > 0

    return Validator(name, must_exist=True, condition=positive, messages={"condition": f"{name} must be a number greater than 0, got {{value!r}}"})


def _strings(*names: str) -> list[Validator]:
    return [
        Validator(name, must_exist=True, is_type_of=str, messages={"operations": f"{name} must be a string, got {{value!r}}"}) for name in names
    ]


_VALIDATORS = [
    *_strings("host", "database_url", "upload_dir", "jwt_secret", "log_level", "bus_url", "metrics_token"),
    _int("port", 0, 65535),
    Validator(
        "log_format",
        must_exist=True,
        is_in=("text", "json"),
        messages={"operations": "log_format must be \"text\" or \"json\", got {value!r}"},
    ),
    *(
        _int(name, 1)
        for name in (
            "jwt_ttl_seconds",
            "message_max_chars",
            "ws_max_frame_bytes",
            "ws_rate_burst",
            "ws_send_queue_max",
            "recall_window_seconds",
            "edit_window_seconds",
            "message_max_reactions",
            "history_max_limit",
            "upload_max_bytes",
            "group_max_members",
            "login_attempts_per_minute",
            "refresh_ttl_seconds",
            "session_seen_every_seconds",
        )
    ),
    *(
        _positive_number(name)
        for name in (
            "database_timeout_seconds",
            "ws_rate_per_second",
            "ws_heartbeat_seconds",
            "shutdown_timeout_seconds",
            "plugin_timeout_seconds",
            "bus_heartbeat_seconds",
            "bus_node_timeout_seconds",
        )
    ),
    Validator(
        "shutdown_drain_seconds",
        must_exist=True,
        condition=lambda value: _is_number(value) and value >= 0,
        messages={"condition": "shutdown_drain_seconds must be a number of at least 0, got {value!r}"},
    ),
    Validator(
        "bus_test_delay_seconds",
        must_exist=True,
        condition=lambda value: _is_number(value) and value >= 0,
        messages={"condition": "bus_test_delay_seconds must be a number of at least 0, got {value!r}"},
    ),
    _int("bus_test_drop_every", 0),
    _int("deleted_username_hold_days", 0),
    Validator(
        "deleted_user_content",
        must_exist=True,
        is_in=("keep", "remove"),
        messages={"operations": "deleted_user_content must be \"keep\" or \"remove\", got {value!r}"},
    ),
    Validator(
        "bus_url",
        condition=lambda value: value == "" or str(value).startswith(("nats://", "tls://")),
        messages={"condition": "bus_url must be empty or a nats:// (or tls://) URL, got {value!r}"},
    ),
    Validator("plugins_autoload", must_exist=True, is_type_of=bool, messages={"operations": "plugins_autoload must be true or false, got {value!r}"}),
    *(
        Validator(name, must_exist=True, is_type_of=(list, tuple), messages={"operations": f"{name} must be a list of names, got {{value!r}}"})
        for name in ("plugins_enabled", "handlers_disabled", "handlers_override", "hooks_disabled", "plugin_names_unprefixed")
    ),
    _int("bcrypt_rounds", 4, 31),
    Validator(
        "metrics_allowed_networks",
        must_exist=True,
        condition=lambda value: isinstance(value, (list, tuple)) and all(_is_network(item) for item in value),
        messages={"condition": "metrics_allowed_networks must be a list of networks such as [\"10.0.0.0/8\"], got {value!r}"},
    ),
    Validator(
        "allowed_origins",
        must_exist=True,
        is_type_of=(list, tuple),
        messages={"operations": "allowed_origins must be a list of origins such as [\"*\"], got {value!r}"},
    ),
]


def _refuse_unsafe_cluster(raw: Dynaconf) -> None:
    if raw.bus_url and not str(raw.database_url).startswith("mysql"):
        raise SettingsError("a cluster (bus_url) needs a MySQL database every process shares; SQLite is one process's file")


def _refuse_unsafe_production(raw: Dynaconf) -> None:
    if raw.bus_test_delay_seconds or raw.bus_test_drop_every:
        raise SettingsError("bus_test_delay_seconds and bus_test_drop_every are test-only faults; production refuses them")
    if not str(raw.database_url).startswith("mysql"):
        raise SettingsError(f"database_url must be a mysql+aiomysql:// URL in production (HUBBUB_DATABASE_URL), got {raw.database_url!r}")
    if raw.jwt_secret == DEFAULT_JWT_SECRET or len(raw.jwt_secret) < 32:
        raise SettingsError("jwt_secret must be set to a secret of at least 32 characters in production (HUBBUB_JWT_SECRET)")


def load_settings(env: str | None = None, **overrides: Any) -> Settings:
    """Read, validate and freeze the settings of `env` (default: HUBBUB_ENV, else development).

    `overrides` win over the file and the environment; tests use them."""
    options: dict[str, Any] = {}
    if env is not None:
        # An explicit environment wins over HUBBUB_ENV (dynaconf's switcher would win over `env`).
        options["force_env"] = env
    raw = Dynaconf(
        settings_files=[str(SETTINGS_FILE)],
        environments=True,
        env_switcher="HUBBUB_ENV",
        envvar_prefix="HUBBUB",
        validators=_VALIDATORS,
        **options,
    )
    try:
        chosen = raw.current_env.lower()
        if chosen not in ENVIRONMENTS:
            raise SettingsError(f"HUBBUB_ENV must be one of {', '.join(ENVIRONMENTS)}, got {chosen!r}")
        for key, value in overrides.items():
            raw.set(key, value)
        raw.validators.validate()
    except ValidationError as exc:
        raise SettingsError(str(exc)) from None
    _refuse_unsafe_cluster(raw)
    if chosen == "production":
        _refuse_unsafe_production(raw)
    values = {field.name: raw.get(field.name) for field in dataclasses.fields(Settings) if field.name != "env"}
    for name in ("allowed_origins", "metrics_allowed_networks", "plugins_enabled", "handlers_disabled", "handlers_override", "hooks_disabled", "plugin_names_unprefixed"):
        values[name] = tuple(values[name])
    for name in ("database_timeout_seconds", "ws_rate_per_second", "shutdown_drain_seconds", "bus_heartbeat_seconds", "bus_node_timeout_seconds", "bus_test_delay_seconds"):
        values[name] = float(values[name])
    return Settings(env=chosen, **values)
