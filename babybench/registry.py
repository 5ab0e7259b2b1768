"""Named registries with "did you mean" errors.

Every kind of pluggable thing (model families, mixers, size presets, tasks,
objectives, CLI subcommands) lives in a :class:`Registry`. Looking up an
unknown name raises a :class:`~babybench.errors.BabybenchError` that lists
the closest known names, so a typo never silently falls through an if/elif.
"""

from __future__ import annotations

import difflib
from typing import Callable, Generic, Iterator, TypeVar

from babybench.errors import BabybenchError

T = TypeVar("T")


def suggest(name: str, known: list[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest known name, or ``""``."""
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
    return f" (did you mean '{close[0]}'?)" if close else ""


class Registry(Generic[T]):
    """A mapping from names to objects, filled by the ``register`` decorator.

    Args:
        kind: what the registry holds, used in error messages ("model family").
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str, obj: T | None = None) -> Callable[[T], T] | T:
        """Register ``obj`` under ``name``; usable as ``@reg.register("name")``."""
        if obj is not None:
            self._add(name, obj)
            return obj

        def deco(o: T) -> T:
            self._add(name, o)
            return o

        return deco

    def _add(self, name: str, obj: T) -> None:
        if name in self._items and self._items[name] is not obj:
            raise ValueError(f"{self.kind} '{name}' is registered twice")
        self._items[name] = obj

    def get(self, name: str) -> T:
        """Return the object for ``name`` or raise a one-line "did you mean" error."""
        try:
            return self._items[name]
        except KeyError:
            known = sorted(self._items)
            raise BabybenchError(
                f"unknown {self.kind} '{name}'{suggest(name, known)}; "
                f"known: {', '.join(known)}"
            ) from None

    def names(self) -> list[str]:
        """All registered names, sorted."""
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)
