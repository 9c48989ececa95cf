"""A token bucket: `rate` tokens a second up to `burst`; one token a frame."""

import time


class TokenBucket:
    __slots__ = ("_rate", "_burst", "_tokens", "_updated", "_clock")

    def __init__(self, rate: float, burst: int, clock=time.monotonic) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._clock = clock
        self._updated = clock()

    def take(self) -> float:
        """Take a token: 0.0 when granted, else the seconds until one will be there."""
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._updated) * self._rate)
        self._updated = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self._rate
