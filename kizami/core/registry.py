"""A small registry of lazily imported targets (``"module:attr"``), so ``import kizami`` loads no engine.

Built-ins register by target string; plugins add theirs through an entry-point group (``kizami.formats``,
``kizami.backends``) read once, on first use. ``KIZAMI_NO_PLUGINS=1`` (set by the test suite) skips the plugins.
"""

from __future__ import annotations

import difflib
import importlib
import os
from collections.abc import Iterator
from importlib import metadata
from typing import Generic, TypeVar, cast

from kizami.core.errors import KizamiError, UnknownName

T = TypeVar("T")

__all__ = ["Registry"]


class Registry(Generic[T]):
    def __init__(self, kind: str, entry_points: str = "") -> None:
        self.kind = kind
        self._group = entry_points
        self._plugins_read = not entry_points
        self._targets: dict[str, str | T] = {}
        self._loaded: dict[str, T] = {}

    def register(self, name: str, target: str | T) -> None:
        """``target`` is ``"module:attr"`` (imported on first ``get``) or the object itself."""
        if name in self._targets and self._targets[name] != target:
            raise KizamiError(f"{self.kind} {name!r} is already registered to {self._targets[name]}")
        self._targets[name] = target

    def unregister(self, name: str) -> None:
        self._targets.pop(name, None)
        self._loaded.pop(name, None)

    def _read_plugins(self) -> None:
        if self._plugins_read:
            return
        self._plugins_read = True
        if os.environ.get("KIZAMI_NO_PLUGINS") == "1":
            return
        for ep in metadata.entry_points(group=self._group):
            if ep.name not in self._targets:
                self.register(ep.name, ep.value)

    def names(self) -> list[str]:
        self._read_plugins()
        return sorted(self._targets)

    def __contains__(self, name: object) -> bool:
        self._read_plugins()
        return name in self._targets

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def get(self, name: str) -> T:
        self._read_plugins()
        if name not in self._targets:
            close = difflib.get_close_matches(name, list(self._targets), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise UnknownName(f"unknown {self.kind} {name!r}.{hint} Available: {', '.join(self.names())}")
        if name not in self._loaded:
            target = self._targets[name]
            if isinstance(target, str):
                module, _, attr = target.partition(":")
                self._loaded[name] = cast(T, getattr(importlib.import_module(module), attr))
            else:
                self._loaded[name] = target
        return self._loaded[name]
