"""The projection head the methods share: Linear-BN-ReLU-Linear-BN(affine=False).

M-FLAG (``proj_v`` / ``proj_t``), MGCA (global and local embedders) and ConVIRT as
re-implemented by MGCA all use this shape. Local features (words, patches) go through
it as rows of a (N, C) matrix of the real positions only, which is what MGCA's 1x1
convolution + BatchNorm over (B, C, N) computes, minus the padding in the statistics.
"""

from __future__ import annotations

from torch import nn


def projection(in_dim: int, hidden: int, out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
                         nn.Linear(hidden, out), nn.BatchNorm1d(out, affine=False))
