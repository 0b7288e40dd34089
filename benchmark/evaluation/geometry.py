"""Latent-space geometry of an encoder's pooled features: the paper's collapse analysis.

M-FLAG's orthogonality loss is there to keep the latent space from collapsing onto a few
directions. Measured per encoder on the pooled test features of a downstream dataset:

- the singular values of the centred feature matrix (the spectrum, plotted by the report);
- the effective rank: exp of the entropy of the singular values normalised to sum 1
  (Roy & Vetterli, 2007): D for a perfectly spread space, 1 for a collapsed one;
- the share of the variance (squared singular values) held by the top 1 % of dimensions
  (at least one).

Written next to the probe's results as ``geometry__<dataset>.json`` by
:func:`benchmark.reporting.results.write_geometry`, the home of every run-record format (no
``metric`` key, so ``load_results`` leaves them out; ``load_geometry`` reads them).
"""

from __future__ import annotations

import math

import numpy as np


def feature_geometry(features: np.ndarray) -> dict:
    """Spectrum, effective rank and top-1 % variance share of (N, D) features."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"need (N >= 2, D) features, got shape {x.shape}")
    x = x - x.mean(0)
    singular = np.linalg.svd(x, compute_uv=False)
    total = singular.sum()
    if total <= 0:
        effective_rank, share = 0.0, float("nan")  # every feature identical: nothing to spread
    else:
        p = singular[singular > 0] / total
        effective_rank = float(np.exp(-(p * np.log(p)).sum()))
        variance = singular ** 2
        top = max(1, math.ceil(x.shape[1] / 100))
        share = float(variance[:top].sum() / variance.sum())
    return {"n": int(x.shape[0]), "dim": int(x.shape[1]), "singular_values": singular.tolist(),
            "effective_rank": effective_rank, "top1pct_dims": max(1, math.ceil(x.shape[1] / 100)),
            "top1pct_variance_share": share}
