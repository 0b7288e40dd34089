"""What every downstream task shares: split rows per fraction, the frozen encoder, the result record.

Linear probe, segmentation and detection all evaluate a frozen pre-trained encoder on
store rows chosen by a split manifest and write one result JSON per seed with the same
fields; this module is the one place for those steps.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from benchmark.encoders import ENCODER_FILE, ImageEncoder, load_encoder
from benchmark.splits import ids_for, read_splits
from benchmark.store import Store, sha256_file
from benchmark.transforms import to_input

SPLITS = ("train", "valid", "test")


def split_rows(store: Store, splits_path: Path, fraction: int) -> dict[str, np.ndarray]:
    """Store rows of train (the given fraction), valid and test."""
    splits = read_splits(splits_path)
    return {s: store.rows_for_ids(ids_for(splits, s, fraction)) for s in SPLITS}


def unavailable_reason(meta_path: Path) -> str | None:
    """Why a stage's input has no weights (e.g. ImageNet weights not cached), or None."""
    if not meta_path.is_file():
        return None
    return json.loads(meta_path.read_text()).get("unavailable")


@dataclass
class FrozenEncoder:
    """A pre-trained encoder in eval mode with its provenance, for heads that never train it."""

    encoder: ImageEncoder
    meta: dict  # the pre-training meta.json (method, LM, parameters)
    sha256: str

    @classmethod
    def load(cls, folder: Path) -> "FrozenEncoder":
        encoder, _ = load_encoder(folder)
        encoder.eval().requires_grad_(False)
        meta_path = folder / "meta.json"
        meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
        return cls(encoder, meta, sha256_file(folder / ENCODER_FILE))

    @torch.no_grad()
    def maps(self, images_uint8: np.ndarray, size: int, batch_size: int = 64) -> list[torch.Tensor]:
        """C2-C5 maps of (N, S, S) uint8 images at ``size`` px, computed in batches."""
        parts: list[list[torch.Tensor]] = [[], [], [], []]
        for start in range(0, len(images_uint8), batch_size):
            x = to_input(torch.from_numpy(np.ascontiguousarray(images_uint8[start:start + batch_size])), size)
            for i, m in enumerate(self.encoder(x).maps):
                parts[i].append(m)
        return [torch.cat(p) for p in parts]


def bootstrap_mean_ci(values: np.ndarray, n: int = 1000, seed: int = 0, alpha: float = 0.05) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of per-image scores (Dice, per-image AP, ...)."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), (n, len(values)))].mean(1)
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def result_record(*, method: str, dataset: str, task: str, head: str, fraction: int, seed: int, metric: str,
                  profile: dict, backend: str = "native", protocol: str = "mgca", encoder: FrozenEncoder | None = None,
                  **fields) -> dict:
    """The fields every result JSON carries; ``fields`` add the task's own (value, ci95, n, ...)."""
    record = {"method": method, "dataset": dataset, "task": task, "head": head, "fraction": fraction, "seed": seed,
              "metric": metric, "profile": profile["name"], "data_kind": profile["data_kind"], "backend": backend,
              "protocol": protocol}
    if encoder is not None:
        record.update({"lm": encoder.meta.get("lm"), "arch": encoder.encoder.arch, "encoder_sha256": encoder.sha256,
                       "pretrain_parameters": encoder.meta.get("parameters")})
    return {**record, **fields}
