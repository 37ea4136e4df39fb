"""A small name -> object registry with a decorator, used for models, datasets and characteristics."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from miniature.exceptions import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Objects registered under unique names; `get` fails with the list of known names."""

    def __init__(self, kind: str, error: type[Exception] = ConfigError) -> None:
        self.kind = kind
        self._error = error
        self._items: dict[str, T] = {}

    def add(self, name: str, item: T) -> T:
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._items[name] = item
        return item

    def remove(self, name: str) -> T:
        """Take an entry out again (a test's temporary plug-in)."""
        return self._items.pop(name)

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form of `add`."""

        def wrap(item: T) -> T:
            return self.add(name, item)

        return wrap

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items))
            raise self._error(f"unknown {self.kind} {name!r}; known: {known}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def items(self) -> list[tuple[str, T]]:
        return list(self._items.items())
