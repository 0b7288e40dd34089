"""Random initialisation: the same encoder architecture, no pre-training."""

from __future__ import annotations

from benchmark.pretraining.methods import PretrainMethod, register_method


@register_method("random")
class RandomInit(PretrainMethod):
    trains = False
