"""JWT access tokens: HS256, with `sub`, `iat`, `exp` and a unique `jti` so that one token can
be revoked on logout without touching the user's other sessions, and `gen`, the user's token
generation when it was issued, so that all of a user's tokens can be revoked at once (an admin
bumps the generation) without listing them, and `sid`, the session (the login on one device) it
belongs to: revoking the session revokes all its tokens, those issued by refreshing included.
Tokens issued before sessions existed carry no `sid`."""

import functools
import time
import uuid
from dataclasses import dataclass

import jwt
from jwt.algorithms import HMACAlgorithm

from handlers.errors import Unauthorized

ALGORITHM = "HS256"


class _HMACKeyCheckedOnce(HMACAlgorithm):
    """PyJWT checks on every encode and decode that an HMAC secret is not a PEM, SSH, DER or
    JWK key, parsing it as JSON among others: a quarter of a token check (35 -> 26 us), and a reconnect storm
    checks one token per socket. Our secrets do not change, so each is checked once."""

    @functools.lru_cache(maxsize=8)
    def prepare_key(self, key: str | bytes) -> bytes:
        return super().prepare_key(key)


# Process-wide: PyJWT has no public way to give one decoder algorithms of its own. HS256 stays
# HS256; only the check of a key already checked is skipped.
jwt.unregister_algorithm(ALGORITHM)
jwt.register_algorithm(ALGORITHM, _HMACKeyCheckedOnce(HMACAlgorithm.SHA256))


@dataclass(frozen=True, slots=True)
class TokenClaims:
    user_id: int
    jti: str
    expires_at: int  # seconds since the epoch
    generation: int = 0
    session_id: int | None = None

    @property
    def revocation_key(self) -> str:
        """What revokes this token and closes its sockets: its session ("s" and the session id:
        never a jti, which is 32 hex digits), or the token itself when it has no session."""
        return self.jti if self.session_id is None else f"s{self.session_id}"


def issue_token(user_id: int, secret: str, ttl_seconds: int, generation: int = 0, session_id: int | None = None) -> tuple[str, TokenClaims]:
    now = int(time.time())
    claims = TokenClaims(user_id=user_id, jti=uuid.uuid4().hex, expires_at=now + ttl_seconds, generation=generation, session_id=session_id)
    payload = {"sub": str(user_id), "iat": now, "exp": claims.expires_at, "jti": claims.jti, "gen": generation}
    if session_id is not None:
        payload["sid"] = session_id
    return jwt.encode(payload, secret, algorithm=ALGORITHM), claims


def session_of(revocation_key: str) -> int | None:
    """The session id a `TokenClaims.revocation_key` names, None for a token's own id."""
    return int(revocation_key[1:]) if revocation_key.startswith("s") else None


def decode_token(token: str, secret: str) -> TokenClaims:
    """Verify signature and expiry with the algorithm pinned (no `alg: none`, no key confusion).
    A token without `gen` was issued before generations existed: generation 0."""
    try:
        payload = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["sub", "iat", "exp", "jti"]})
        generation = payload.get("gen", 0)
        session_id = payload.get("sid")
        if not isinstance(generation, int) or isinstance(generation, bool):
            raise ValueError("gen")
        if session_id is not None and (not isinstance(session_id, int) or isinstance(session_id, bool) or session_id < 1):
            raise ValueError("sid")
        return TokenClaims(
            user_id=int(payload["sub"]), jti=str(payload["jti"]), expires_at=int(payload["exp"]), generation=generation, session_id=session_id
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("token expired") from None
    except (jwt.InvalidTokenError, ValueError, TypeError):
        raise Unauthorized("invalid token") from None


CHALLENGE_TTL_SECONDS = 300


def _challenge_key(secret: str) -> str:
    # A key of its own: a challenge can never pass for an access token, nor the reverse.
    return secret + "/two-factor-challenge"


def issue_challenge(user_id: int, generation: int, secret: str) -> str:
    """Proof that the password was right, good for CHALLENGE_TTL_SECONDS: the second step of a
    login with two-factor authentication (`POST /api/auth/login/2fa`) takes it with the code."""
    now = int(time.time())
    payload = {"sub": str(user_id), "iat": now, "exp": now + CHALLENGE_TTL_SECONDS, "gen": generation}
    return jwt.encode(payload, _challenge_key(secret), algorithm=ALGORITHM)


def decode_challenge(challenge: str, secret: str) -> tuple[int, int]:
    """(user id, token generation) of a valid challenge; else 401."""
    try:
        payload = jwt.decode(challenge, _challenge_key(secret), algorithms=[ALGORITHM], options={"require": ["sub", "exp", "gen"]})
        return int(payload["sub"]), int(payload["gen"])
    except (jwt.InvalidTokenError, ValueError, TypeError):
        raise Unauthorized("invalid or expired two-factor challenge") from None
