"""The M-FLAG method: projections on both sides, alignment + orthogonality.

Faithful to the official code: ``proj_v`` = Linear(D, H)-BN-ReLU-Linear(H, O)-BN(affine=False)
on the pooled image feature, ``proj_t`` the same from the LM's hidden size; the LM is
frozen, so its [CLS] embeddings come precomputed (``benchmark.embed``). The paper uses
H = 2048, O = 1024 on ResNet-50 (D = 2048).
"""

from __future__ import annotations

import torch
from torch import nn

from benchmark.encoders import ImageEncoder
from benchmark.methods import PretrainMethod, register_method
from mflag.losses import OFFDIAG_WEIGHT, alignment_loss, orthogonality_loss


def projection(in_dim: int, hidden: int, out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(in_dim, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
        nn.Linear(hidden, out), nn.BatchNorm1d(out, affine=False),
    )


@register_method("mflag")
class MFlag(PretrainMethod):
    def __init__(self, encoder: ImageEncoder, text_dim: int, cfg: dict) -> None:
        super().__init__(encoder, text_dim, cfg)
        hidden, out = int(cfg.get("proj_hidden", 2048)), int(cfg.get("proj_out", 1024))
        self.proj_v = projection(encoder.feature_dim, hidden, out)
        self.proj_t = projection(text_dim, hidden, out)
        self.offdiag_weight = float(cfg.get("ortho_offdiag_weight", OFFDIAG_WEIGHT))
        self.use_ortho = bool(cfg.get("use_orthogonality", True))

    def loss(self, images: torch.Tensor, text: torch.Tensor | None) -> dict[str, torch.Tensor]:
        assert text is not None, "M-FLAG needs report embeddings"
        pooled = self.encoder(images).pooled
        align = alignment_loss(self.proj_v(pooled), self.proj_t(text))
        ortho = orthogonality_loss(pooled, self.offdiag_weight) if self.use_ortho else pooled.new_zeros(())
        return {"loss": align + ortho, "alignment": align.detach(), "orthogonality": ortho.detach()}
