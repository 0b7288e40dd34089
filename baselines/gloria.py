"""GLoRIA (Huang et al., ICCV 2021): global and local (word-region attention) contrastive losses.

Image side: the pooled C5 feature through a linear layer (global), and C4 (layer3)
through a 1x1 convolution (local regions), both to the LM's width. Text side: the
sum of the last 4 layers' hidden states; word pieces are summed into words, and the
report vector is the mean of its words. Unlike GLoRIA's code, [CLS] and [SEP] are not
counted as words. Loss = local_weight (local i2t + t2i) + global_weight (global i2t + t2i),
each a cross-entropy on γ3-scaled scores.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from baselines.losses import cross_entropy_both_ways, gloria_local_similarity
from benchmark.pretraining.distributed import gather, gather_padded
from benchmark.pretraining.encoders import ImageEncoder
from benchmark.pretraining.methods import PretrainMethod, TextInput, register_method
from benchmark.pretraining.text_encoder import merge_word_pieces


@register_method("gloria")
class GLoRIA(PretrainMethod):
    def __init__(self, encoder: ImageEncoder, text: TextInput, cfg: dict) -> None:
        super().__init__(encoder, text, cfg)
        self.global_embed = nn.Linear(encoder.feature_dim, text.dim)
        self.local_embed = nn.Conv2d(encoder.map_channels[2], text.dim, kernel_size=1, bias=False)

    def loss(self, images: torch.Tensor, text: torch.Tensor | None) -> dict[str, torch.Tensor]:
        out = self.encoder(images)
        image_global = self.global_embed(out.pooled)
        regions = self.local_embed(out.maps[2]).flatten(2).transpose(1, 2)  # (B, R, E)
        encoded = self.text_encoder(text)
        words, word_mask = merge_word_pieces(torch.stack(encoded.hidden).sum(0), encoded.word_ids)
        report = (words * word_mask[..., None]).sum(1) / word_mask.sum(1, keepdim=True).clamp(min=1)

        cfg = self.cfg
        words, word_mask = gather_padded(words), gather_padded(word_mask, value=False)
        local = float(cfg["gamma3"]) * gloria_local_similarity(words, word_mask, gather(regions), float(cfg["gamma1"]),
                                                               float(cfg["gamma2"]))
        local_i2t, local_t2i = cross_entropy_both_ways(local)
        glob = float(cfg["gamma3"]) * F.normalize(gather(image_global), dim=-1) @ F.normalize(gather(report), dim=-1).T
        global_i2t, global_t2i = cross_entropy_both_ways(glob)
        local_loss, global_loss = local_i2t + local_t2i, global_i2t + global_t2i
        loss = float(cfg["local_weight"]) * local_loss + float(cfg["global_weight"]) * global_loss
        return {"loss": loss, "local": local_loss.detach(), "global": global_loss.detach()}
