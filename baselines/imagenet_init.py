"""ImageNet initialisation: torchvision's ImageNet weights, no medical pre-training.

Weights are taken only from the local torch hub cache (:mod:`benchmark.pretraining.imagenet`) and never
downloaded. When they are absent the run says so: the pipeline records "weights not available
offline" instead of silently training from random weights. The version is the method's option
``weights`` (default: the first version torchvision publishes for the architecture that is in the
cache, in the order V1, V2).
"""

from __future__ import annotations

from benchmark.core.errors import DataError
from benchmark.pretraining.methods import PretrainMethod, WeightsUnavailable, register_method


@register_method("imagenet")
class ImageNetInit(PretrainMethod):
    trains = False

    def initialize(self) -> None:
        from benchmark.pretraining.imagenet import imagenet_file, load_imagenet, missing_message, published_versions

        arch = self.encoder.arch
        versions = [self.cfg["weights"]] if self.cfg.get("weights") else published_versions(arch)
        found = next((v for v in versions if imagenet_file(arch, v).is_file()), None)
        if found is None:
            raise WeightsUnavailable(f"weights not available offline: {missing_message(arch, versions[0])}")
        try:
            loaded, record = load_imagenet(arch, found)
        except DataError as err:
            raise WeightsUnavailable(f"weights not available offline: {err}") from None
        self.encoder.load_state_dict(loaded.state_dict())
        self.source = record
