"""A small name → builder registry, shared by backbones and caption models.

Modelled on torchvision's ``get_model``/``list_models``: builders register under a name
with a decorator, lookups of unknown names fail with the list of valid choices.

Example:
    >>> MODELS = Registry("model")
    >>> @MODELS.register("tiny")
    ... def tiny(*, width: int = 8):
    ...     return width
    >>> MODELS.get("tiny")(width=4)
    4
    >>> MODELS.names()
    ['tiny']
"""
from __future__ import annotations

import fnmatch
from typing import Callable, Generic, TypeVar

from vidcap.errors import UsageError

T = TypeVar("T", bound=Callable)


class UnknownNameError(UsageError, KeyError):
    """Raised for a name that no builder was registered under; lists the valid names."""

    def __init__(self, kind: str, name: str, choices: list[str]):
        self.kind, self.name, self.choices = kind, name, choices
        super().__init__(f"unknown {kind} {name!r}; choose one of: {', '.join(choices)}")

    def __str__(self) -> str:  # KeyError would quote the whole message
        return self.args[0]


class Registry(Generic[T]):
    """Maps names to builder callables."""

    def __init__(self, kind: str):
        self.kind = kind
        self._builders: dict[str, T] = {}

    def register(self, *names: str) -> Callable[[T], T]:
        """Decorator registering a builder under one or more names."""

        def add(builder: T) -> T:
            for name in names or (builder.__name__,):
                if name in self._builders:
                    raise ValueError(f"{self.kind} {name!r} is registered twice")
                self._builders[name] = builder
            return builder

        return add

    def get(self, name: str) -> T:
        try:
            return self._builders[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, self.names()) from None

    def names(self, pattern: str | None = None) -> list[str]:
        names = sorted(self._builders)
        return [n for n in names if fnmatch.fnmatch(n, pattern)] if pattern else names

    def __contains__(self, name: str) -> bool:
        return name in self._builders
