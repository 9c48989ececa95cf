#!/usr/bin/env bash
# The test command: `bash tests/run.sh [pytest arguments...]`.
#
# Works on a bare Debian 12 machine as root (installs what is missing) and on a developer
# machine where everything is already set up (then it only checks, in about a second):
#   1. installs the project with its test extra (`pip install -e ".[test]"`) unless the
#      installed copy already matches pyproject.toml;
#   2. makes sure a MySQL-compatible server answers on 127.0.0.1:3306, installing and
#      starting Debian's MariaDB when nothing does;
#   3. makes sure the test user (hubbub/hubbub) can log in and create databases, creating it
#      as the server's root when it can't (the tests create and drop a database per test),
#      from loopback only and on the tests' own databases only, narrowing it as root when an
#      older version of this script gave it every privilege from anywhere;
#   4. makes sure Debian's Chromium is there for the browser tests (Playwright drives it; it
#      never downloads a browser of its own), installing it when running as root;
#   5. makes sure Debian's nats-server is there for the cluster tests, and MariaDB's binaries
#      for the fault suite (both start servers of their own);
#   6. runs pytest with the arguments given.
# HUBBUB_TEST_MYSQL_URL points the tests at another server; then this script only checks it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# The test account, which this script creates: it logs in from loopback only, and may do
# anything, but only on the databases the tests and benchmarks make (hubbub_test_<id> per test,
# hubbub_test_probe_<pid> below, hubbub_bench_<id>) and on `hubbub`. A database name in GRANT
# is a LIKE pattern in which "_" matches any character, hence the escapes.
TEST_USER=hubbub
TEST_PASSWORD=hubbub
TEST_USER_HOSTS=(127.0.0.1 localhost)
TEST_USER_DATABASES=('hubbub\_test\_%' 'hubbub\_bench\_%' 'hubbub')
DEFAULT_TEST_MYSQL_URL="mysql+aiomysql://$TEST_USER:$TEST_PASSWORD@127.0.0.1:3306/"

# Where a MariaDB started by this script keeps its files: Debian's usual places.
MARIADBD=/usr/sbin/mariadbd
DATADIR=/var/lib/mysql
RUNDIR=/run/mysqld
LOGFILE=/var/log/mysql/error.log
START_TIMEOUT=60

