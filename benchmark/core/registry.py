"""Registries that import an entry only when it is used.

A stage that prepares one dataset imports that dataset's reader and nothing of the others,
so its code dependencies (``dvc.yaml``) are that reader and the shared modules: editing
one reader re-runs only its own stages. Entries are ``"package.module:attribute"``
strings; :meth:`LazyRegistry.module` names the module for the dependency generator.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Any


class LazyRegistry(Mapping[str, Any]):
    def __init__(self, entries: dict[str, str]) -> None:
        self._entries = dict(entries)
        self._loaded: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._loaded:
            module, _, attribute = self._entries[name].partition(":")
            self._loaded[name] = getattr(importlib.import_module(module), attribute)
        return self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, name: str, target: str) -> None:
        """Register ``name`` -> ``"module:attribute"`` (plug-ins of other packages)."""
        self._entries[name] = target

    def module(self, name: str) -> str:
        """The dotted module that defines entry ``name``."""
        return self._entries[name].partition(":")[0]
