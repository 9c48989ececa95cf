"""The administrator's commands, on the configured database:

    hubbub user create USERNAME --email E [--nickname N]    (the password from a prompt or stdin)
    hubbub user disable|enable USERNAME
    hubbub user reset-password USERNAME                     (the password from a prompt or stdin)
    hubbub user reset-2fa USERNAME
    hubbub user list [--prefix P] [--after ID] [--limit N]
    hubbub token revoke --user USERNAME
    hubbub session list --user USERNAME
    hubbub session revoke --user USERNAME --id SESSION_ID
    hubbub conversation list --user USERNAME

Disabling a user, resetting their password and revoking their tokens revoke every token they
hold; the running servers close their sockets (1008): at once when told over the cluster bus
(`bus_url`), else when their token sweeper next reads the database (within
`server.app.TOKEN_SWEEP_SECONDS`). Exit status: 0 done, 1 refused (no such user, name taken,
bus unreachable: the database change is made all the same), 2 bad arguments."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Sequence
from datetime import datetime

from marshmallow import ValidationError
from sqlalchemy.exc import DBAPIError

from handlers.errors import HubbubError
from handlers.schemas import RegisterSchema
from handlers.services import passwords
from handlers.services.accounts import AccountAdmin
from server.app import TOKEN_SWEEP_SECONDS
from server.nats_bus import publish_close_user
from settings import Settings
from storage.engine import create_engine

COMMANDS = ("user", "token", "session", "conversation")


class CommandError(Exception):
    """Print the message and exit with `status`."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


def add_commands(commands: argparse._SubParsersAction) -> None:
    user = commands.add_parser("user", help="create, disable, enable, list users; reset a password").add_subparsers(dest="action", required=True)
    create = user.add_parser("create", help="create a user (the password from a prompt, or the first line of stdin)")
    create.add_argument("username")
    create.add_argument("--email", required=True)
    create.add_argument("--nickname")
    for action, text in (
        ("disable", "refuse the user's logins, revoke their tokens and close their sockets"),
        ("enable", "let a disabled user log in again"),
        ("reset-password", "set a new password (from a prompt, or the first line of stdin) and revoke the user's tokens"),
        ("reset-2fa", "turn the user's two-factor authentication off (lost authenticator and recovery codes)"),
    ):
        user.add_parser(action, help=text).add_argument("username")
    listing = user.add_parser("list", help="users by id")
    listing.add_argument("--prefix", help="of the username or nickname")
    listing.add_argument("--after", type=int, help="list the users after this id")
    listing.add_argument("--limit", type=int, default=100)

    token = commands.add_parser("token", help="revoke tokens").add_subparsers(dest="action", required=True)
    token.add_parser("revoke", help="revoke every token of a user and close their sockets").add_argument("--user", required=True, dest="username")

    session = commands.add_parser("session", help="list or revoke a user's sessions (devices)").add_subparsers(dest="action", required=True)
    session.add_parser("list", help="a user's live sessions, most recently seen first").add_argument("--user", required=True, dest="username")
    revoke = session.add_parser("revoke", help="revoke one session of a user and close its sockets")
    revoke.add_argument("--user", required=True, dest="username")
    revoke.add_argument("--id", required=True, type=int, dest="session_id")

    conversation = commands.add_parser("conversation", help="list conversations").add_subparsers(dest="action", required=True)
    conversation.add_parser("list", help="a user's conversations, latest activity first").add_argument("--user", required=True, dest="username")


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        return asyncio.run(_run(args, settings))
    except CommandError as exc:
        print(f"hubbub: {exc}", file=sys.stderr)
        return exc.status


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    db = create_engine(settings.database_url, settings.database_timeout_seconds)
    try:
        await _dispatch(args, settings, AccountAdmin(db, settings))
        return 0
    except HubbubError as exc:
        raise CommandError(exc.message) from None
    except DBAPIError as exc:
        # The driver's own words: no SQL and no parameters (a password hash among them).
        raise CommandError(f"database error: {exc.orig} (is it migrated? hubbub migrate)") from None
    finally:
        await db.dispose()
        passwords.shutdown_executor()


