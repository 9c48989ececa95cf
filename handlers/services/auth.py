"""Registration, login, logout, sessions, token refresh and token checks."""

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from handlers.errors import Conflict, Forbidden, Unauthorized
from handlers.objects import me_vo
from handlers.services.login_throttle import LoginThrottle
from handlers.services.passwords import hash_password, verify_password
from handlers.services.session_lookups import SessionLookups
from handlers.services.tokens import CHALLENGE_TTL_SECONDS, TokenClaims, decode_token, issue_challenge, issue_token, session_of
from settings import Settings
from storage import account_deletion as deletion_store
from storage import sessions as session_store
from storage import tokens as token_store
from storage import users as user_store
from storage.clock import to_millis, utc_now
from storage.transactions import in_transaction

BAD_CREDENTIALS = "invalid username, email or password"
WRONG_PASSWORD = "current password is wrong"
BAD_REFRESH = "invalid refresh token"
UNKNOWN_DEVICE = "unknown device"
DEVICE_MAX_CHARS = 128


class TwoFactorRequired(Unauthorized):
    """The password was right and the account has two-factor authentication: the login goes on
    at `POST /api/auth/login/2fa` with `challenge` and a code."""

    def __init__(self, challenge: str) -> None:
        super().__init__(
            "two-factor code required",
            {"two_factor_required": True, "challenge": challenge, "expires_in": CHALLENGE_TTL_SECONDS},
        )


class RefreshTokenReused(Unauthorized):
    """A rotated refresh token came back: it was copied, so its session is revoked (committed
    before this is raised); `session_id`, for the caller to close the session's sockets."""

    def __init__(self, session_id: int) -> None:
        super().__init__("refresh token already used: the session is revoked")
        self.session_id = session_id


def refresh_hash(refresh_token: str) -> str:
    """Refresh tokens are stored as this hash: one read from the database cannot be replayed.
    Looked up by it, so comparing it is the index's job and leaks nothing of the token."""
    return hashlib.sha256(refresh_token.encode()).hexdigest()


def device_label(given: str | None, user_agent: str | None) -> str:
    label = (given or user_agent or "").strip()
    return label[:DEVICE_MAX_CHARS] or UNKNOWN_DEVICE


# The token sweeper asks about every open socket's user and session every few seconds: in
# statements of this many ids, not one of 19,000 bound values whose buffers stay in the
# process's heap (RSS per idle socket +0.5 KiB after the first sweep, bench/FINDINGS.md).
SWEEP_CHUNK = 500