say() { printf 'tests/run.sh: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

APT_UPDATED=
apt_install() {
    [[ $EUID -eq 0 ]] || die "need root to install $* with apt-get (or install them yourself)"
    if [[ -z $APT_UPDATED ]]; then
        say "apt-get update"
        apt-get update -qq >&2
        APT_UPDATED=1
    fi
    say "apt-get install $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

# --- Python -----------------------------------------------------------------------------

# Picks the interpreter into PY. A Debian system Python refuses `pip install` (PEP 668), so
# there the project gets its own virtual environment in .venv (already in .gitignore).
choose_python() {
    if [[ -x $ROOT/.venv/bin/python ]]; then
        PY=$ROOT/.venv/bin/python
        return
    fi
    PY=$(command -v python3 || command -v python || true)
    if [[ -z $PY ]]; then
        apt_install python3 python3-venv python3-pip
        PY=$(command -v python3)
    fi
    if "$PY" -c 'import os, sys, sysconfig
marker = os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")
sys.exit(0 if sys.prefix == sys.base_prefix and os.path.exists(marker) else 1)'; then
        say "this Python is managed by the system: creating $ROOT/.venv"
        "$PY" -m venv "$ROOT/.venv" 2>/dev/null || { apt_install python3-venv && "$PY" -m venv "$ROOT/.venv"; }
        PY=$ROOT/.venv/bin/python
    fi
}

# True when hubbub is installed in editable mode from this checkout with the version, entry
# points and (test) requirements pyproject.toml asks for: then pip has nothing to do, and
# skipping it saves seconds and a trip to the package index on every run.
install_is_current() {
    "$PY" - "$ROOT" <<'PY' 2>/dev/null
import importlib.metadata as md, json, sys, tomllib
from pathlib import Path
from pip._vendor.packaging.requirements import Requirement

root = Path(sys.argv[1])
# Look at what is installed, not at the hubbub.egg-info that the editable build leaves here.
sys.path[:] = [p for p in sys.path if p and Path(p).resolve() != root]
project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
dist = md.distribution(project["name"])
origin = json.loads(dist.read_text("direct_url.json") or "{}")
assert origin.get("url") == root.as_uri() and origin.get("dir_info", {}).get("editable")
assert dist.version == project["version"]
wanted = {("console_scripts", name, value) for name, value in project.get("scripts", {}).items()}
for group, points in project.get("entry-points", {}).items():
    wanted |= {(group, name, value) for name, value in points.items()}
assert wanted == {(ep.group, ep.name, ep.value) for ep in dist.entry_points}
for line in project["dependencies"] + project["optional-dependencies"]["test"]:
    req = Requirement(line)
    if req.marker is None or req.marker.evaluate():
        assert req.specifier.contains(md.version(req.name), prereleases=True), line
PY
}

ensure_installed() {
    if install_is_current; then
        return
    fi
    if ! "$PY" -m pip --version >/dev/null 2>&1; then
        "$PY" -m ensurepip --upgrade >/dev/null 2>&1 || apt_install python3-pip
    fi
    say "pip install -e \".[test]\""
    (cd "$ROOT" && PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1 \
        "$PY" -m pip install -q -e ".[test]" >&2)
}

# --- the MySQL-compatible server ----------------------------------------------------------

# db_probe URL: a real login with the URL's user. Exit status:
#   0 logged in and could create (and drop) a hubbub_test_ database: ready for the tests
#   1 nothing listens on that host and port
#   2 something listens there but does not speak MySQL
#   3 a MySQL-compatible server answers, but this user can't log in or create databases
#   4 as 0, but the user may do more than the tests need: it has privileges on every database
#     (beyond USAGE on *.*), or an account of its name may log in from any host ('%')
db_probe() {
    "$PY" - "$1" <<'PY'
import os, socket, sys
import pymysql
from sqlalchemy.engine import make_url

url = make_url(sys.argv[1])
host, port = url.host or "127.0.0.1", url.port or 3306
try:
    socket.create_connection((host, port), timeout=2).close()
except OSError:
    sys.exit(1)
try:
    conn = pymysql.connect(host=host, port=port, user=url.username or "", password=url.password or "",
                           connect_timeout=3, read_timeout=5, write_timeout=5)
except pymysql.err.MySQLError as exc:
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 2000
    sys.exit(3 if code < 2000 else 2)  # below 2000: the server said no; above: client-side failure
except Exception:
    sys.exit(2)
try:
    with conn.cursor() as cur:
        probe = f"hubbub_test_probe_{os.getpid()}"
        cur.execute(f"CREATE DATABASE IF NOT EXISTS `{probe}`")
        cur.execute(f"DROP DATABASE `{probe}`")
        cur.execute("SHOW GRANTS")
        wide = any(" ON *.* TO " in grant and not grant.startswith("GRANT USAGE ON") for (grant,) in cur.fetchall())
        try:
            # Only an account that may read the grant tables sees the others; a narrow one cannot.
            cur.execute("SELECT 1 FROM mysql.user WHERE User = %s AND Host = '%%'", (url.username or "",))
            wide = wide or cur.fetchone() is not None
        except pymysql.err.MySQLError:
            pass
except pymysql.err.MySQLError:
    sys.exit(3)
finally:
    conn.close()
sys.exit(4 if wide else 0)
PY
}

# Runs SQL as the server's root account. A fresh Debian MariaDB lets root in only through
# the unix socket (unix_socket auth, hence running as OS root); other setups (this project's
# CI machines, for one) have root with an empty password over TCP.
root_sql() {
    local sql=$1 client
    client=$(command -v mariadb || command -v mysql || true)
    if [[ -n $client ]]; then
        "$client" --socket="$RUNDIR/mysqld.sock" -uroot <<<"$sql" 2>/dev/null && return 0
        "$client" --protocol=tcp -h127.0.0.1 -P"$PORT" -uroot <<<"$sql" 2>/dev/null && return 0
    fi
    "$PY" - "$PORT" "$sql" <<'PY' 2>/dev/null
import sys
import pymysql
conn = pymysql.connect(host="127.0.0.1", port=int(sys.argv[1]), user="root", password="", connect_timeout=3)
with conn.cursor() as cur:
    for statement in filter(str.strip, sys.argv[2].split(";")):
        cur.execute(statement)
conn.close()
PY
}

# The SQL that makes the test account exactly what the tests need, whatever it was before:
# it also takes back what older versions of this script gave it (every privilege on every
# database, and logging in from anywhere), which on a server listening beyond loopback let
# anyone who knows this well-known password in. Privileges are granted before any is taken
# back, so tests running meanwhile never miss one.
test_user_sql() {
    local host database accounts=()
    for host in "${TEST_USER_HOSTS[@]}"; do
        printf "CREATE USER IF NOT EXISTS '%s'@'%s' IDENTIFIED BY '%s';\n" "$TEST_USER" "$host" "$TEST_PASSWORD"
        accounts+=("'$TEST_USER'@'$host'")
    done
    local to
    to=$(IFS=,; printf '%s' "${accounts[*]}")
    for database in "${TEST_USER_DATABASES[@]}"; do
        printf 'GRANT ALL PRIVILEGES ON `%s`.* TO %s;\n' "$database" "$to"
    done
    printf 'REVOKE ALL PRIVILEGES ON *.* FROM %s;\n' "$to"
    printf "DROP USER IF EXISTS '%s'@'%%';\n" "$TEST_USER"
    printf 'CREATE DATABASE IF NOT EXISTS hubbub CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;\n'
}

create_test_user() {
    local sql
    sql=$(test_user_sql)
    say "creating the test user $TEST_USER (from loopback, on the tests' databases only)"
    root_sql "$sql" || die "could not log in as root (unix socket, or TCP with an empty password) to run:
$sql"
}

# The test account can do more than the tests need (db_probe said 4). Ours is narrowed as
# root; an account named by HUBBUB_TEST_MYSQL_URL is someone else's to look after.
narrow_test_user() {
    local sql
    if [[ $TEST_URL != "$DEFAULT_TEST_MYSQL_URL" ]]; then
        say "warning: the user in HUBBUB_TEST_MYSQL_URL has privileges on every database or logs in from any host; the tests need neither"
        return 0
    fi
    sql=$(test_user_sql)
    say "narrowing the test user $TEST_USER: it had privileges on every database or an account for any host ('%'); now loopback only, on ${TEST_USER_DATABASES[*]}"
    if ! root_sql "$sql"; then
        say "warning: could not log in as root to narrow the test user; run this as the server's root:
$sql"
        return 0
    fi
    local status=0
    db_probe "$TEST_URL" || status=$?
    [[ $status -eq 0 ]] || die "after narrowing, the test user does not probe as ready and narrow (status $status)"
}

# Installs MariaDB if needed and starts it in the background on 127.0.0.1:$PORT.
start_mariadb() {
    [[ $EUID -eq 0 ]] || die "nothing answers on 127.0.0.1:$PORT and only root can install or start MariaDB here: start a MySQL-compatible server there, or set HUBBUB_TEST_MYSQL_URL"
    if [[ ! -x $MARIADBD ]]; then
        apt_install mariadb-server mariadb-client
        # The package's own scripts may have started it already.
        if wait_for_server 5; then return 0; fi
    fi
    # /run is often a fresh tmpfs, so the socket's directory may be gone.
    install -d -o mysql -g mysql -m 0755 "$RUNDIR"
    [[ -d $(dirname "$LOGFILE") ]] || install -d -o mysql -g mysql "$(dirname "$LOGFILE")"
    if [[ ! -d $DATADIR/mysql ]]; then
        say "initialising $DATADIR"
        install -d -o mysql -g mysql "$DATADIR"
        mariadb-install-db --user=mysql --datadir="$DATADIR" >>"$LOGFILE" 2>&1 ||
            die "mariadb-install-db failed for $DATADIR; last lines of $LOGFILE:
$(tail -n 20 "$LOGFILE")"
    fi
    say "starting MariaDB on 127.0.0.1:$PORT (log: $LOGFILE)"
    # Options given here win over the config files: a TCP listener on loopback is what the
    # tests need, whatever skip-networking or bind-address a config file says.
    start-stop-daemon --start --oknodo --background --pidfile "$RUNDIR/mysqld.pid" --exec "$MARIADBD" -- \
        --user=mysql --datadir="$DATADIR" --socket="$RUNDIR/mysqld.sock" --pid-file="$RUNDIR/mysqld.pid" \
        --log-error="$LOGFILE" --skip-networking=0 --bind-address=127.0.0.1 --port="$PORT" >&2
}

# wait_for_server SECONDS: true once a MySQL-compatible server answers on 127.0.0.1:$PORT.
wait_for_server() {
    local deadline=$((SECONDS + $1)) status
    while :; do
        status=0
        db_probe "$TEST_URL" || status=$?
        [[ $status -eq 0 || $status -eq 3 || $status -eq 4 ]] && return 0
        [[ $SECONDS -ge $deadline ]] && return 1
        sleep 1
    done
}

ensure_server() {
    local status=0 host
    db_probe "$TEST_URL" || status=$?
    [[ $status -eq 0 ]] && return 0
    [[ $status -eq 4 ]] && { narrow_test_user; return 0; }
    host=$("$PY" -c 'import sys; from sqlalchemy.engine import make_url; print(make_url(sys.argv[1]).host or "")' "$TEST_URL")

    if [[ $status -eq 2 ]]; then
        die "something at $host:$PORT accepts connections but does not answer as a MySQL-compatible server"
    fi
    if [[ $status -eq 1 ]]; then
        # Only a server on this machine's loopback at the default port is ours to start.
        [[ ($host == 127.0.0.1 || $host == localhost) && $PORT == 3306 ]] ||
            die "nothing answers at $host:$PORT (HUBBUB_TEST_MYSQL_URL)"
        say "no MySQL-compatible server answers on 127.0.0.1:$PORT"
        start_mariadb
        wait_for_server "$START_TIMEOUT" ||
            die "MariaDB did not answer on 127.0.0.1:$PORT within ${START_TIMEOUT}s; last lines of $LOGFILE:
$(tail -n 20 "$LOGFILE" 2>/dev/null || echo '(no log)')"
        say "MariaDB answers on 127.0.0.1:$PORT"
        status=0
        db_probe "$TEST_URL" || status=$?
        [[ $status -eq 0 ]] && return 0
        [[ $status -eq 4 ]] && { narrow_test_user; return 0; }
    fi

    # The server answers, but the test user can't log in or create databases.
    [[ $TEST_URL == "$DEFAULT_TEST_MYSQL_URL" ]] ||
        die "the server at $host:$PORT answers, but the user and password in HUBBUB_TEST_MYSQL_URL cannot log in and create a database"
    create_test_user
    db_probe "$TEST_URL" ||
        die "user hubbub still cannot log in with password hubbub and create databases (does it exist with another password?)"
}

# The browser tests skip themselves without a Chromium; as root we install Debian's.
ensure_chromium() {
    local chromium=${HUBBUB_CHROMIUM:-/usr/bin/chromium}
    [[ -x $chromium ]] && return
    if [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null; then
        apt_install chromium
    else
        say "no Chromium at $chromium: the browser tests will be skipped"
    fi
}

# The cluster tests start nats-servers of their own on free ports; they need the binary.
ensure_nats_server() {
    command -v nats-server >/dev/null || [[ -x /usr/sbin/nats-server ]] && return
    if [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null; then
        apt_install nats-server
    else
        say "no nats-server: the cluster tests will be skipped (apt-get install nats-server)"
    fi
}

# The fault suite (tests/faults) starts MariaDB servers of its own from Debian's binaries,
# whatever server answers on 3306.
ensure_mariadb_binaries() {
    [[ -x $MARIADBD ]] && command -v mariadb-install-db >/dev/null && return
    if [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null; then
        apt_install mariadb-server mariadb-client
    else
        say "no $MARIADBD: the fault suite will be skipped (apt-get install mariadb-server)"
    fi
}

main() {
    cd "$ROOT"
    choose_python
    ensure_installed

    export HUBBUB_TEST_MYSQL_URL="${HUBBUB_TEST_MYSQL_URL:-$DEFAULT_TEST_MYSQL_URL}"
    TEST_URL=$HUBBUB_TEST_MYSQL_URL
    PORT=$("$PY" -c 'import sys; from sqlalchemy.engine import make_url; print(make_url(sys.argv[1]).port or 3306)' "$TEST_URL")
    ensure_server
    ensure_chromium
    ensure_nats_server
    ensure_mariadb_binaries

    exec "$PY" -m pytest "$@"
}

# Sourcing the file (to try one function) runs nothing.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    main "$@"
fi
