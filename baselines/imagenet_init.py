"""ImageNet initialisation: torchvision's ImageNet weights, no medical pre-training.

Weights are taken only from the local torch hub cache (``torch.hub.get_dir()/checkpoints``)
and never downloaded. When they are absent the run says so: the pipeline records
"weights not available offline" instead of silently training from random weights.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torchvision

from benchmark.errors import DataError
from benchmark.methods import PretrainMethod, WeightsUnavailable, register_method

_WEIGHT_ENUMS = {"resnet18": "ResNet18_Weights", "resnet34": "ResNet34_Weights", "resnet50": "ResNet50_Weights",
                 "resnet101": "ResNet101_Weights"}


def cached_imagenet_weights(arch: str) -> Path | None:
    """The first of torchvision's ImageNet weight files for ``arch`` present in the local hub cache."""
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    for weights in getattr(torchvision.models, _WEIGHT_ENUMS[arch]):
        candidate = folder / Path(weights.url).name
        if candidate.is_file():
            return candidate
    return None


@register_method("imagenet")
class ImageNetInit(PretrainMethod):
    trains = False

    def initialize(self) -> None:
        from benchmark.import_weights import import_encoder

        path = cached_imagenet_weights(self.encoder.arch)
        if path is None:
            raise WeightsUnavailable(f"weights not available offline: no torchvision ImageNet weights for "
                                     f"{self.encoder.arch} in {Path(torch.hub.get_dir()) / 'checkpoints'}")
        try:
            loaded, _ = import_encoder(path, self.encoder.arch)
        except DataError as err:
            raise WeightsUnavailable(f"weights not available offline: {err}") from None
        self.encoder.load_state_dict(loaded.state_dict())
