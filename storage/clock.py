"""The database's notion of now: naive UTC with millisecond precision, as DATETIME(3) holds it."""

from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1)
_MILLISECOND = timedelta(milliseconds=1)


def utc_now() -> datetime:
    now = datetime.now(UTC).replace(tzinfo=None)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def to_millis(moment: datetime) -> int:
    """Exact integer arithmetic: going through a float timestamp was a millisecond short for
    some moments (2004-09-23 15:54:43.735 among them), and five times slower."""
    return (moment - _EPOCH) // _MILLISECOND
