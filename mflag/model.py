"""The M-FLAG method: projections on both sides, alignment + orthogonality.

Faithful to the official code: ``proj_v`` = Linear(D, H)-BN-ReLU-Linear(H, O)-BN(affine=False)
on the pooled image feature, ``proj_t`` the same from the LM's hidden size. The LM is
frozen, so its [CLS] embeddings come precomputed (``benchmark.embed``); the LM ablations
(``text: {frozen_layers: K}`` in methods.yaml) run a trainable LM and take its [CLS]
vector instead. The paper uses H = 2048, O = 1024 on ResNet-50 (D = 2048).
"""

from __future__ import annotations

import torch

from benchmark.pretraining.distributed import gather
from benchmark.pretraining.encoders import ImageEncoder
from benchmark.pretraining.methods import PretrainMethod, TextInput, register_method
from benchmark.pretraining.projection import projection
from mflag.losses import OFFDIAG_WEIGHT, alignment_loss, orthogonality_loss


@register_method("mflag")
class MFlag(PretrainMethod):
    def __init__(self, encoder: ImageEncoder, text: TextInput, cfg: dict) -> None:
        super().__init__(encoder, text, cfg)
        hidden, out = int(cfg.get("proj_hidden", 2048)), int(cfg.get("proj_out", 1024))
        self.proj_v = projection(encoder.feature_dim, hidden, out)
        self.proj_t = projection(text.dim, hidden, out)
        self.offdiag_weight = float(cfg.get("ortho_offdiag_weight", OFFDIAG_WEIGHT))
        self.use_ortho = bool(cfg.get("orthogonality", True))

    def loss(self, images: torch.Tensor, text: torch.Tensor | None) -> dict[str, torch.Tensor]:
        if text is None:
            raise ValueError("M-FLAG needs report embeddings or report rows")
        cls = self.text_encoder(text).cls if self.text_encoder is not None else text
        pooled = self.encoder(images).pooled
        # alignment is per pair; orthogonality sees the whole (global) batch
        align = alignment_loss(self.proj_v(pooled), self.proj_t(cls))
        ortho = orthogonality_loss(gather(pooled), self.offdiag_weight) if self.use_ortho else pooled.new_zeros(())
        return {"loss": align + ortho, "alignment": align.detach(), "orthogonality": ortho.detach()}
