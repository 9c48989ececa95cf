"""Fixtures of the fault suite: one private MariaDB for the session, and per test a fresh
database on it with `hubbub serve` processes that are killed by PID when the test ends,
whatever happened."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.faults.hubbub import HubbubServer, migrate
from tests.faults.mariadb import PrivateMariaDB, available

DEFAULT_WAIT_TIMEOUT = 28800


@pytest.fixture(scope="session")
def mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateMariaDB]:
    missing = available()
    if missing:
        pytest.skip(f"the fault suite needs a private MariaDB: {missing}")
    db = PrivateMariaDB(tmp_path_factory.mktemp("mariadb"))
    db.install()
    try:
        db.start()
        yield db
    finally:
        db.kill()


class Farm:
    """The servers of one test, all on one fresh database."""

    def __init__(self, mariadb: PrivateMariaDB, workdir: Path) -> None:
        self.mariadb = mariadb
        self.workdir = workdir
        self.database = f"faults_{uuid.uuid4().hex[:10]}"
        self.database_url = mariadb.database_url(self.database)
        self.servers: list[HubbubServer] = []

    def prepare(self) -> None:
        self.mariadb.sql(f"CREATE DATABASE `{self.database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        migrate(self.database_url, self.workdir)

    def start(self, overrides: dict[str, str] | None = None, database_port: int | None = None) -> HubbubServer:
        """A server on this farm's database, reached through `database_port` when given (a relay)."""
        url = self.database_url if database_port is None else self.database_url.replace(f":{self.mariadb.port}/", f":{database_port}/")
        server = HubbubServer(f"hubbub-{len(self.servers) + 1}", url, self.workdir, overrides)
        self.servers.append(server)
        server.start()
        return server

    def cleanup(self) -> None:
        for server in self.servers:
            server.kill()
        # A scenario may have stopped or frozen the database or shortened its timeouts: the
        # next one gets it running, as configured at start.
        self.mariadb.thaw()
        self.mariadb.start()
        self.mariadb.sql(f"SET GLOBAL wait_timeout = {DEFAULT_WAIT_TIMEOUT}")
        self.mariadb.sql(f"DROP DATABASE IF EXISTS `{self.database}`")


@pytest.fixture
def farm(mariadb: PrivateMariaDB, tmp_path: Path) -> Iterator[Farm]:
    farm = Farm(mariadb, tmp_path)
    try:
        mariadb.start()
        farm.prepare()
        yield farm
    finally:
        farm.cleanup()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    # No connection limit: a scenario holds dozens of sockets at once.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        yield http
