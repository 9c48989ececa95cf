"""Shared fixtures. Every test that touches storage gets a fresh database of its own: on the
MySQL-compatible server named by HUBBUB_TEST_MYSQL_URL (tests/run.sh makes sure one answers),
and, for tests parametrized over `backend`, on a SQLite file as well."""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from migrations import alembic_config
from settings import Settings, load_settings
from storage.engine import create_engine
from storage.tables import metadata

# The fixtures every browser test (tests/test_browser*.py) uses: the app on a loopback port, its
# URL, REST helpers on it, and Chromium. They live in tests/browser_kit.py beside the helpers that
# drive the page; imported here, pytest finds them for every test module.
from tests.browser_kit import base_url, browser, rest, server  # noqa: F401

MYSQL_SERVER_URL = os.environ.get("HUBBUB_TEST_MYSQL_URL", "mysql+aiomysql://hubbub:hubbub@127.0.0.1:3306/")
# With N > 1, every test's server is a cluster of N nodes in this process sharing the test's
# database and a private nats-server, and the test users' sockets are spread over the nodes
# (`tests.chat`): the socket suites then show that a cluster behaves on the wire as one process.
CLUSTER_NODES = int(os.environ.get("HUBBUB_TEST_CLUSTER_NODES", "1"))


async def create_mysql_database() -> str:
    """Create an empty database with a unique name and return its URL."""
    name = f"hubbub_test_{uuid.uuid4().hex[:12]}"
    server = create_engine(MYSQL_SERVER_URL)
    try:
        async with server.begin() as conn:
            await conn.exec_driver_sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    finally:
        await server.dispose()
    return make_url(MYSQL_SERVER_URL).set(database=name).render_as_string(hide_password=False)


async def drop_mysql_database(url: str) -> None:
    server = create_engine(MYSQL_SERVER_URL)
    try:
        async with server.begin() as conn:
            await conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{make_url(url).database}`")
    finally:
        await server.dispose()


@pytest.fixture
async def mysql_url() -> AsyncIterator[str]:
    """URL of a fresh, empty MySQL/MariaDB database, dropped after the test."""
    url = await create_mysql_database()
    yield url
    await drop_mysql_database(url)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'hubbub.db'}"


@pytest.fixture(params=["mysql", "sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    """Parametrizes a storage test over both supported databases."""
    return request.param


@pytest.fixture
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh empty database: SQLite when the test also uses `backend` set to sqlite, else MySQL."""
    backend_name = request.getfixturevalue("backend") if "backend" in request.fixturenames else "mysql"
    if backend_name == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'hubbub.db'}"
        return
    url = await create_mysql_database()
    yield url
    await drop_mysql_database(url)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a fresh database holding the current schema."""
    eng = create_engine(database_url)
    async with eng.begin() as conn:
        await conn.run_sync(create_schema_at_head)
    yield eng
    await eng.dispose()


@functools.cache
def _migration_scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config(""))


def create_schema_at_head(sync_conn: Connection) -> None:
    """The models' tables, stamped as migrated to the head revision (as `hubbub migrate` leaves
    a database, and as /readyz wants it)."""
    metadata.create_all(sync_conn)
    MigrationContext.configure(sync_conn).stamp(_migration_scripts(), "head")


@pytest.fixture(scope="session")
def cluster_bus_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private nats-server for the cluster mode; empty without it."""
    if CLUSTER_NODES < 2:
        yield ""
        return
    from tests.cluster import NatsServer

    nats = NatsServer(tmp_path_factory.mktemp("nats") / "nats.log")
    nats.start_blocking()
    yield nats.url
    nats.stop()


@pytest.fixture
def settings(database_url: str, tmp_path: Path, cluster_bus_url: str) -> Settings:
    clustered = {"bus_url": cluster_bus_url} if cluster_bus_url and database_url.startswith("mysql") else {}
    return load_settings("testing", database_url=database_url, upload_dir=str(tmp_path / "uploads"), **clustered)


@pytest.fixture
async def app(settings: Settings, engine: AsyncEngine):
    """The application on a freshly created schema (the `engine` fixture made it)."""
    from server.app import create_app

    return create_app(settings)


@pytest.fixture
async def client(app, aiohttp_client, settings: Settings):
    """A real server on a loopback port and an HTTP client for it. `app` comes first so the
    server shuts down before its database is dropped. In the cluster mode it is the first node;
    `client.cluster_nodes` lists the clients of all of them."""
    first = await aiohttp_client(app)
    first.cluster_nodes = [first]
    if settings.bus_url:
        from server.app import create_app
        from tests.cluster import until_buses_connected

        first.cluster_nodes += [await aiohttp_client(create_app(settings)) for _ in range(CLUSTER_NODES - 1)]
        await until_buses_connected([node.server.app for node in first.cluster_nodes])
    return first


@pytest.fixture
def users(client):
    """Registers and logs in users: `await users.make("alice")` → a `tests.chat.ChatUser`."""
    from tests.chat import UserFactory

    return UserFactory(client)
