"""ConVIRT (Zhang et al., 2022): image and report projections, symmetric InfoNCE.

Options (methods.yaml): ``proj_hidden``, ``proj_out``, ``temperature``, and the weight
of each direction. The report feature is the trainable LM's [CLS] vector.
"""

from __future__ import annotations

import torch

from baselines.losses import info_nce
from benchmark.pretraining.distributed import gather
from benchmark.pretraining.encoders import ImageEncoder
from benchmark.pretraining.methods import PretrainMethod, TextInput, register_method
from benchmark.pretraining.projection import projection


@register_method("convirt")
class ConVIRT(PretrainMethod):
    def __init__(self, encoder: ImageEncoder, text: TextInput, cfg: dict) -> None:
        super().__init__(encoder, text, cfg)
        hidden, out = int(cfg["proj_hidden"]), int(cfg["proj_out"])
        self.proj_v = projection(encoder.feature_dim, hidden, out)
        self.proj_t = projection(text.dim, hidden, out)

    def loss(self, images: torch.Tensor, text: torch.Tensor | None) -> dict[str, torch.Tensor]:
        image = self.proj_v(self.encoder(images).pooled)
        report = self.proj_t(self.text_encoder(text).cls)
        i2t, t2i = info_nce(gather(image), gather(report), float(self.cfg["temperature"]))
        loss = float(self.cfg["image_to_text_weight"]) * i2t + float(self.cfg["text_to_image_weight"]) * t2i
        return {"loss": loss, "image_to_text": i2t.detach(), "text_to_image": t2i.detach()}
