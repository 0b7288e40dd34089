"""Positive control: the encoder trained with supervision on the pre-training images' labels.

Not a vision-language method: a linear classifier on the pooled feature, binary
cross-entropy over the label columns named in ``options.labels`` (MIMIC-CXR's CheXpert
labels). On the phantom data those labels say exactly what was drawn, so this encoder
must learn what the findings look like; if the probe and heads cannot score well on top
of it, the harness (not the method) is broken. The report shows it as a control.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.pretraining.encoders import ImageEncoder
from benchmark.pretraining.methods import PretrainMethod, TextInput, register_method


@register_method("supervised")
class SupervisedLabels(PretrainMethod):
    needs_labels = True

    def __init__(self, encoder: ImageEncoder, text: TextInput, cfg: dict) -> None:
        super().__init__(encoder, text, cfg)
        self.classifier = nn.Linear(encoder.feature_dim, len(cfg["labels"]))

    def loss(self, images: torch.Tensor, labels: torch.Tensor | None) -> dict[str, torch.Tensor]:
        bce = F.binary_cross_entropy_with_logits(self.classifier(self.encoder(images).pooled), labels)
        return {"loss": bce, "bce": bce}