class AuthService:
    def __init__(self, db: AsyncEngine, settings: Settings) -> None:
        self._db = db
        self._settings = settings
        self.throttle = LoginThrottle(settings.login_attempts_per_minute)
        self._session_lookups = SessionLookups(db)
        # Verified against when the account does not exist, so that an unknown name costs the
        # same bcrypt time as a wrong password and timing does not reveal which it was.
        self._decoy_hash: str | None = None

    async def close(self) -> None:
        await self._session_lookups.close()

    async def register(self, *, username: str, email: str, password: str, nickname: str | None) -> dict:
        async with self._db.connect() as conn:
            taken = await user_store.find_taken(conn, username=username, email=email)
            if await deletion_store.is_retired(conn, username, utc_now()):
                taken.add("username")  # a deleted account's, held back for a while
        if taken:
            raise _taken_conflict(taken)
        password_hash = await hash_password(password, self._settings.bcrypt_rounds)
        try:
            row = await in_transaction(
                self._db,
                lambda conn: user_store.insert_user(conn, username=username, email=email, password_hash=password_hash, nickname=nickname),
                "a registration",
            )
        except IntegrityError:
            # Lost a race with another registration of the same name or email.
            async with self._db.connect() as conn:
                taken = await user_store.find_taken(conn, username=username, email=email)
            raise _taken_conflict(taken or {"username"}) from None
        return me_vo(row, online=False)

    async def login(
        self, *, username: str | None, email: str | None, password: str, client_address: str, device: str | None = None, user_agent: str | None = None
    ) -> dict:
        """A new session on the caller's device (labelled `device`, else its User-Agent): an
        access token of the session and its first refresh token (PROTOCOL §3)."""
        address_key = "address:" + client_address
        self.throttle.check(address_key)  # refuse a throttled address before any database work
        async with self._db.connect() as conn:
            row = await user_store.find_for_login(conn, username=username, email=email)
        # Per account: attempts by username and by email on one account add up.
        identity = username if username is not None else email
        account_key = f"user:{row.id}" if row is not None else "name:" + identity.lower()
        attempt = self.throttle.begin(account_key, address_key)
        if row is None and self._decoy_hash is None:
            self._decoy_hash = await hash_password("decoy password", self._settings.bcrypt_rounds)
        valid = await verify_password(password, row.password_hash if row is not None else self._decoy_hash)
        if row is None or not valid:
            raise Unauthorized(BAD_CREDENTIALS)
        self.throttle.forgive(attempt, account_key, address_key)
        if row.status != 1:
            raise Forbidden("account disabled")
        if row.totp_enabled_at is not None:
            raise TwoFactorRequired(issue_challenge(row.id, row.token_generation, self._settings.jwt_secret))
        return await self.new_session(row, device, user_agent)

    async def new_session(self, row: Row, device: str | None, user_agent: str | None) -> dict:
        """A session of the user `row` on the caller's device: LoginVO."""
        refresh_token = secrets.token_urlsafe(32)
        now = utc_now()
        session_id = await in_transaction(
            self._db,
            lambda conn: session_store.create(
                conn,
                user_id=row.id,
                device=device_label(device, user_agent),
                refresh_hash=refresh_hash(refresh_token),
                now=now,
                expires_at=now + timedelta(seconds=self._settings.refresh_ttl_seconds),
            ),
            "a login's session",
        )
        return {**self._tokens(row.id, row.token_generation, session_id, refresh_token), "user": me_vo(row, online=False)}

    def _tokens(self, user_id: int, generation: int, session_id: int, refresh_token: str) -> dict:
        token, _ = issue_token(user_id, self._settings.jwt_secret, self._settings.jwt_ttl_seconds, generation, session_id)
        return {
            "token": token,
            "token_type": "Bearer",
            "expires_in": self._settings.jwt_ttl_seconds,
            "refresh_token": refresh_token,
            "refresh_expires_in": self._settings.refresh_ttl_seconds,
            "session_id": session_id,
        }

    async def refresh(self, refresh_token: str) -> dict:
        """A new access token of the session and the next refresh token, this one rotated out.
        A refresh token already rotated and presented again was copied: the session is revoked
        (RefreshTokenReused). An unknown token, or one of a revoked or expired session, is 401;
        a disabled user's 403."""
        old_hash = refresh_hash(refresh_token)
        new_token = secrets.token_urlsafe(32)
        now = utc_now()
        async def write(conn: AsyncConnection) -> tuple[Row, bool]:
            found = await session_store.find_refresh(conn, old_hash)
            if found is None or found.revoked_at is not None or found.expires_at <= now:
                raise Unauthorized(BAD_REFRESH)
            if found.status != 1:
                raise Forbidden("account disabled")
            rotated = found.rotated_at is None and await session_store.rotate(
                conn,
                old_hash=old_hash,
                new_hash=refresh_hash(new_token),
                session_id=found.session_id,
                now=now,
                expires_at=now + timedelta(seconds=self._settings.refresh_ttl_seconds),
            )
            if not rotated:
                await session_store.revoke(conn, found.session_id, found.user_id, now)
            return found, rotated

        found, rotated = await in_transaction(self._db, write, "a refresh")
        if not rotated:
            raise RefreshTokenReused(found.session_id)
        return self._tokens(found.user_id, found.token_generation, found.session_id, new_token)

    async def sessions(self, claims: TokenClaims) -> list[dict]:
        """The caller's live sessions (SessionVO), most recently seen first."""
        async with self._db.connect() as conn:
            rows = await session_store.list_live(conn, claims.user_id, utc_now())
        return [
            {
                "id": row.id,
                "device": row.device,
                "created_at": to_millis(row.created_at),
                "last_seen_at": to_millis(row.last_seen_at),
                "current": row.id == claims.session_id,
            }
            for row in rows
        ]

    async def revoke_session(self, claims: TokenClaims, session_id: int) -> bool:
        """Revoke one of the caller's live sessions (the current one too); False: none such."""
        return await in_transaction(self._db, lambda conn: session_store.revoke(conn, session_id, claims.user_id, utc_now()), "a session's revocation")

    async def logout_others(self, claims: TokenClaims) -> None:
        """Revoke every other session and token of the caller; theirs stays valid."""
        async def write(conn: AsyncConnection) -> None:
            if not await token_store.revoke_all_but(conn, claims.user_id, claims.jti, claims.generation, claims.session_id):
                raise Unauthorized("token revoked")

        await in_transaction(self._db, write, "a logout of the other sessions")

    async def authenticate(self, token: str) -> TokenClaims:
        """Claims of a valid, unrevoked token of an existing, enabled user; else 401/403. A
        disabled user's tokens are 403 although disabling revoked them (PROTOCOL §2)."""
        claims = decode_token(token, self._settings.jwt_secret)
        if claims.session_id is not None:
            user = await self._session_lookups.user_of(claims.session_id)
            if user is not None and user.id != claims.user_id:
                user = None
        else:
            async with self._db.connect() as conn:
                user = await token_store.user_for_token(conn, claims.user_id, claims.jti, claims.generation)
        if user is None or user.deleted_at is not None:
            raise Unauthorized("token revoked")
        if user.status != 1:
            raise Forbidden("account disabled")
        if not user.token_valid:
            raise Unauthorized("token revoked")
        if user.session_seen_at is not None:
            now = utc_now()
            if now - user.session_seen_at >= timedelta(seconds=self._settings.session_seen_every_seconds):
                # At most once per session every few minutes: a request costs no write.
                await in_transaction(self._db, lambda conn: session_store.touch(conn, claims.session_id, now), "a session's last-seen time")
        return claims

    async def sessions_ended(self, user_ids: list[int]) -> dict[int, tuple[int, str | None] | None]:
        """Of these users, those whose sockets may have to close: {user_id: (their current token
        generation, the token a password change kept or None), or None when disabled}."""
        ended: dict[int, tuple[int, str | None] | None] = {}
        if not user_ids:
            return ended
        async with self._db.connect() as conn:
            for at in range(0, len(user_ids), SWEEP_CHUNK):
                ended |= await token_store.sessions_ended(conn, user_ids[at : at + SWEEP_CHUNK])
        return ended

    async def revoked_among(self, token_ids: list[str]) -> set[str]:
        """Those of `token_ids` (`TokenClaims.revocation_key`s: sessions, or tokens without one)
        that were revoked, or whose session ended."""
        sessions = {key: session_of(key) for key in token_ids}
        session_ids = [session_id for session_id in sessions.values() if session_id is not None]
        own_ids = [key for key, session_id in sessions.items() if session_id is None]
        revoked: set[str] = set()
        if not token_ids:
            return revoked
        now = utc_now()
        async with self._db.connect() as conn:
            for at in range(0, len(own_ids), SWEEP_CHUNK):
                revoked |= await token_store.revoked_among(conn, own_ids[at : at + SWEEP_CHUNK])
            for at in range(0, len(session_ids), SWEEP_CHUNK):
                ended = await session_store.ended_among(conn, session_ids[at : at + SWEEP_CHUNK], now)
                revoked |= {f"s{session_id}" for session_id in ended}
        return revoked

    async def change_password(self, claims: TokenClaims, *, current_password: str, new_password: str, client_address: str) -> None:
        """Check the current password (throttled as login is, on the same counts: 429), set the
        new one and revoke every other token of the user in one transaction; the caller's token
        stays valid (`storage.tokens.revoke_all_but`). A wrong current password is 403, not 401:
        the token is fine, and a client must not take the answer for a logout."""
        await self.check_password(claims, current_password, client_address)
        password_hash = await hash_password(new_password, self._settings.bcrypt_rounds)
        async def write(conn: AsyncConnection) -> None:
            # The token is checked again in the same statement: revoked since the request began
            # (logout, `hubbub token revoke`, disabling), it must not be brought back as the kept one.
            if not await token_store.revoke_all_but(conn, claims.user_id, claims.jti, claims.generation, claims.session_id):
                raise Unauthorized("token revoked")
            await user_store.set_password_hash(conn, claims.user_id, password_hash)

        await in_transaction(self._db, write, "a password change")

    async def check_password(self, claims: TokenClaims, password: str, client_address: str) -> None:
        """The caller's own password, checked as a login is (the same throttle and counts: 429);
        wrong: 403, not 401, as the token is fine and a client must not take it for a logout."""
        address_key = "address:" + client_address
        account_key = f"user:{claims.user_id}"
        self.throttle.check(address_key, account_key)
        async with self._db.connect() as conn:
            row = await user_store.get_user(conn, claims.user_id)
        if row is None:
            raise Unauthorized("token revoked")
        attempt = self.throttle.begin(account_key, address_key)
        if not await verify_password(password, row.password_hash):
            raise Forbidden(WRONG_PASSWORD)
        self.throttle.forgive(attempt, account_key, address_key)

    async def delete_account(self, claims: TokenClaims) -> list[deletion_store.Handover]:
        """In one transaction: every token and session revoked, the account disabled and
        anonymised, its username held back, its groups handed over (and its messages emptied
        when `deleted_user_content` says so). The handovers (group, new owner, its notice), for
        the caller to announce; checking the password (and the second factor) first and closing the sockets after are
        the caller's too."""
        now = utc_now()
        hold_days = self._settings.deleted_username_hold_days
        async def write(conn: AsyncConnection) -> list[deletion_store.Handover]:
            await token_store.revoke_all(conn, claims.user_id)
            if not await deletion_store.anonymise(conn, claims.user_id, now, now + timedelta(days=hold_days) if hold_days else None):
                raise Unauthorized("token revoked")
            handovers = await deletion_store.hand_over_groups(conn, claims.user_id)
            await deletion_store.close_direct_conversations(conn, claims.user_id, now)
            if self._settings.deleted_user_content == "remove":
                await deletion_store.remove_sent_content(conn, claims.user_id)
            return handovers

        # The handover takes rows of groups that sends and member changes lock too.
        return await in_transaction(self._db, write, "an account's deletion")

    async def logout(self, claims: TokenClaims) -> None:
        """Revoke the token's session, or the token itself when it has none."""
        if claims.session_id is not None:
            await in_transaction(self._db, lambda conn: session_store.revoke(conn, claims.session_id, claims.user_id, utc_now()), "a logout")
        else:
            expires_at = datetime.fromtimestamp(claims.expires_at, UTC).replace(tzinfo=None)
            await in_transaction(self._db, lambda conn: token_store.revoke(conn, claims.jti, expires_at), "a logout")


def _taken_conflict(taken: set[str]) -> Conflict:
    fields = sorted(taken)
    return Conflict(f"{' and '.join(fields)} already taken", {"fields": fields})
