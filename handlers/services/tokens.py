"""JWT access tokens: HS256, with `sub`, `iat`, `exp` and a unique `jti` so that one token can
be revoked on logout without touching the user's other sessions."""

import time
import uuid
from dataclasses import dataclass

import jwt

from handlers.errors import Unauthorized

ALGORITHM = "HS256"


@dataclass(frozen=True, slots=True)
class TokenClaims:
    user_id: int
    jti: str
    expires_at: int  # seconds since the epoch


def issue_token(user_id: int, secret: str, ttl_seconds: int) -> tuple[str, TokenClaims]:
    now = int(time.time())
    claims = TokenClaims(user_id=user_id, jti=uuid.uuid4().hex, expires_at=now + ttl_seconds)
    payload = {"sub": str(user_id), "iat": now, "exp": claims.expires_at, "jti": claims.jti}
    return jwt.encode(payload, secret, algorithm=ALGORITHM), claims


def decode_token(token: str, secret: str) -> TokenClaims:
    """Verify signature and expiry with the algorithm pinned (no `alg: none`, no key confusion)."""
    try:
        payload = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["sub", "iat", "exp", "jti"]})
        return TokenClaims(user_id=int(payload["sub"]), jti=str(payload["jti"]), expires_at=int(payload["exp"]))
    except jwt.ExpiredSignatureError:
        raise Unauthorized("token expired") from None
    except (jwt.InvalidTokenError, ValueError, TypeError):
        raise Unauthorized("invalid token") from None
