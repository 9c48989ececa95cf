"""Every login's outcome, counted in hubbub_logins_total: the password step
(POST /api/auth/login) and the code step (POST /api/auth/login/2fa) count alike."""

from collections.abc import Awaitable

from handlers.errors import Forbidden, RateLimited, Unauthorized
from handlers.metrics import LOGINS
from handlers.services.auth import TwoFactorRequired

_REFUSALS = {Unauthorized: "failed", TwoFactorRequired: "two_factor", Forbidden: "disabled", RateLimited: "throttled"}


async def counted_login(attempt: Awaitable[dict]) -> dict:
    """`attempt`'s LoginVO, counted as ok; a refusal is counted by its kind and raised on."""
    try:
        result = await attempt
    except (Unauthorized, Forbidden, RateLimited) as refused:
        LOGINS(_REFUSALS[type(refused)]).inc()
        raise
    LOGINS("ok").inc()
    return result
