"""Pre-training methods as plug-ins: modules + loss around one :class:`ImageEncoder`.

A method subclasses :class:`PretrainMethod`, implements :meth:`loss`, and registers
itself with :func:`register_method`. The training engine (``benchmark.pretrain``)
knows nothing else about it. Methods live in ``mflag/`` and ``baselines/``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import ClassVar

import torch
from torch import nn

from benchmark.encoders import ImageEncoder
from benchmark.errors import DataError

PLUGIN_PACKAGES = ("mflag", "baselines")
_REGISTRY: dict[str, type["PretrainMethod"]] = {}


class WeightsUnavailable(Exception):
    """Initial weights a method needs cannot be had offline; the message says which and where."""


class PretrainMethod(nn.Module):
    """Base class: ``encoder`` is the shared image trunk; subclasses add heads and a loss."""

    name: ClassVar[str]
    #: False for init baselines: the engine saves the initial encoder without training
    trains: ClassVar[bool] = True
    #: True when the method consumes cached text embeddings from the frozen LM
    uses_text: ClassVar[bool] = True

    def __init__(self, encoder: ImageEncoder, text_dim: int, cfg: dict) -> None:
        super().__init__()
        self.encoder = encoder
        self.text_dim = text_dim
        self.cfg = cfg

    def initialize(self) -> None:
        """Load initial weights (e.g. ImageNet); raise :class:`WeightsUnavailable` if they cannot be had."""

    def loss(self, images: torch.Tensor, text: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """Return a dict with the total ``loss`` and its named components."""
        raise NotImplementedError

    def parameter_counts(self) -> dict[str, int]:
        trainable = sum(p.numel() for p in self.parameters() if p.requires_grad)
        frozen = sum(p.numel() for p in self.parameters() if not p.requires_grad)
        return {"trainable": trainable, "frozen": frozen}


def register_method(name: str) -> Callable[[type[PretrainMethod]], type[PretrainMethod]]:
    def wrap(cls: type[PretrainMethod]) -> type[PretrainMethod]:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"method {name!r} registered twice")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return wrap


def available_methods() -> dict[str, type[PretrainMethod]]:
    for pkg in PLUGIN_PACKAGES:
        importlib.import_module(pkg)
    return dict(_REGISTRY)


def get_method(name: str) -> type[PretrainMethod]:
    methods = available_methods()
    if name not in methods:
        raise DataError(None, f"unknown method {name!r} (have: {', '.join(sorted(methods))})")
    return methods[name]
