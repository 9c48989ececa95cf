"""Failed-login throttling, per account and per client address (PROTOCOL §5): after
`login_attempts_per_minute` failures within a minute, every attempt on that account or from
that address is refused with 429 until the oldest failure is a minute old.

In process memory: with several server processes each counts its own failures, so the real
limit is the setting times the process count. Good enough to stop a password-guessing loop.

An attempt counts as a failure from the moment it is let through (`begin`) until the password
proved right (`forgive`): otherwise many guesses sent at once would all pass the check while
bcrypt is still busy with the first ones, and the limit would not hold."""

import time
from collections import deque

from handlers.errors import RateLimited

WINDOW_SECONDS = 60.0


class LoginThrottle:
    def __init__(self, attempts_per_minute: int, clock=time.monotonic) -> None:
        self._limit = attempts_per_minute
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    def check(self, *keys: str) -> None:
        """Raise RateLimited when any key has used up its failures in the current window."""
        now = self._clock()
        wait = 0.0
        for key in keys:
            failures = self._recent(key, now)
            if failures is not None and len(failures) >= self._limit:
                wait = max(wait, failures[0] + WINDOW_SECONDS - now)
        if wait > 0:
            raise RateLimited(wait, "too many failed login attempts, retry later")

    def record_failure(self, *keys: str) -> float:
        """Count a failure on every key; returns its time stamp (for `forgive`)."""
        now = self._clock()
        for key in keys:
            self._failures.setdefault(key, deque()).append(now)
        if len(self._failures) > 100_000:
            self._forget_stale(now)
        return now

    def begin(self, *keys: str) -> float:
        """Check and, in the same step, count the attempt as a failure until it is forgiven."""
        self.check(*keys)
        return self.record_failure(*keys)

    def forgive(self, stamp: float, *keys: str) -> None:
        """Take back the failure `begin` counted: the attempt succeeded."""
        for key in keys:
            failures = self._failures.get(key)
            if failures is None:
                continue
            try:
                failures.remove(stamp)
            except ValueError:
                pass
            if not failures:
                del self._failures[key]

    def _recent(self, key: str, now: float) -> deque[float] | None:
        failures = self._failures.get(key)
        if failures is None:
            return None
        while failures and failures[0] <= now - WINDOW_SECONDS:
            failures.popleft()
        if not failures:
            del self._failures[key]
            return None
        return failures

    def _forget_stale(self, now: float) -> None:
        for key in list(self._failures):
            self._recent(key, now)
