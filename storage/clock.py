"""The database's notion of now: naive UTC with millisecond precision, as DATETIME(3) holds it."""

from datetime import UTC, datetime


def utc_now() -> datetime:
    now = datetime.now(UTC).replace(tzinfo=None)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def to_millis(moment: datetime) -> int:
    return int(moment.replace(tzinfo=UTC).timestamp() * 1000)
