"""Pre-training methods as plug-ins: modules + loss around one :class:`ImageEncoder`.

A plug-in subclasses :class:`PretrainMethod`, implements :meth:`PretrainMethod.loss`
and registers itself with :func:`register_method`; plug-ins live in ``mflag/`` and
``baselines/`` (listed in :data:`PLUGIN_MODULES`, imported only when a method uses them, so a
broken plug-in breaks only its own methods) or in another installed package (entry points).
*Methods* are entries of ``benchmark/configs/methods.yaml``: a plug-in plus its options and
how it reads the reports, so an ablation is a few lines of config (read by
:mod:`benchmark.pretraining.method_specs`, which needs no torch). The training engine
(``benchmark.pretraining.engine``) knows nothing else about them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from benchmark.core.errors import DataError
from benchmark.pretraining.encoders import ImageEncoder
from benchmark.pretraining.method_specs import (  # noqa: F401  (re-exported: what a plug-in's engine needs from one place)
    METHODS_FILE,
    MethodSpec,
    get_method,
    load_method_specs,
    method_config,
    method_options,
    plugin_modules,
)

_PLUGINS: dict[str, type["PretrainMethod"]] = {}


class WeightsUnavailable(Exception):
    """Initial weights a method needs cannot be had offline; the message says which and where."""


@dataclass
class TextInput:
    """What the engine hands a method about the reports when it builds it."""

    dim: int = 0  # LM hidden size (0 when the method reads no text)
    encoder: nn.Module | None = None  # a TrainableTextEncoder for methods whose LM trains


class PretrainMethod(nn.Module):
    """Base class: ``encoder`` is the shared image trunk; subclasses add heads and a loss.

    ``text`` in :meth:`loss` is a (B, dim) tensor of cached [CLS] embeddings for
    ``text: frozen`` methods, and a (B,) tensor of report indices for methods whose LM
    trains (they call ``self.text_encoder(rows)``).
    """

    name: ClassVar[str]
    #: False for init baselines: the engine saves the initial encoder without training
    trains: ClassVar[bool] = True
    #: True for supervised methods: ``loss`` gets the (B, L) 0/1 rows of the store's label
    #: columns named by the option ``labels`` in place of the text
    needs_labels: ClassVar[bool] = False
    #: True (an instance may set it from its options) when ``loss`` also takes dense targets: the
    #: store's masks, cropped like the images, as each input pixel's share (B, 1, H, W)
    needs_masks: bool = False

    def __init__(self, encoder: ImageEncoder, text: TextInput, cfg: dict) -> None:
        super().__init__()
        self.encoder = encoder
        self.text_dim = text.dim
        self.text_encoder = text.encoder
        self.cfg = cfg
        self.epoch = 0

    def initialize(self) -> None:
        """Load initial weights (e.g. ImageNet); raise :class:`WeightsUnavailable` if they cannot be had."""

    def start_epoch(self, epoch: int) -> None:
        """Called by the engine before each epoch (0-based)."""
        self.epoch = epoch

    def loss(self, images: torch.Tensor, text: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """Return a dict with the total ``loss`` and its named components (methods with
        ``needs_masks`` take the dense targets as a third argument)."""
        raise NotImplementedError

    def forward(self, images: torch.Tensor, text: torch.Tensor | None, *masks: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.loss(images, text, *masks)  # forward() so that DistributedDataParallel can wrap the method

    def parameter_counts(self) -> dict[str, int]:
        """Parameters pre-training updates (``trainable``) and holds fixed (``frozen``)."""
        if not self.trains:  # init baselines update nothing
            return {"trainable": 0, "frozen": sum(p.numel() for p in self.parameters())}
        trainable = sum(p.numel() for p in self.parameters() if p.requires_grad)
        frozen = sum(p.numel() for p in self.parameters() if not p.requires_grad)
        return {"trainable": trainable, "frozen": frozen}


def register_method(name: str) -> Callable[[type[PretrainMethod]], type[PretrainMethod]]:
    """Register a plug-in class under ``name`` (the ``plugin:`` of methods.yaml)."""
    def wrap(cls: type[PretrainMethod]) -> type[PretrainMethod]:
        if name in _PLUGINS and _PLUGINS[name] is not cls:
            raise ValueError(f"plug-in {name!r} registered twice")
        cls.name = name
        _PLUGINS[name] = cls
        return cls

    return wrap


def plugin_class(plugin: str, method: str = "") -> type[PretrainMethod]:
    """The class of one plug-in, importing only its module (a broken plug-in breaks its methods alone)."""
    modules = plugin_modules()
    if plugin not in modules and plugin not in _PLUGINS:
        raise DataError(METHODS_FILE, f"method {method!r}: unknown plug-in {plugin!r} (have: {', '.join(sorted(modules))})")
    if plugin not in _PLUGINS:
        try:
            importlib.import_module(modules[plugin])
        except Exception as err:  # a syntax or import error in a plug-in: one line naming it
            raise DataError(modules[plugin].replace(".", "/") + ".py", f"plug-in {plugin!r} failed to import: "
                            f"{type(err).__name__}: {err}") from None
        if plugin not in _PLUGINS:
            raise DataError(METHODS_FILE, f"module {modules[plugin]} registers no plug-in {plugin!r}")
    return _PLUGINS[plugin]


def available_plugins() -> dict[str, type[PretrainMethod]]:
    """Every plug-in, imported (for listings and tests)."""
    for name in plugin_modules():
        plugin_class(name)
    return dict(_PLUGINS)


