"""MGCA (Wang et al., NeurIPS 2022): instance-, token- and prototype-level alignment.

Image side (ResNet variant): the pooled C5 feature and the C4 (layer3) positions,
each through a projection head to ``proj_out`` dims, l2-normalised. Text side: the
last layer's [CLS] vector and its words (pieces summed), through their own heads.
Word weights for the token-level loss come from the last layer's attention of [CLS]
(summed per word, clipped to the report's 10th-90th percentile, normalised); patches
are weighted uniformly, as MGCA does for a ResNet. Prototypes are re-normalised every
step and frozen for the first ``freeze_prototypes_epochs`` epochs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from baselines.losses import info_nce, prototype_loss, token_alignment_loss
from benchmark.pretraining.distributed import gather
from benchmark.pretraining.encoders import ImageEncoder
from benchmark.pretraining.methods import PretrainMethod, TextInput, register_method
from benchmark.pretraining.projection import projection
from benchmark.pretraining.text_encoder import merge_word_pieces


def word_weights(cls_attention: torch.Tensor, word_ids: torch.Tensor, word_mask: torch.Tensor) -> torch.Tensor:
    """[CLS] attention summed per word, clipped to each report's 10th-90th percentile, summing to 1."""
    per_word, _ = merge_word_pieces(cls_attention.unsqueeze(-1), word_ids)
    per_word = per_word.squeeze(-1).detach()
    out = torch.zeros_like(per_word)
    for i in range(per_word.shape[0]):
        values = per_word[i, word_mask[i]]
        if values.numel() == 0:
            continue
        lo, hi = torch.quantile(values, 0.1), torch.quantile(values, 0.9)
        clipped = values.clamp(lo, hi)
        out[i, word_mask[i]] = clipped / clipped.sum()
    return out


def _local_rows(x: torch.Tensor, mask: torch.Tensor, head: nn.Module) -> torch.Tensor:
    """Apply ``head`` to the real positions of (B, N, C) ``x``; padding stays zero."""
    out = x.new_zeros(*x.shape[:2], head[-2].out_features)
    out[mask] = F.normalize(head(x[mask]), dim=-1)
    return out


@register_method("mgca")
class MGCA(PretrainMethod):
    def __init__(self, encoder: ImageEncoder, text: TextInput, cfg: dict) -> None:
        super().__init__(encoder, text, cfg)
        hidden, out = int(cfg["proj_hidden"]), int(cfg["proj_out"])
        self.image_global = projection(encoder.feature_dim, hidden, out)
        self.image_local = projection(encoder.map_channels[2], hidden, out)
        self.text_global = projection(text.dim, hidden, out)
        self.text_local = projection(text.dim, hidden, out)
        self.prototypes = nn.Linear(out, int(cfg["prototypes"]), bias=False)

    def loss(self, images: torch.Tensor, text: torch.Tensor | None) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        out = self.encoder(images)
        img = F.normalize(self.image_global(out.pooled), dim=-1)
        c4 = out.maps[2].flatten(2).transpose(1, 2)  # (B, R, C)
        patches = _local_rows(c4, torch.ones(c4.shape[:2], dtype=torch.bool, device=c4.device), self.image_local)
        encoded = self.text_encoder(text)
        report = F.normalize(self.text_global(encoded.cls), dim=-1)
        words, word_mask = merge_word_pieces(encoded.hidden[-1], encoded.word_ids)
        words = _local_rows(words, word_mask, self.text_local)
        weights = word_weights(encoded.cls_attention, encoded.word_ids, word_mask)

        img_all, report_all = gather(img), gather(report)
        i2t, t2i = info_nce(img_all, report_all, float(cfg["temperature"]))
        instance = i2t + t2i
        token = token_alignment_loss(words, word_mask, weights, patches, float(cfg["local_temperature"]))
        token_loss = token["word"] + token["patch"]
        with torch.no_grad():
            self.prototypes.weight.copy_(F.normalize(self.prototypes.weight, dim=1))
        protos = self.prototypes.weight
        if self.epoch < int(cfg["freeze_prototypes_epochs"]):
            protos = protos.detach()
        proto = prototype_loss(img_all @ protos.T, report_all @ protos.T, float(cfg["sinkhorn_epsilon"]),
                               int(cfg["sinkhorn_iterations"]), float(cfg["proto_temperature"]))
        loss = (float(cfg["lambda_instance"]) * instance + float(cfg["lambda_token"]) * token_loss
                + float(cfg["lambda_prototype"]) * proto)
        return {"loss": loss, "instance": instance.detach(), "token": token_loss.detach(), "prototype": proto.detach()}
