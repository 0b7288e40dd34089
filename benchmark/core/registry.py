"""Registries that import an entry only when it is used.

A stage that prepares one dataset imports that dataset's reader and nothing of the others,
so its code dependencies (``dvc.yaml``) are that reader and the shared modules: editing
one reader re-runs only its own stages. Entries are ``"package.module:attribute"``
strings; :meth:`LazyRegistry.module` names the module for the dependency generator.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any


def resolve(reference: str) -> Any:
    """The object a ``"package.module:attribute"`` string names (imported now)."""
    module, _, attribute = reference.partition(":")
    return getattr(importlib.import_module(module), attribute)


class LazyRegistry(Mapping[str, Any]):
    """``entries`` is a dict, or a function returning one (a view of another registry, such as
    one field of every dataset spec, which sees entries registered later)."""

    def __init__(self, entries: dict[str, str] | Callable[[], dict[str, str]]) -> None:
        self._source = entries if callable(entries) else dict(entries)
        self._loaded: dict[tuple[str, str], Any] = {}

    @property
    def _entries(self) -> dict[str, str]:
        return self._source() if callable(self._source) else self._source

    def __getitem__(self, name: str) -> Any:
        target = self._entries[name]
        if (name, target) not in self._loaded:
            self._loaded[name, target] = resolve(target)
        return self._loaded[name, target]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, name: str, target: str) -> None:
        """Register ``name`` -> ``"module:attribute"`` (plug-ins of other packages)."""
        if callable(self._source):
            raise TypeError("this registry is a view of another one: register there")
        self._source[name] = target

    def module(self, name: str) -> str:
        """The dotted module that defines entry ``name``."""
        return self._entries[name].partition(":")[0]
