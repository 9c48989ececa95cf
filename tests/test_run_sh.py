"""The test account that tests/run.sh sets up: from loopback only, and on the tests' own
databases only. Older versions gave 'hubbub'@'%' (password hubbub) every privilege on every
database: on a server that listens beyond loopback, an open door."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pymysql
import pytest
from sqlalchemy.engine import make_url

from tests.conftest import MYSQL_SERVER_URL

pytestmark = pytest.mark.mysql

RUN_SH = Path(__file__).with_name("run.sh")
DEFAULT_TEST_MYSQL_URL = "mysql+aiomysql://hubbub:hubbub@127.0.0.1:3306/"
SERVER = make_url(MYSQL_SERVER_URL)


def connect(user: str, password: str) -> pymysql.Connection:
    return pymysql.connect(host=SERVER.host or "127.0.0.1", port=SERVER.port or 3306, user=user, password=password, connect_timeout=5, autocommit=True)


def global_grants(cursor) -> list[str]:
    """The grants of the logged-in account that reach every database, beyond logging in."""
    cursor.execute("SHOW GRANTS")
    return [grant for (grant,) in cursor.fetchall() if " ON *.* TO " in grant and not grant.startswith("GRANT USAGE ON")]


def may_create(cursor, database: str) -> bool:
    try:
        cursor.execute(f"CREATE DATABASE `{database}`")
    except pymysql.err.OperationalError as refused:
        assert refused.args[0] in (1044, 1045), refused  # access denied
        return False
    cursor.execute(f"DROP DATABASE `{database}`")
    return True


@pytest.mark.skipif(MYSQL_SERVER_URL != DEFAULT_TEST_MYSQL_URL, reason="HUBBUB_TEST_MYSQL_URL names an account run.sh does not manage")
def test_the_test_account_can_do_no_more_than_the_tests_need():
    with connect("hubbub", "hubbub") as conn, conn.cursor() as cursor:
        assert global_grants(cursor) == []
        cursor.execute("SELECT CURRENT_USER()")
        assert cursor.fetchone()[0].rpartition("@")[2] in ("127.0.0.1", "localhost")
        # Only an account allowed to read the grant tables could see an account for any host.
        with pytest.raises(pymysql.err.OperationalError):
            cursor.execute("SELECT Host FROM mysql.user WHERE User = 'hubbub'")
        suffix = uuid.uuid4().hex[:8]
        assert may_create(cursor, f"hubbub_test_probe_{suffix}")
        assert may_create(cursor, f"hubbub_bench_{suffix}")
        # "_" is a wildcard in GRANT's database names unless escaped: these must not match.
        assert not may_create(cursor, f"hubbubxtestx{suffix}")
        assert not may_create(cursor, f"hubbub_testing_{suffix}")
        assert not may_create(cursor, f"other_{suffix}")


def run_sh(script: str) -> subprocess.CompletedProcess:
    """Runs bash lines with tests/run.sh sourced (which runs nothing by itself)."""
    prelude = f'source "{RUN_SH}"\nchoose_python\nPORT={SERVER.port or 3306}\n'
    return subprocess.run(["bash", "-c", prelude + script], capture_output=True, text=True, timeout=120)


@pytest.fixture
def wide_account():
    """A stand-in for the test account as an older run.sh made it, under a name of its own so
    that the account the suite runs as is left alone; dropped afterwards."""
    user, password = f"hubbub_wide_{uuid.uuid4().hex[:8]}", "wide-password"
    old_setup = f"""
        CREATE USER IF NOT EXISTS '{user}'@'127.0.0.1' IDENTIFIED BY '{password}';
        CREATE USER IF NOT EXISTS '{user}'@'localhost' IDENTIFIED BY '{password}';
        CREATE USER IF NOT EXISTS '{user}'@'%' IDENTIFIED BY '{password}';
        GRANT ALL PRIVILEGES ON *.* TO '{user}'@'127.0.0.1', '{user}'@'localhost', '{user}'@'%';"""
    if run_sh(f"root_sql {quote(old_setup)}").returncode != 0:
        pytest.skip("cannot log in to the test server as root (unix socket, or TCP without a password)")
    yield user, password
    run_sh(f"root_sql {quote(''.join(f'DROP USER IF EXISTS {user!r}@{host!r};' for host in ('127.0.0.1', 'localhost', '%')))}")


def quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def test_run_sh_narrows_a_test_account_that_an_older_run_sh_made_wide(wide_account):
    user, password = wide_account
    with connect(user, password) as conn, conn.cursor() as cursor:
        assert global_grants(cursor) != []

    url = f"mysql+aiomysql://{user}:{password}@127.0.0.1:{SERVER.port or 3306}/"
    done = run_sh(
        f"TEST_USER={user}; TEST_PASSWORD={password}; DEFAULT_TEST_MYSQL_URL={url}; TEST_URL={url}\n"
        'status=0; db_probe "$TEST_URL" || status=$?; echo "before: $status"\n'
        "ensure_server\n"
        'status=0; db_probe "$TEST_URL" || status=$?; echo "after: $status"\n'
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["before:", "4", "after:", "0"], (done.stdout, done.stderr)
    assert f"narrowing the test user {user}" in done.stderr

    with connect(user, password) as conn, conn.cursor() as cursor:
        assert global_grants(cursor) == []
        assert may_create(cursor, f"hubbub_test_probe_{uuid.uuid4().hex[:8]}")
        assert not may_create(cursor, f"other_{uuid.uuid4().hex[:8]}")
    for host, exists in (("127.0.0.1", True), ("localhost", True), ("%", False)):
        assert (run_sh(f"root_sql {quote(f'SHOW GRANTS FOR {user!r}@{host!r}')}").returncode == 0) == exists, host
