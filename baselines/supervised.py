"""Positive control: the encoder trained with supervision on the pre-training images' labels
(and, where the option ``dense_weight`` asks for it, on where their findings are).

Not a vision-language method: a linear classifier on the pooled feature, binary
cross-entropy over the label columns named in ``options.labels`` (MIMIC-CXR's CheXpert
labels). On the phantom data those labels say exactly what was drawn, so this encoder
must learn what the findings look like; if the probe and heads cannot score well on top
of it, the harness (not the method) is broken. The report shows it as a control.

Labels alone teach the pooled feature *what* is in a film, not *where*: the segmentation and
detection heads read the C3-C5 maps. With ``dense_weight`` > 0 (the phantom profiles) each of
C3, C4 and C5 also gets a 1x1 convolution trained with binary cross-entropy against the store's
masks pooled to its grid: the phantom's finding masks (``phantom-finding-masks/``, where the
renderer drew a focal finding), which the real MIMIC-CXR does not have.
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
        self.dense_weight = float(cfg.get("dense_weight", 0.0))
        self.needs_masks = self.dense_weight > 0
        if self.needs_masks:
            self.dense = nn.ModuleList(nn.Conv2d(c, 1, 1) for c in encoder.map_channels[1:])  # C3, C4, C5
            # findings cover a few % of a film: without weighting, "nothing anywhere" is a cheap optimum
            self.register_buffer("pos_weight", torch.tensor(float(cfg.get("dense_pos_weight", 1.0))), persistent=False)

    def loss(self, images: torch.Tensor, labels: torch.Tensor | None,
             masks: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        out = self.encoder(images)
        bce = F.binary_cross_entropy_with_logits(self.classifier(out.pooled), labels)
        if not self.needs_masks:
            return {"loss": bce, "bce": bce}
        if masks is None:
            raise ValueError("supervised: dense_weight > 0 needs the dense targets (the store's masks)")
        dense = sum(F.binary_cross_entropy_with_logits(head(fmap), F.adaptive_avg_pool2d(masks, fmap.shape[-2:]),
                                                       pos_weight=self.pos_weight)
                    for head, fmap in zip(self.dense, out.maps[1:])) / len(self.dense)
        return {"loss": bce + self.dense_weight * dense, "bce": bce, "dense": dense}
