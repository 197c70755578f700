"""``Registry``: a name → object mapping that refuses to register a second object under a
name already taken (circuits, tasks, substrates, spiking builders, rules)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(dict[str, Any]):
    """A dict of registered objects by name. Assigning a *different* object to a name that is
    already registered raises ``ValueError`` naming the registry and the name; registering the
    same object again (a module imported twice) is a no-op. ``del`` and ``unregister`` remove
    an entry explicitly (tests that register temporary objects use them)."""

    def __init__(self, what: str) -> None:
        super().__init__()
        self.what = what

    def __setitem__(self, name: str, value: Any) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"{self.what} name must be a non-empty string, got {name!r}")
        if name in self and self[name] is not value:
            raise ValueError(f"{self.what} {name!r} is already registered (by {_label(self[name])}); "
                             f"choose another name or unregister the old one first")
        super().__setitem__(name, value)

    def setdefault(self, name: str, value: Any = None) -> Any:  # keep the refusal on every path
        if name not in self:
            self[name] = value
        return self[name]

    def update(self, *args: Any, **kwargs: Any) -> None:
        for name, value in dict(*args, **kwargs).items():
            self[name] = value

    def register(self, name: str, value: T) -> T:
        """Register ``value`` under ``name`` and return it."""
        self[name] = value
        return value

    def decorator(self, name: str) -> Callable[[T], T]:
        """``@registry.decorator(name)``: register the decorated object under ``name``."""
        return lambda value: self.register(name, value)

    def unregister(self, name: str) -> None:
        del self[name]

    def get_or_raise(self, name: str) -> Any:
        """The object registered under ``name``, or ``ValueError`` listing the known names."""
        if name not in self:
            raise ValueError(f"unknown {self.what} {name!r}; available: {sorted(self)}")
        return self[name]


def _label(value: Any) -> str:
    return f"{getattr(value, '__module__', '?')}.{getattr(value, '__qualname__', type(value).__name__)}"
