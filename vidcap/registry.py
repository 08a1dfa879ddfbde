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

A prefix covers a whole family named by a library, e.g. every timm model as ``timm:<name>``; the
builder gets the full name and checks the rest itself:

    >>> @MODELS.register_prefix("lib:", placeholder="<lib model>")
    ... def from_lib(name, *, width: int = 8):
    ...     return name
    >>> MODELS.get("lib:big")("lib:big"), MODELS.names()
    ('lib:big', ['lib:<lib model>', 'tiny'])
"""
from __future__ import annotations

import difflib
import fnmatch
from typing import Callable, Generic, TypeVar

from vidcap.errors import UsageError

T = TypeVar("T", bound=Callable)


class UnknownNameError(UsageError, KeyError):
    """Raised for a name that no builder was registered under; lists the valid names and suggests the
    closest one (ignoring case), e.g. ``resnet18`` for ``ResNet18``.

    Example:
        >>> str(UnknownNameError("backbone", "ResNet18", ["resnet18", "resnet34"]))
        "unknown backbone 'ResNet18'; choose one of: resnet18, resnet34. Did you mean 'resnet18'?"
    """

    def __init__(self, kind: str, name: str, choices: list[str]):
        self.kind, self.name, self.choices = kind, name, choices
        self.suggestion = closest(name, choices)
        hint = f". Did you mean {self.suggestion!r}?" if self.suggestion else ""
        super().__init__(f"unknown {kind} {name!r}; choose one of: {', '.join(choices)}{hint}")

    def __str__(self) -> str:  # KeyError would quote the whole message
        return self.args[0]


def closest(name: object, choices: list[str]) -> str | None:
    """The choice ``name`` most likely meant: the same name in another case, else the closest spelling
    (difflib, ignoring case), else None.

    Example:
        >>> closest("YOLOv8N", ["yolov8n", "yolov8s"]), closest("resnet-50", ["resnet50", "s2vt"])
        ('yolov8n', 'resnet50')
        >>> closest("zzz", ["resnet50"]) is None
        True
    """
    text = str(name).lower()
    lowered = {str(c).lower(): c for c in choices}
    if text in lowered:
        return lowered[text]
    match = difflib.get_close_matches(text, list(lowered), n=1, cutoff=0.6)
    return lowered[match[0]] if match else None


class Registry(Generic[T]):
    """Maps names to builder callables."""

    def __init__(self, kind: str):
        self.kind = kind
        self._builders: dict[str, T] = {}
        self._prefixes: dict[str, tuple[str, T]] = {}  # prefix → (placeholder shown in names(), builder)

    def register(self, *names: str) -> Callable[[T], T]:
        """Decorator registering a builder under one or more names."""

        def add(builder: T) -> T:
            for name in names or (builder.__name__,):
                if name in self._builders:
                    raise ValueError(f"{self.kind} {name!r} is registered twice")
                self._builders[name] = builder
            return builder

        return add

    def register_prefix(self, prefix: str, *, placeholder: str) -> Callable[[T], T]:
        """Decorator registering a builder for every name ``prefix + rest`` (listed as ``prefix + placeholder``)."""

        def add(builder: T) -> T:
            if prefix in self._prefixes:
                raise ValueError(f"{self.kind} prefix {prefix!r} is registered twice")
            self._prefixes[prefix] = (placeholder, builder)
            return builder

        return add

    def get(self, name: str) -> T:
        if name in self._builders:
            return self._builders[name]
        for prefix, (_, builder) in self._prefixes.items():
            if isinstance(name, str) and name.startswith(prefix) and len(name) > len(prefix):
                return builder
        raise UnknownNameError(self.kind, name, self.names())

    def names(self, pattern: str | None = None) -> list[str]:
        """Registered names and, for each prefix, ``prefix + placeholder``, sorted."""
        names = sorted([*self._builders, *(p + ph for p, (ph, _) in self._prefixes.items())])
        return [n for n in names if fnmatch.fnmatch(n, pattern)] if pattern else names
