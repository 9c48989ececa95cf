"""Settings (PROTOCOL §5, §6): defaults, HUBBUB_ENV, HUBBUB_<KEY> overrides, validation and
production's refusals. No server and no database needed."""

from __future__ import annotations

import dataclasses
import os

import pytest

from settings import DEFAULT_JWT_SECRET, Settings, SettingsError, load_settings

MYSQL_URL = "mysql+aiomysql://hubbub:hubbub@db.example:3306/hubbub"
GOOD_SECRET = "s" * 40

# PROTOCOL §5 (limits) and §6 (running it), with the defaults the contract gives.
CONTRACT_DEFAULTS = {
    "message_max_chars": 4000,
    "ws_max_frame_bytes": 65536,
    "ws_rate_per_second": 20,
    "ws_rate_burst": 40,
    "ws_send_queue_max": 1000,
    "recall_window_seconds": 120,
    "edit_window_seconds": 900,
    "message_max_reactions": 20,
    "history_max_limit": 100,
    "upload_max_bytes": 20 * 1024 * 1024,
    "jwt_ttl_seconds": 900,
    "refresh_ttl_seconds": 30 * 24 * 3600,
    "session_seen_every_seconds": 300,
    "deleted_username_hold_days": 180,
    "deleted_user_content": "keep",
    "bcrypt_rounds": 12,
    "group_max_members": 500,
    "login_attempts_per_minute": 10,
    "allowed_origins": (),  # empty: the server's own origin
    "database_timeout_seconds": 5,
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No HUBBUB_* variable of the machine running the tests may leak into these tests."""
    for name in list(os.environ):
        if name.upper().startswith("HUBBUB_"):
            monkeypatch.delenv(name)


def test_defaults_match_the_contract() -> None:
    settings = load_settings()
    assert settings.env == "development"
    for key, expected in CONTRACT_DEFAULTS.items():
        assert getattr(settings, key) == expected, key
    # §6: with no settings at all the server uses an embedded SQLite file.
    assert settings.database_url.startswith("sqlite+aiosqlite://")
    assert isinstance(settings.port, int) and 0 < settings.port < 65536
    assert settings.host and settings.upload_dir
    assert settings.jwt_secret == DEFAULT_JWT_SECRET


def test_every_contract_key_is_a_setting() -> None:
    names = {f.name for f in dataclasses.fields(Settings)}
    missing = set(CONTRACT_DEFAULTS) | {"host", "port", "database_url", "upload_dir", "jwt_secret"}
    assert missing - names == set()


def test_settings_are_frozen() -> None:
    settings = load_settings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.port = 1  # type: ignore[misc]
    changed = settings.replace(login_attempts_per_minute=3)
    assert changed.login_attempts_per_minute == 3
    assert settings.login_attempts_per_minute == 10


@pytest.mark.parametrize(
    ("variable", "value", "key", "expected"),
    [
        ("HUBBUB_PORT", "9999", "port", 9999),
        ("HUBBUB_HOST", "0.0.0.0", "host", "0.0.0.0"),
        ("HUBBUB_DATABASE_URL", MYSQL_URL, "database_url", MYSQL_URL),
        ("HUBBUB_JWT_SECRET", GOOD_SECRET, "jwt_secret", GOOD_SECRET),
        ("HUBBUB_UPLOAD_DIR", "/var/lib/hubbub/files", "upload_dir", "/var/lib/hubbub/files"),
        ("HUBBUB_MESSAGE_MAX_CHARS", "100", "message_max_chars", 100),
        ("HUBBUB_LOGIN_ATTEMPTS_PER_MINUTE", "3", "login_attempts_per_minute", 3),
        ("HUBBUB_ALLOWED_ORIGINS", '["*"]', "allowed_origins", ("*",)),
        ("HUBBUB_WS_RATE_PER_SECOND", "2.5", "ws_rate_per_second", 2.5),
    ],
)
def test_environment_variable_overrides_a_key(monkeypatch, variable, value, key, expected) -> None:
    monkeypatch.setenv(variable, value)
    assert getattr(load_settings(), key) == expected


def test_hubbub_env_selects_testing(monkeypatch) -> None:
    monkeypatch.setenv("HUBBUB_ENV", "testing")
    settings = load_settings()
    assert settings.env == "testing"
    assert settings.bcrypt_rounds < 12
    assert settings.jwt_secret != DEFAULT_JWT_SECRET


def test_explicit_environment_wins_over_hubbub_env(monkeypatch) -> None:
    """The test suite asks for "testing" explicitly; a HUBBUB_ENV of the shell must not turn
    that into production (or development, with its slow bcrypt)."""
    monkeypatch.setenv("HUBBUB_ENV", "production")
    settings = load_settings("testing")
    assert settings.env == "testing"
    assert settings.bcrypt_rounds < 12


def test_environment_variable_beats_the_environment_section(monkeypatch) -> None:
    monkeypatch.setenv("HUBBUB_ENV", "testing")
    monkeypatch.setenv("HUBBUB_BCRYPT_ROUNDS", "5")
    assert load_settings().bcrypt_rounds == 5


def test_unknown_environment_is_refused(monkeypatch) -> None:
    monkeypatch.setenv("HUBBUB_ENV", "staging")
    with pytest.raises(SettingsError, match="HUBBUB_ENV"):
        load_settings()


def test_production_refuses_the_default_jwt_secret(monkeypatch) -> None:
    monkeypatch.setenv("HUBBUB_ENV", "production")
    monkeypatch.setenv("HUBBUB_DATABASE_URL", MYSQL_URL)
    with pytest.raises(SettingsError, match="jwt_secret"):
        load_settings()
    monkeypatch.setenv("HUBBUB_JWT_SECRET", DEFAULT_JWT_SECRET)
    with pytest.raises(SettingsError, match="jwt_secret"):
        load_settings()


def test_production_refuses_sqlite(monkeypatch) -> None:
    monkeypatch.setenv("HUBBUB_ENV", "production")
    monkeypatch.setenv("HUBBUB_JWT_SECRET", GOOD_SECRET)
    monkeypatch.setenv("HUBBUB_DATABASE_URL", "sqlite+aiosqlite:///hubbub.db")
    with pytest.raises(SettingsError, match="database_url"):
        load_settings()


def test_production_refuses_a_missing_database_url(monkeypatch) -> None:
    monkeypatch.setenv("HUBBUB_ENV", "production")
    monkeypatch.setenv("HUBBUB_JWT_SECRET", GOOD_SECRET)
    with pytest.raises(SettingsError, match="database_url"):
        load_settings()


def test_production_starts_with_mysql_and_a_real_secret(monkeypatch) -> None:
    monkeypatch.setenv("HUBBUB_ENV", "production")
    monkeypatch.setenv("HUBBUB_JWT_SECRET", GOOD_SECRET)
    monkeypatch.setenv("HUBBUB_DATABASE_URL", MYSQL_URL)
    settings = load_settings()
    assert settings.env == "production"
    assert settings.bcrypt_rounds == 12
    assert settings.database_url == MYSQL_URL


@pytest.mark.parametrize(
    ("variable", "value", "key"),
    [
        ("HUBBUB_PORT", "abc", "port"),
        ("HUBBUB_PORT", "70000", "port"),
        ("HUBBUB_BCRYPT_ROUNDS", "3", "bcrypt_rounds"),
        ("HUBBUB_BCRYPT_ROUNDS", "many", "bcrypt_rounds"),
        ("HUBBUB_JWT_TTL_SECONDS", "0", "jwt_ttl_seconds"),
        ("HUBBUB_JWT_TTL_SECONDS", "1.5", "jwt_ttl_seconds"),
        ("HUBBUB_MESSAGE_MAX_CHARS", "abc", "message_max_chars"),
        ("HUBBUB_MESSAGE_MAX_CHARS", "true", "message_max_chars"),
        ("HUBBUB_HISTORY_MAX_LIMIT", "-1", "history_max_limit"),
        ("HUBBUB_LOGIN_ATTEMPTS_PER_MINUTE", "0", "login_attempts_per_minute"),
        ("HUBBUB_WS_RATE_PER_SECOND", "fast", "ws_rate_per_second"),
        ("HUBBUB_DATABASE_TIMEOUT_SECONDS", "0", "database_timeout_seconds"),
        ("HUBBUB_ALLOWED_ORIGINS", "*", "allowed_origins"),
    ],
)
def test_bad_value_names_the_key(monkeypatch, variable, value, key) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=key):
        load_settings()


def test_bad_override_argument_names_the_key() -> None:
    with pytest.raises(SettingsError, match="upload_max_bytes"):
        load_settings("testing", upload_max_bytes=0)
