"""Name -> plugin registries: how allocators (and later predictors) are found by name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from odma_sim.errors import InputError, did_you_mean

T = TypeVar("T")


class Registry(Generic[T]):
    """Plugins of one role, registered by name with a class decorator.

    >>> allocators: Registry[type] = Registry("allocator")
    >>> @allocators.register("static")
    ... class Static: ...
    """

    def __init__(self, role: str) -> None:
        self.role = role
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def deco(item: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.role} '{name}' is registered twice")
            self._items[name] = item
            return item

        return deco

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def get(self, name: str, *, source: str | None = None, key: str | None = None) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise InputError(
                f"unknown {self.role} '{name}'{did_you_mean(str(name), self.names())}",
                source=source,
                key=key,
                value=name,
                expected=f"one of: {', '.join(self.names())}",
            ) from None