async def _dispatch(args: argparse.Namespace, settings: Settings, admin: AccountAdmin) -> None:
    command = (args.command, args.action)
    if command == ("user", "create"):
        fields = _valid(username=args.username, email=args.email, password=_password(), nickname=args.nickname)
        me = await admin.create(**fields)
        print(f"created user {me['username']} (id {me['id']})")
    elif command == ("user", "disable"):
        user = await admin.disable(args.username)
        print(f"disabled user {user.username} (id {user.id}); their tokens are revoked")
        await _close_sockets(settings, user.id)
    elif command == ("user", "enable"):
        user = await admin.enable(args.username)
        print(f"enabled user {user.username} (id {user.id})")
    elif command == ("user", "reset-password"):
        password = _valid(password=_password())["password"]
        user = await admin.reset_password(args.username, password)
        print(f"new password for user {user.username} (id {user.id}); their tokens are revoked")
        await _close_sockets(settings, user.id)
    elif command == ("user", "list"):
        if not 1 <= args.limit <= 1000:
            raise CommandError("--limit must be from 1 to 1000", 2)
        rows = await admin.users(prefix=args.prefix, after=args.after, limit=args.limit)
        _table(
            ("id", "username", "email", "nickname", "status", "created_at"),
            [(row.id, row.username, row.email, row.nickname, "enabled" if row.status == 1 else "disabled", _time(row.created_at)) for row in rows],
        )
    elif command == ("token", "revoke"):
        user = await admin.revoke_tokens(args.username)
        print(f"revoked every token of user {user.username} (id {user.id})")
        await _close_sockets(settings, user.id)
    elif command == ("user", "reset-2fa"):
        user = await admin.reset_two_factor(args.username)
        print(f"two-factor authentication is off for user {user.username} (id {user.id})")
    elif command == ("session", "list"):
        user, sessions = await admin.sessions(args.username)
        _table(("id", "device", "created_at", "last_seen_at"), [(s.id, s.device, _time(s.created_at), _time(s.last_seen_at)) for s in sessions])
    elif command == ("session", "revoke"):
        user = await admin.revoke_session(args.username, args.session_id)
        print(f"revoked session {args.session_id} of user {user.username} (id {user.id})")
        await _close_sockets(settings, user.id, token_id=f"s{args.session_id}")
    elif command == ("conversation", "list"):
        conversations = await admin.conversations(args.username)
        _table(
            ("id", "type", "name", "peer", "last_seq", "unread", "updated_at"),
            [(c["id"], c["type"], c["name"], c["peer"], c["last_seq"], c["unread_count"], _time(c["updated_at"])) for c in conversations],
        )


async def _close_sockets(settings: Settings, user_id: int, *, token_id: str | None = None) -> None:
    """All of the user's sockets, or those of `token_id` (a session's: s<id>)."""
    if not settings.bus_url:
        print(f"running servers close the user's sockets within {TOKEN_SWEEP_SECONDS:g} seconds")
        return
    try:
        await publish_close_user(settings.bus_url, user_id, token_id=token_id)
    except Exception as exc:  # noqa: BLE001 - any failure to reach NATS; the sweepers still see it
        raise CommandError(
            f"could not tell the servers over the cluster bus ({type(exc).__name__}); "
            f"they close the user's sockets within {TOKEN_SWEEP_SECONDS:g} seconds from the database"
        ) from None
    print("told the servers over the cluster bus to close the user's sockets")


def _password() -> str:
    """From a prompt, twice, on a terminal; else the first line of stdin (never an argument,
    which other users of the machine could read in the process list)."""
    if sys.stdin.isatty():
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            raise CommandError("the passwords differ", 2)
        return password
    return sys.stdin.readline().rstrip("\r\n")


def _valid(**fields: str | None) -> dict:
    """The rules registration applies (handlers.schemas.RegisterSchema), for the fields given."""
    try:
        return RegisterSchema(only=tuple(fields)).load(fields)
    except ValidationError as exc:
        reasons = "; ".join(f"{field}: {' '.join(messages)}" for field, messages in sorted(exc.messages.items()))
        raise CommandError(reasons, 2) from None


def _time(moment: datetime) -> str:
    return moment.isoformat(sep=" ", timespec="seconds") + "Z"


def _table(header: Sequence[str], rows: list[Sequence[object]]) -> None:
    cells = [[str(value) if value is not None else "-" for value in row] for row in [header, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for row in cells:
        print("  ".join(value.ljust(width) for value, width in zip(row, widths)).rstrip())
