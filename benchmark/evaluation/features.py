"""``python -m benchmark.features``: pooled features of a frozen encoder, extracted once.

The linear probe trains only a linear layer on a frozen encoder, so the encoder's
output for every image is computed once (eval mode, no augmentation, no gradients)
and cached as ``OUT/<dataset>/features.npy`` aligned with the store manifest, beside
``features.json``: schema version, shape, dtype and SHA-256 of the array, and what it
was made from (the encoder's SHA-256 and metadata, the store's manifest SHA-256, the
input size). :func:`load_features` checks all of it before the probe uses a single
number: the array is small (N x D float32), so its full SHA-256 is checked on every load.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from benchmark.core.atomic import atomic_dir
from benchmark.core.config import load_profile
from benchmark.core.errors import DataError, read_json_object
from benchmark.core.guards import check_output, children_have_file
from benchmark.core.numerics import configure
from benchmark.data import prefetch
from benchmark.data.prefetch import resolve_workers
from benchmark.data.store import Store, check_described_array, describe_array, sha256_file
from benchmark.data.transforms import eval_input
from benchmark.pretraining.encoders import ENCODER_FILE, ImageEncoder, load_encoder

FEATURES_SCHEMA = 1
#: encoder metadata that must agree between the features and the pre-training meta.json
ENCODER_IDENTITY = ("method", "arch", "seed", "profile", "data_kind")


@torch.no_grad()
def extract_pooled(encoder: ImageEncoder, images: np.ndarray, size: int, batch_size: int = 128,
                   crop: str = "resize", workers: int = 0, device: torch.device | None = None) -> np.ndarray:
    """Pooled features of every image, in order. ``workers`` processes read and resize the batches
    ahead of the encoder (the same input with any number: :mod:`benchmark.data.prefetch`); on a
    GPU ``device`` the batches arrive pinned and the encoder runs there."""
    device = device or torch.device("cpu")
    encoder.eval().to(device)

    def batch(start: int) -> torch.Tensor:
        # a copy: the store is a read-only memory map, and torch warns on non-writable arrays
        return eval_input(torch.from_numpy(np.array(images[start:start + batch_size])), size, crop)

    starts = range(0, images.shape[0], batch_size)
    out = []
    for x in tqdm(prefetch.batches(batch, starts, workers, pin_memory=device.type == "cuda"), total=len(starts),
                  desc="features", unit="batch", leave=False):
        out.append(encoder(x.to(device, non_blocking=True)).pooled.cpu().numpy())
    return np.concatenate(out)


def unavailable_reason(meta_path: Path, what: str = "encoder meta.json") -> str | None:
    """Why a stage's input has no weights (e.g. ImageNet weights not cached), or None."""
    if not meta_path.is_file():
        return None
    return read_json_object(meta_path, what).get("unavailable")


def load_features(folder: Path, store: Store, input_size: int | None = None, encoder_sha256: str | None = None,
                  encoder_meta: dict | None = None, crop: str | None = None) -> tuple[np.ndarray, dict]:
    """The cached features of ``folder`` and their description, after checking that they are
    complete (schema, shape, size, SHA-256) and belong to ``store`` and, where given, to the
    encoder (its file's SHA-256, its metadata) and input size in use; else a DataError."""
    info_path, feats_path = folder / "features.json", folder / "features.npy"
    if not info_path.is_file():
        raise DataError(info_path, "cached features missing; run `python -m benchmark.features`")
    info = read_json_object(info_path, "feature description", "; run `python -m benchmark.features` again")
    if info.get("schema") != FEATURES_SCHEMA:
        found = info.get("schema")
        raise DataError(info_path, f"features schema {found!r}, expected {FEATURES_SCHEMA} (written by another version); "
                        "run `python -m benchmark.features` again")
    missing = [k for k in ("shape", "dtype", "sha256", "store", "store_manifest_sha256", "input_size", "encoder_sha256",
                           "arch") if k not in info]
    if missing:
        raise DataError(info_path, f"feature description lacks {', '.join(missing)}; run `python -m benchmark.features` again")
    if not feats_path.is_file():
        raise DataError(feats_path, "cached features missing; run `python -m benchmark.features`")
    shape = check_described_array(feats_path, info, "features.json")
    if info["store"] != store.info["dataset"] or info["store_manifest_sha256"] != store.info["manifest_sha256"]:
        raise DataError(feats_path, f"features were extracted from another store or version of it ({info['store']}), "
                        f"not {store.path}")
    if shape[0] != len(store.manifest):
        raise DataError(feats_path, f"{shape[0]} feature rows but the store has {len(store.manifest)} images")
    if input_size is not None and int(info["input_size"]) != int(input_size):
        raise DataError(feats_path, f"features were extracted at {info['input_size']} px, the profile asks for {input_size}")
    if crop is not None and info.get("crop", "resize") != crop:
        raise DataError(feats_path, f"features were extracted with the {info.get('crop', 'resize')!r} evaluation crop, "
                        f"the profile asks for {crop!r}")
    if encoder_sha256 is not None and info["encoder_sha256"] != encoder_sha256:
        raise DataError(feats_path, "features were extracted with another encoder (encoder SHA-256 differs)")
    if encoder_meta:
        theirs = info.get("encoder") or {}
        differ = [k for k in ENCODER_IDENTITY if k in theirs and k in encoder_meta and theirs[k] != encoder_meta[k]]
        if differ:
            raise DataError(feats_path, "features were extracted with another encoder ("
                            + ", ".join(f"{k} {theirs[k]!r} != {encoder_meta[k]!r}" for k in differ) + ")")
    return np.load(feats_path), info


def run(args: argparse.Namespace) -> int:
    """What ``python -m benchmark.features`` does with its parsed arguments."""
    profile = load_profile(args.params, args.profile)
    precision = configure(profile)
    size, crop = int(profile["probe"]["input_size"]), str(profile["probe"].get("eval_crop", "resize"))
    check_output(args.out, [args.encoder, args.stores], "features folder", children_have_file("features.json"))
    unavailable = unavailable_reason(args.encoder / "meta.json")
    if unavailable:
        for dataset in args.datasets:
            with atomic_dir(args.out / dataset) as tmp:
                (tmp / "features.json").write_text(json.dumps({"unavailable": unavailable}, indent=2) + "\n")
        print(f"features: none for {args.encoder}: {unavailable}")
        return 0
    encoder, meta = load_encoder(args.encoder)
    workers = resolve_workers(profile["probe"].get("loader_workers"))
    device = torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")  # as the pre-training engine
    encoder_sha256 = sha256_file(args.encoder / ENCODER_FILE)
    for dataset in args.datasets:
        start = time.perf_counter()
        store = Store.open(args.stores / dataset)
        feats = extract_pooled(encoder, store.images, size, crop=crop, workers=workers, device=device)
        info = {"schema": FEATURES_SCHEMA, "encoder": meta, "arch": encoder.arch, "encoder_sha256": encoder_sha256,
                "store": store.info["dataset"], "store_manifest_sha256": store.info["manifest_sha256"],
                "input_size": size, "precision": precision, **({"crop": crop} if crop != "resize" else {}),
                **({"device": device.type} if device.type != "cpu" else {})}
        with atomic_dir(args.out / dataset) as tmp:
            np.save(tmp / "features.npy", feats)
            info.update(describe_array(tmp / "features.npy"))
            (tmp / "features.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
        print(f"features: {feats.shape} from {args.encoder} in {time.perf_counter() - start:.1f}s -> {args.out / dataset}")
    return 0
