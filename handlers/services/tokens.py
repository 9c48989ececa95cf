"""JWT access tokens: HS256, with `sub`, `iat`, `exp` and a unique `jti` so that one token can
be revoked on logout without touching the user's other sessions, and `gen`, the user's token
generation when it was issued, so that all of a user's tokens can be revoked at once (an admin
bumps the generation) without listing them."""

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
    generation: int = 0


def issue_token(user_id: int, secret: str, ttl_seconds: int, generation: int = 0) -> tuple[str, TokenClaims]:
    now = int(time.time())
    claims = TokenClaims(user_id=user_id, jti=uuid.uuid4().hex, expires_at=now + ttl_seconds, generation=generation)
    payload = {"sub": str(user_id), "iat": now, "exp": claims.expires_at, "jti": claims.jti, "gen": generation}
    return jwt.encode(payload, secret, algorithm=ALGORITHM), claims


def decode_token(token: str, secret: str) -> TokenClaims:
    """Verify signature and expiry with the algorithm pinned (no `alg: none`, no key confusion).
    A token without `gen` was issued before generations existed: generation 0."""
    try:
        payload = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["sub", "iat", "exp", "jti"]})
        generation = payload.get("gen", 0)
        if not isinstance(generation, int) or isinstance(generation, bool):
            raise ValueError("gen")
        return TokenClaims(user_id=int(payload["sub"]), jti=str(payload["jti"]), expires_at=int(payload["exp"]), generation=generation)
    except jwt.ExpiredSignatureError:
        raise Unauthorized("token expired") from None
    except (jwt.InvalidTokenError, ValueError, TypeError):
        raise Unauthorized("invalid token") from None
