"""Pre-training methods as plug-ins: modules + loss around one :class:`ImageEncoder`.

A plug-in subclasses :class:`PretrainMethod`, implements :meth:`PretrainMethod.loss`
and registers itself with :func:`register_method`; plug-ins live in ``mflag/`` and
``baselines/``. *Methods* are entries of ``benchmark/configs/methods.yaml``: a plug-in
plus its options and how it reads the reports, so an ablation is a few lines of
config. The training engine (``benchmark.pretrain``) knows nothing else about them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
import yaml
from torch import nn

from benchmark.encoders import ImageEncoder
from benchmark.errors import DataError

PLUGIN_PACKAGES = ("mflag", "baselines")
METHODS_FILE = Path(__file__).parent / "configs" / "methods.yaml"
_PLUGINS: dict[str, type["PretrainMethod"]] = {}


class WeightsUnavailable(Exception):
    """Initial weights a method needs cannot be had offline; the message says which and where."""


@dataclass(frozen=True)
class TextMode:
    """How a method reads reports: not at all, frozen cached [CLS], or a trainable LM."""

    kind: str  # "none" | "frozen" | "trainable"
    frozen_layers: int | str = 0  # int, or "half" of the LM's layers
    last_n: int = 1
    cls_attention: bool = False

    @classmethod
    def parse(cls, value: Any, where: str) -> "TextMode":
        if value in ("none", "frozen"):
            return cls(value)
        if isinstance(value, dict) and set(value) <= {"frozen_layers", "last_n", "cls_attention"}:
            k = value.get("frozen_layers", 0)
            if not (isinstance(k, int) and k >= 0) and k != "half":
                raise DataError(METHODS_FILE, f"{where}: frozen_layers must be an integer >= 0 or 'half', got {k!r}")
            return cls("trainable", k, int(value.get("last_n", 1)), bool(value.get("cls_attention", False)))
        raise DataError(METHODS_FILE, f"{where}: text must be none, frozen or a mapping with frozen_layers, got {value!r}")

    def resolve_frozen(self, n_layers: int, trainable_cap: int | None) -> int:
        """Frozen layer count for an LM with ``n_layers``; a profile may cap how many layers train."""
        k = n_layers // 2 if self.frozen_layers == "half" else int(self.frozen_layers)
        if k > n_layers:
            raise DataError(METHODS_FILE, f"frozen_layers {k} > the LM's {n_layers} layers")
        if trainable_cap is not None:
            k = max(k, n_layers - int(trainable_cap))
        return k


#: what a control method is for: ``positive`` must score well above the floor in every column,
#: ``negative`` (probe and heads trained on shuffled labels) must score at the floor
CONTROLS = ("positive", "negative")


@dataclass(frozen=True)
class MethodSpec:
    name: str
    plugin: str
    title: str
    text: TextMode
    options: dict = field(default_factory=dict)
    control: str | None = None  # one of CONTROLS, or None for a method under test

    @property
    def shuffle_labels(self) -> bool:
        """The negative control's downstream runs train on shuffled targets."""
        return self.control == "negative"

    def plugin_class(self) -> type["PretrainMethod"]:
        plugins = available_plugins()
        if self.plugin not in plugins:
            raise DataError(METHODS_FILE, f"method {self.name!r}: unknown plug-in {self.plugin!r} "
                            f"(have: {', '.join(sorted(plugins))})")
        return plugins[self.plugin]


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
        """Return a dict with the total ``loss`` and its named components."""
        raise NotImplementedError

    def forward(self, images: torch.Tensor, text: torch.Tensor | None) -> dict[str, torch.Tensor]:
        return self.loss(images, text)  # forward() so that DistributedDataParallel can wrap the method

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


def available_plugins() -> dict[str, type[PretrainMethod]]:
    for pkg in PLUGIN_PACKAGES:
        importlib.import_module(pkg)
    return dict(_PLUGINS)


def load_method_specs(path: Path = METHODS_FILE) -> dict[str, MethodSpec]:
    """All methods of the config file, in file order, with ``base:`` entries merged."""
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as err:
        raise DataError(path, f"cannot read method config ({str(err).splitlines()[0]})") from None
    specs: dict[str, MethodSpec] = {}
    for name, entry in raw.items():
        if not isinstance(entry, dict):
            raise DataError(path, f"method {name!r}: expected a mapping")
        merged = dict(entry)
        if "base" in entry:
            base = raw.get(entry["base"])
            if not isinstance(base, dict) or "base" in base:
                raise DataError(path, f"method {name!r}: base {entry['base']!r} must be a plain entry above it")
            merged = {**base, **{k: v for k, v in entry.items() if k != "base"},
                      "options": {**base.get("options", {}), **entry.get("options", {})}}
        for key in ("plugin", "title", "text"):
            if key not in merged:
                raise DataError(path, f"method {name!r}: missing {key!r}")
        control = merged.get("control")
        if control is not None and control not in CONTROLS:
            raise DataError(path, f"method {name!r}: control must be one of {', '.join(CONTROLS)}, got {control!r}")
        specs[name] = MethodSpec(name, merged["plugin"], merged["title"], TextMode.parse(merged["text"], name),
                                 dict(merged.get("options", {})), control)
    return specs


def get_method(name: str) -> MethodSpec:
    specs = load_method_specs()
    if name not in specs:
        raise DataError(METHODS_FILE, f"unknown method {name!r} (have: {', '.join(specs)})")
    return specs[name]
