"""Registration, login, logout and token checks."""

from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from handlers.errors import Conflict, Forbidden, Unauthorized
from handlers.objects import me_vo
from handlers.services.login_throttle import LoginThrottle
from handlers.services.passwords import hash_password, verify_password
from handlers.services.tokens import TokenClaims, decode_token, issue_token
from settings import Settings
from storage import tokens as token_store
from storage import users as user_store

BAD_CREDENTIALS = "invalid username, email or password"
WRONG_PASSWORD = "current password is wrong"


class AuthService:
    def __init__(self, db: AsyncEngine, settings: Settings) -> None:
        self._db = db
        self._settings = settings
        self.throttle = LoginThrottle(settings.login_attempts_per_minute)
        # Verified against when the account does not exist, so that an unknown name costs the
        # same bcrypt time as a wrong password and timing does not reveal which it was.
        self._decoy_hash: str | None = None

    async def register(self, *, username: str, email: str, password: str, nickname: str | None) -> dict:
        async with self._db.connect() as conn:
            taken = await user_store.find_taken(conn, username=username, email=email)
        if taken:
            raise _taken_conflict(taken)
        password_hash = await hash_password(password, self._settings.bcrypt_rounds)
        try:
            async with self._db.begin() as conn:
                row = await user_store.insert_user(conn, username=username, email=email, password_hash=password_hash, nickname=nickname)
        except IntegrityError:
            # Lost a race with another registration of the same name or email.
            async with self._db.connect() as conn:
                taken = await user_store.find_taken(conn, username=username, email=email)
            raise _taken_conflict(taken or {"username"}) from None
        return me_vo(row, online=False)

    async def login(self, *, username: str | None, email: str | None, password: str, client_address: str) -> dict:
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
        token, claims = issue_token(row.id, self._settings.jwt_secret, self._settings.jwt_ttl_seconds, row.token_generation)
        return {
            "token": token,
            "token_type": "Bearer",
            "expires_in": self._settings.jwt_ttl_seconds,
            "user": me_vo(row, online=False),
        }

    async def authenticate(self, token: str) -> TokenClaims:
        """Claims of a valid, unrevoked token of an existing, enabled user; else 401/403. A
        disabled user's tokens are 403 although disabling revoked them (PROTOCOL §2)."""
        claims = decode_token(token, self._settings.jwt_secret)
        async with self._db.connect() as conn:
            user = await token_store.user_for_token(conn, claims.user_id, claims.jti, claims.generation)
        if user is None:
            raise Unauthorized("token revoked")
        if user.status != 1:
            raise Forbidden("account disabled")
        if not user.token_valid:
            raise Unauthorized("token revoked")
        return claims

    async def sessions_ended(self, user_ids: list[int]) -> dict[int, tuple[int, str | None] | None]:
        """Of these users, those whose sockets may have to close: {user_id: (their current token
        generation, the token a password change kept or None), or None when disabled}."""
        if not user_ids:
            return {}
        async with self._db.connect() as conn:
            return await token_store.sessions_ended(conn, user_ids)

    async def revoked_among(self, token_ids: list[str]) -> set[str]:
        """Those of `token_ids` that were revoked."""
        if not token_ids:
            return set()
        async with self._db.connect() as conn:
            return await token_store.revoked_among(conn, token_ids)

    async def change_password(self, claims: TokenClaims, *, current_password: str, new_password: str, client_address: str) -> None:
        """Check the current password (throttled as login is, on the same counts: 429), set the
        new one and revoke every other token of the user in one transaction; the caller's token
        stays valid (`storage.tokens.revoke_all_but`). A wrong current password is 403, not 401:
        the token is fine, and a client must not take the answer for a logout."""
        address_key = "address:" + client_address
        account_key = f"user:{claims.user_id}"
        self.throttle.check(address_key, account_key)
        async with self._db.connect() as conn:
            row = await user_store.get_user(conn, claims.user_id)
        if row is None:
            raise Unauthorized("token revoked")
        attempt = self.throttle.begin(account_key, address_key)
        if not await verify_password(current_password, row.password_hash):
            raise Forbidden(WRONG_PASSWORD)
        self.throttle.forgive(attempt, account_key, address_key)
        password_hash = await hash_password(new_password, self._settings.bcrypt_rounds)
        async with self._db.begin() as conn:
            # The token is checked again in the same statement: revoked since the request began
            # (logout, `hubbub token revoke`, disabling), it must not be brought back as the kept one.
            if not await token_store.revoke_all_but(conn, claims.user_id, claims.jti, claims.generation):
                raise Unauthorized("token revoked")
            await user_store.set_password_hash(conn, claims.user_id, password_hash)

    async def logout(self, claims: TokenClaims) -> None:
        expires_at = datetime.fromtimestamp(claims.expires_at, UTC).replace(tzinfo=None)
        async with self._db.begin() as conn:
            await token_store.revoke(conn, claims.jti, expires_at)


def _taken_conflict(taken: set[str]) -> Conflict:
    fields = sorted(taken)
    return Conflict(f"{' and '.join(fields)} already taken", {"fields": fields})
