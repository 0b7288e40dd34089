"""M-FLAG's two losses (Liu et al., MICCAI 2023), as plain functions.

- :func:`alignment_loss` pulls each image projection towards its report's projection
  (no negatives: the frozen LM's latent space is the anchor).
- :func:`orthogonality_loss` pushes the correlation of the raw pooled image features
  towards the identity, which keeps the visual latent space from collapsing.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

OFFDIAG_WEIGHT = 0.0051


def alignment_loss(img_proj: torch.Tensor, txt_proj: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of (2 - 2 cos(x, y)) + (2 - 2 cos(y, x)); x, y are l2-normalised rows."""
    x = F.normalize(img_proj, dim=-1)
    y = F.normalize(txt_proj, dim=-1)
    cos_xy = (x * y).sum(-1)
    cos_yx = (y * x).sum(-1)
    return ((2 - 2 * cos_xy) + (2 - 2 * cos_yx)).mean()


def orthogonality_loss(z: torch.Tensor, offdiag_weight: float = OFFDIAG_WEIGHT) -> torch.Tensor:
    """½ [Σᵢ (Cᵢᵢ − 1)² + w Σ_{i≠j} Cᵢⱼ²] with C = zᵀz / B on raw (B, D) features."""
    b = z.shape[0]
    c = z.T @ z / b
    diag = torch.diagonal(c)
    on = (diag - 1).pow(2).sum()
    off = c.pow(2).sum() - diag.pow(2).sum()
    return 0.5 * (on + offdiag_weight * off)
