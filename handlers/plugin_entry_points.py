"""Loading the entry points of plugins that the settings enable: what the lifecycle subscribers,
REST routes, pre-send hooks and migrations are found by. Each of those modules keeps its own
group and says what its entry points must name; this one imports them, in name order, each
named with the distribution that declared it."""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib.metadata import EntryPoint
from typing import Any

from settings import Settings


def origin_of(point: EntryPoint) -> str:
    """The distribution that declared `point`, or its value for one made by hand (no distribution)."""
    return point.dist.name if point.dist is not None else point.value


@dataclass(frozen=True, slots=True)
class LoadedEntryPoint:
    point: EntryPoint
    origin: str
    value: Any  # what the entry point names, imported

    @property
    def name(self) -> str:
        return self.point.name


def load_enabled(
    points: Iterable[EntryPoint], settings: Settings, *, kind: str, error: type[Exception], disabled: Iterable[str] = ()
) -> Iterator[LoadedEntryPoint]:
    """The entry points the settings ask for (`plugins_autoload`, `plugins_enabled`; none that
    `disabled` names), in name order, each imported only when the caller comes to it, so that the
    first broken one (failing to import, or named wrongly by the caller's check) stops the loading.
    One that fails to import raises `error`, naming it as `kind` with its distribution."""
    skipped = frozenset(disabled)
    for point in sorted(points, key=lambda p: p.name):
        if point.name in skipped or not (settings.plugins_autoload or point.name in settings.plugins_enabled):
            continue
        origin = origin_of(point)
        try:
            value = point.load()
        except Exception as exc:
            raise error(f"{kind} {point.name!r} from {origin} failed to import: {exc!r}") from exc
        yield LoadedEntryPoint(point, origin, value)
