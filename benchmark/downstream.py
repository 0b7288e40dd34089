"""What every downstream task shares: split rows per fraction, the frozen encoder, the result record.

Linear probe, segmentation and detection all evaluate a frozen pre-trained encoder on
store rows chosen by a split manifest and write one result JSON per seed with the same
fields; this module is the one place for those steps.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from benchmark.encoders import ENCODER_FILE, ImageEncoder, load_encoder
from benchmark.features import unavailable_reason
from benchmark.splits import ids_for, read_splits
from benchmark.store import Store, sha256_file
from benchmark.transforms import to_input

SPLITS = ("train", "valid", "test")


def split_rows(store: Store, splits_path: Path, fraction: int) -> dict[str, np.ndarray]:
    """Store rows of train (the given fraction), valid and test."""
    splits = read_splits(splits_path)
    return {s: store.rows_for_ids(ids_for(splits, s, fraction)) for s in SPLITS}


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


class MapSource:
    """Encoder maps of a set of store rows: cached once (small profiles), or recomputed per batch."""

    def __init__(self, frozen: FrozenEncoder, images: np.ndarray, rows: np.ndarray, size: int, cache: bool) -> None:
        self.frozen, self.images, self.rows, self.size = frozen, images, rows, size
        self.cached = frozen.maps(images[np.sort(rows)], size) if cache else None
        self.position = {int(r): i for i, r in enumerate(np.sort(rows))}

    def batch(self, rows: np.ndarray) -> list[torch.Tensor]:
        if self.cached is not None:
            idx = torch.tensor([self.position[int(r)] for r in rows])
            return [m[idx] for m in self.cached]
        return self.frozen.maps(self.images[rows], self.size)


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


@dataclass
class HeadRun:
    """What a frozen-encoder head needs once its encoder is known to have weights."""

    args: argparse.Namespace
    profile: dict
    cfg: dict  # the profile's section for this task
    common: dict  # result fields shared by every seed
    seeds: list[int]
    store: Store
    frozen: FrozenEncoder
    rows: dict[str, np.ndarray]


def start_head_run(argv: list[str] | None, prog: str, description: str, datasets: tuple[str, ...], task: str,
                   head: str, metric: str) -> HeadRun | None:
    """Parse the arguments every frozen-encoder head takes (segmentation, detection), read the
    profile section named after the task, and open store, encoder and split rows. Returns None
    after recording an "unavailable" result for every seed when the encoder has no weights."""
    from benchmark.config import add_profile_args, load_profile

    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--method", required=True)
    parser.add_argument("--dataset", required=True, choices=datasets)
    parser.add_argument("--fraction", required=True, type=int, choices=(1, 10, 100))
    parser.add_argument("--encoder", required=True, type=Path, help="pre-trained model folder (encoder.safetensors)")
    parser.add_argument("--store", required=True, type=Path)
    parser.add_argument("--splits", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path, help="results folder")
    add_profile_args(parser)
    args = parser.parse_args(argv)
    profile = load_profile(args.params, args.profile)
    cfg = profile[{"segmentation": "segment", "detection": "detect"}[task]]
    torch.set_num_threads(int(profile["pretrain"].get("num_threads", 2)))
    common = {"method": args.method, "dataset": args.dataset, "task": task, "head": head, "fraction": args.fraction,
              "metric": metric, "profile": profile}
    seeds = [int(s) for s in cfg["seeds"]]
    if record_if_unavailable(args, common, seeds):
        return None
    store = Store.open(args.store)
    return HeadRun(args, profile, cfg, common, seeds, store, FrozenEncoder.load(args.encoder),
                   split_rows(store, args.splits, args.fraction))


def record_if_unavailable(args, common: dict, seeds: list[int]) -> bool:
    """When the encoder has no weights (e.g. ImageNet offline), write that as the result of every seed."""
    from benchmark.results import write_result

    reason = unavailable_reason(args.encoder / "meta.json")
    if not reason:
        return False
    for seed in seeds:
        write_result(args.out, result_record(**common, seed=seed, value=None, status="unavailable", reason=reason, lm=None))
    print(f"{common['task']} {args.method} {args.dataset} {args.fraction}%: {reason}")
    return True
