"""Methods as data: the entries of ``benchmark/configs/methods.yaml`` and a profile's settings for each.

A *method* is a plug-in (a registered :class:`benchmark.pretraining.methods.PretrainMethod` subclass), its
options, how it reads reports, its title and whether it is a control. This module reads and
resolves them without importing torch or any plug-in, so the commands that only need the
description of a method (the tables' titles, the method cards DVC tracks) start at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from benchmark.core.errors import DataError

#: plug-in name -> the module that defines (and registers) it, imported on first use
PLUGIN_MODULES = {
    "random": "baselines.random_init", "imagenet": "baselines.imagenet_init", "convirt": "baselines.convirt",
    "gloria": "baselines.gloria", "mgca": "baselines.mgca", "mflag": "mflag.model",
    "supervised": "baselines.supervised", "pretrained": "baselines.pretrained",
}
METHODS_FILE = Path(__file__).parent.parent / "configs" / "methods.yaml"


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
    #: the official pre-training recipe: setting -> {value, source, honoured}; see :func:`method_config`
    recipe: dict = field(default_factory=dict)

    @property
    def shuffle_labels(self) -> bool:
        """The negative control's downstream runs train on shuffled targets."""
        return self.control == "negative"


#: entry-point group through which another installed package adds plug-ins: ``name = "module"``, a
#: module that registers the plug-in ``name`` with :func:`register_method` when imported
ENTRY_POINT_GROUP = "medvlp_bench.methods"


def plugin_modules() -> dict[str, str]:
    """Plug-in name -> defining module: this tree's, then those of other installed packages."""
    from importlib.metadata import entry_points

    return {**PLUGIN_MODULES, **{entry.name: entry.value.partition(":")[0] for entry in entry_points(group=ENTRY_POINT_GROUP)}}


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
                                 dict(merged.get("options", {})), control, _parse_recipe(merged.get("recipe") or {}, name, path))
    return specs


def _parse_recipe(recipe: Any, method: str, path: Path) -> dict:
    """Every recipe setting is ``{value, source}``: a value without its source is refused.
    ``honoured: false`` documents a setting the engine does not apply (e.g. a second language
    model); ``official:`` is what the official code does where the applied ``value`` has to differ
    (e.g. a schedule on a validation loss that pre-training here does not compute)."""
    if not isinstance(recipe, dict):
        raise DataError(path, f"method {method!r}: recipe must be a mapping of setting -> {{value, source}}")
    for key, entry in recipe.items():
        if not (isinstance(entry, dict) and "value" in entry and isinstance(entry.get("source"), str) and entry["source"]
                and set(entry) <= {"value", "source", "honoured", "official"}):
            raise DataError(path, f"method {method!r}: recipe setting {key!r} needs a value and a source (got {entry!r})")
        if entry.get("honoured", True) and key not in RECIPE_SETTINGS:
            raise DataError(path, f"method {method!r}: recipe setting {key!r} is not one the engine applies "
                            f"({', '.join(RECIPE_SETTINGS)}); mark it honoured: false to document it")
    return dict(recipe)


#: pre-training settings a recipe may set (the keys of a profile's ``pretrain`` that the engine reads)
RECIPE_SETTINGS = ("init", "imagenet_weights", "epochs", "batch_size", "batch_per_process", "gather", "optimizer", "lr",
                   "weight_decay", "betas", "schedule", "warmup_steps", "warmup_share", "restart_share", "eta_min", "amp",
                   "grad_clip", "augment", "text_max_length", "lm_layers", "upsample_299")


def recipe_values(spec: MethodSpec) -> dict:
    """The settings of ``spec``'s recipe that the engine applies."""
    return {key: entry["value"] for key, entry in spec.recipe.items() if entry.get("honoured", True)}


def get_method(name: str) -> MethodSpec:
    specs = load_method_specs()
    if name not in specs:
        raise DataError(METHODS_FILE, f"unknown method {name!r} (have: {', '.join(specs)})")
    return specs[name]


def method_options(spec: MethodSpec, cfg: dict) -> dict:
    """The method's options from methods.yaml, overridden by the profile's ``method_options.<plugin>``."""
    return {**spec.options, **(cfg.get("method_options") or {}).get(spec.plugin, {})}


def method_config(spec: MethodSpec, cfg: dict) -> dict:
    """The profile's pre-training settings for ``spec``: with ``recipe: official`` (the paper profile)
    the method's official recipe over the profile's common values; then ``method_overrides.<method>``
    (e.g. more epochs for the positive control) over both."""
    official = recipe_values(spec) if cfg.get("recipe") == "official" else {}
    return {**cfg, **official, **((cfg.get("method_overrides") or {}).get(spec.name) or {})}
