"""Two-factor authentication with TOTP (RFC 6238, 30-second steps, 6 digits; pyotp): enrol
(a pending secret, its otpauth URI and a QR code drawn here), confirm with a code (then ten
recovery codes, shown once and kept hashed), the second step of a login, and disabling with the
password and a code. Codes are checked as passwords are: the same throttle, constant-time
comparisons, and each TOTP code works once."""

import hashlib
import hmac
import secrets
import time

import pyotp
import segno
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from handlers.errors import Conflict, Forbidden, Unauthorized, ValidationFailed
from handlers.services.auth import AuthService
from handlers.services.tokens import TokenClaims, decode_challenge
from settings import Settings
from storage import two_factor as totp_store
from storage import users as user_store
from storage.clock import utc_now
from storage.transactions import in_transaction

ISSUER = "Hubbub"
STEP_SECONDS = 30
RECOVERY_CODES = 10
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread
WRONG_CODE = "wrong two-factor code"


def recovery_hash(user_id: int, code: str) -> str:
    return hashlib.sha256(f"{user_id}:{_normal(code)}".encode()).hexdigest()


def _normal(code: str) -> str:
    return code.replace("-", "").replace(" ", "").lower()


def _new_recovery_code() -> str:
    raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(10))
    return f"{raw[:5]}-{raw[5:]}"


def matching_step(secret: str, code: str, now: float | None = None) -> int | None:
    """The time step (now, or one either side for clock drift) whose code `code` is."""
    code = code.strip()
    if not (len(code) == 6 and code.isascii() and code.isdigit()):
        return None
    totp = pyotp.TOTP(secret)
    current = int((time.time() if now is None else now) // STEP_SECONDS)
    found = None
    for step in (current - 1, current, current + 1):
        # Every candidate compared, in constant time, whichever matches.
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), code):
            found = step
    return found


class TwoFactorService:
    def __init__(self, db: AsyncEngine, settings: Settings, auth: AuthService) -> None:
        self._db = db
        self._settings = settings
        self._auth = auth

    async def status(self, claims: TokenClaims) -> dict:
        async with self._db.connect() as conn:
            row = await user_store.get_user(conn, claims.user_id)
            left = await totp_store.recovery_codes_left(conn, claims.user_id) if row.totp_enabled_at is not None else 0
        return {"enabled": row.totp_enabled_at is not None, "recovery_codes_left": left}

    async def enrol(self, claims: TokenClaims, *, password: str, client_address: str) -> dict:
        """A new pending secret (replacing one not confirmed): shown here only, with its URI and QR."""
        await self._auth.check_password(claims, password, client_address)
        secret = pyotp.random_base32()
        async def write(conn: AsyncConnection) -> Row:
            row = await user_store.get_user(conn, claims.user_id)
            if row.totp_enabled_at is not None:
                raise Conflict("two-factor authentication is on already")
            await totp_store.set_pending(conn, claims.user_id, secret)
            return row

        row = await in_transaction(self._db, write, "a two-factor enrolment")
        uri = pyotp.TOTP(secret).provisioning_uri(name=row.username, issuer_name=ISSUER)
        return {"secret": secret, "otpauth_uri": uri, "qr_svg": segno.make(uri, error="m").svg_data_uri(scale=4, border=2)}

    async def confirm(self, claims: TokenClaims, *, code: str, client_address: str) -> dict:
        """Two-factor on once the pending secret's code is right: the recovery codes, shown once."""
        attempt, keys = self._begin(claims.user_id, client_address)
        codes = [_new_recovery_code() for _ in range(RECOVERY_CODES)]
        async def write(conn: AsyncConnection) -> None:
            row = await user_store.get_user(conn, claims.user_id)
            if row.totp_secret is None or row.totp_enabled_at is not None:
                self._auth.throttle.forgive(attempt, *keys)  # no code was tried
                raise Conflict("no two-factor enrolment is pending")
            step = matching_step(row.totp_secret, code)
            if step is None:
                raise Forbidden(WRONG_CODE)
            await totp_store.enable(conn, claims.user_id, utc_now(), step, [recovery_hash(claims.user_id, c) for c in codes])

        await in_transaction(self._db, write, "a two-factor confirmation")
        self._auth.throttle.forgive(attempt, *keys)
        return {"recovery_codes": codes}

    async def disable(self, claims: TokenClaims, *, password: str, code: str, client_address: str) -> None:
        await self._auth.check_password(claims, password, client_address)
        attempt, keys = self._begin(claims.user_id, client_address)
        async def write(conn: AsyncConnection) -> None:
            row = await user_store.get_user(conn, claims.user_id)
            if row.totp_enabled_at is None:
                self._auth.throttle.forgive(attempt, *keys)  # no code was tried
                raise Conflict("two-factor authentication is off")
            if not await self._spend_code(conn, row, code):
                raise Forbidden(WRONG_CODE)
            await totp_store.clear(conn, claims.user_id)

        await in_transaction(self._db, write, "a two-factor disabling")
        self._auth.throttle.forgive(attempt, *keys)

    async def require_code_if_enabled(self, claims: TokenClaims, code: str | None, client_address: str) -> None:
        """The second factor of deleting the account: with two-factor on, a TOTP or recovery
        code (missing: 422 on `code`; wrong: 403, throttled as a login), spent now; with it off,
        nothing is asked."""
        async with self._db.connect() as conn:
            row = await user_store.get_user(conn, claims.user_id)
        if row is None:
            raise Unauthorized("token revoked")
        if row.totp_enabled_at is None:
            return
        if code is None:
            raise ValidationFailed({"code": ["required: two-factor authentication is on"]})
        attempt, keys = self._begin(claims.user_id, client_address)
        async def write(conn: AsyncConnection) -> None:
            if not await self._spend_code(conn, row, code):
                raise Forbidden(WRONG_CODE)

        await in_transaction(self._db, write, "a recovery code's use")
        self._auth.throttle.forgive(attempt, *keys)

    async def login(self, *, challenge: str, code: str, client_address: str, device: str | None, user_agent: str | None) -> dict:
        """The second step of a login: the challenge of the first and a TOTP or recovery code."""
        user_id, generation = decode_challenge(challenge, self._settings.jwt_secret)
        attempt, keys = self._begin(user_id, client_address)
        async def write(conn: AsyncConnection) -> Row:
            row = await user_store.get_user(conn, user_id)
            # All tokens revoked since the password was checked (a password change): start over.
            if row is None or row.status != 1 or row.totp_enabled_at is None or row.token_generation != generation:
                raise Unauthorized("invalid or expired two-factor challenge")
            if not await self._spend_code(conn, row, code):
                raise Unauthorized(WRONG_CODE)
            return row

        row = await in_transaction(self._db, write, "a two-factor login")
        self._auth.throttle.forgive(attempt, *keys)
        return await self._auth.new_session(row, device, user_agent)

    def _begin(self, user_id: int, client_address: str) -> tuple[float, tuple[str, str]]:
        """A code attempt counts as a failed login (PROTOCOL §5) until it proves right."""
        keys = (f"user:{user_id}", "address:" + client_address)
        return self._auth.throttle.begin(*keys), keys

    async def _spend_code(self, conn: AsyncConnection, row: Row, code: str) -> bool:
        """A TOTP code not used before, or an unused recovery code: spent now."""
        step = matching_step(row.totp_secret, code)
        if step is not None:
            return await totp_store.accept_step(conn, row.id, step)
        return await totp_store.use_recovery_code(conn, row.id, recovery_hash(row.id, code), utc_now())
