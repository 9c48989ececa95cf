"""The migrations: every revision goes up, down and up again, and head is exactly the schema of
storage.tables, on MySQL/MariaDB and on SQLite.

`upgrade` and `downgrade` run their own event loop, hence `asyncio.to_thread` around them."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from migrations import alembic_config, downgrade, upgrade
from storage.engine import create_engine
from storage.tables import SEARCH_FTS, metadata, users
from tests.conftest import create_mysql_database, drop_mysql_database

# Oldest first, so that a broken early revision is the first failure reported.
REVISIONS = list(reversed(list(ScriptDirectory.from_config(alembic_config("sqlite://")).walk_revisions())))


@contextlib.asynccontextmanager
async def engine_for(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
async def head_url(backend: str, database_url: str) -> str:
    """A fresh database of `backend`, migrated to head."""
    await asyncio.to_thread(upgrade, database_url)
    return database_url


@pytest.mark.parametrize("revision", REVISIONS, ids=lambda script: script.revision)
async def test_stairway(revision: Script, backend: str, database_url: str) -> None:
    """Each revision's downgrade undoes exactly its upgrade: else the second upgrade fails."""
    await asyncio.to_thread(upgrade, database_url, revision.revision)
    await asyncio.to_thread(downgrade, database_url, revision.down_revision or "base")
    await asyncio.to_thread(upgrade, database_url, revision.revision)


async def test_downgrade_to_base_leaves_only_alembic_version(head_url: str) -> None:
    await asyncio.to_thread(downgrade, head_url, "base")
    async with engine_for(head_url) as engine, engine.connect() as conn:
        tables = await conn.run_sync(lambda sync_conn: inspect(sync_conn).get_table_names())
    assert tables == ["alembic_version"]


def search_index_filter(dialect: str):
    """SQLite's FTS5 table of the search index and its shadow tables (message_search_fts_data,
    _idx, _config) are virtual or managed by FTS5: metadata cannot hold them; both the migration
    and create_all make them from the same DDL (storage.tables.SQLITE_SEARCH_DDL), and
    tests/test_search.py shows search working on each database. The FULLTEXT index is MySQL's
    only (`ddl_if`), which compare_metadata does not read."""

    def include(object_, name: str | None, type_: str, reflected: bool, compare_to) -> bool:
        if type_ == "table" and name is not None and name.startswith(SEARCH_FTS):
            return False
        return not (type_ == "index" and name == "ft_message_search_terms" and dialect == "sqlite")

    return include


def differences_from_models(sync_conn: Connection) -> list:
    include_object = search_index_filter(sync_conn.dialect.name)
    context = MigrationContext.configure(sync_conn, opts={"compare_type": True, "compare_server_default": False, "include_object": include_object})
    return compare_metadata(context, metadata)


async def test_head_matches_the_models(head_url: str) -> None:
    """What autogenerate would put into the next revision: nothing, or a revision is missing."""
    async with engine_for(head_url) as engine, engine.connect() as conn:
        assert await conn.run_sync(differences_from_models) == []


async def show_create_tables(database_url: str) -> dict[str, str]:
    async with engine_for(database_url) as engine, engine.connect() as conn:
        names = (await conn.exec_driver_sql("SHOW TABLES")).scalars().all()
        return {name: (await conn.exec_driver_sql(f"SHOW CREATE TABLE `{name}`")).one()[1] for name in names}


def definition_lines(ddl: str) -> set[str]:
    """A table's DDL as a set of lines: create_all emits indexes in no fixed order, and a later
    revision may append a column that the model lists earlier."""
    return {line.strip().rstrip(",") for line in ddl.splitlines()}


@pytest.fixture
async def create_all_mysql_url() -> AsyncIterator[str]:
    """A second fresh MySQL database, holding the schema that metadata.create_all makes."""
    url = await create_mysql_database()
    try:
        async with engine_for(url) as engine, engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        yield url
    finally:
        await drop_mysql_database(url)


async def test_head_on_mysql_is_what_create_all_makes(mysql_url: str, create_all_mysql_url: str) -> None:
    """Catches what compare_metadata misses: unsigned ints, DATETIME precision, server defaults and
    ON UPDATE, collations, table options."""
    await asyncio.to_thread(upgrade, mysql_url)
    migrated = await show_create_tables(mysql_url)
    del migrated["alembic_version"]
    created = await show_create_tables(create_all_mysql_url)
    assert {name: definition_lines(ddl) for name, ddl in migrated.items()} == {
        name: definition_lines(ddl) for name, ddl in created.items()
    }


async def test_users_on_mysql_has_seed_000_types(mysql_url: str) -> None:
    await asyncio.to_thread(upgrade, mysql_url)
    ddl = " ".join((await show_create_tables(mysql_url))["users"].lower().split())
    # MariaDB shows display widths (bigint(20)); MySQL 8 no longer does.
    assert re.search(r"`id` bigint(\(20\))? unsigned not null auto_increment,", ddl), ddl
    assert re.search(r"`status` tinyint(\(4\))? default '?1'?", ddl), ddl
    assert "`created_at` datetime(3) not null default current_timestamp(3)," in ddl
    assert "`updated_at` datetime(3) not null default current_timestamp(3) on update current_timestamp(3)," in ddl
    assert "engine=innodb default charset=utf8mb4 collate=utf8mb4_unicode_ci" in ddl


async def test_usernames_are_unique_regardless_of_case(head_url: str) -> None:
    async with engine_for(head_url) as engine:
        async with engine.begin() as conn:
            await conn.execute(users.insert().values(username="Bob", email="bob@example.com", password_hash="x"))
        with pytest.raises(IntegrityError):
            async with engine.begin() as conn:
                await conn.execute(users.insert().values(username="bob", email="bob2@example.com", password_hash="x"))


def test_config_keeps_percent_signs_of_the_url() -> None:
    url = "mysql+aiomysql://hubbub:p%40ss%25word@db.example/hubbub"
    assert alembic_config(url).get_main_option("sqlalchemy.url") == url
