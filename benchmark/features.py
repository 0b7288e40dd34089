"""``python -m benchmark.features``: pooled features of a frozen encoder, extracted once.

The linear probe trains only a linear layer on a frozen encoder, so the encoder's
output for every image is computed once (eval mode, no augmentation, no gradients)
and cached as ``OUT/features.npy`` aligned with the store manifest.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from benchmark.atomic import atomic_dir
from benchmark.config import add_profile_args, load_profile
from benchmark.encoders import ENCODER_FILE, ImageEncoder, load_encoder
from benchmark.errors import run_cli
from benchmark.store import Store, sha256_file
from benchmark.transforms import to_input


@torch.no_grad()
def extract_pooled(encoder: ImageEncoder, images: np.ndarray, size: int, batch_size: int = 128) -> np.ndarray:
    encoder.eval()
    out = []
    for start in tqdm(range(0, images.shape[0], batch_size), desc="features", unit="batch", leave=False):
        x = to_input(torch.from_numpy(np.ascontiguousarray(images[start:start + batch_size])), size)
        out.append(encoder(x).pooled.float().numpy())
    return np.concatenate(out)


def unavailable_reason(meta_path: Path) -> str | None:
    """Why a stage's input has no weights (e.g. ImageNet weights not cached), or None."""
    if not meta_path.is_file():
        return None
    return json.loads(meta_path.read_text()).get("unavailable")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmark.features", description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", required=True, type=Path, help="folder with encoder.safetensors")
    parser.add_argument("--stores", required=True, type=Path, help="folder of stores (STORES/<dataset>)")
    parser.add_argument("--datasets", required=True, nargs="+", help="stores to encode, in one process")
    parser.add_argument("--out", required=True, type=Path, help="features folder (OUT/<dataset>)")
    add_profile_args(parser)
    args = parser.parse_args(argv)
    profile = load_profile(args.params, args.profile)
    torch.set_num_threads(int(profile["pretrain"].get("num_threads", 2)))
    size = int(profile["probe"]["input_size"])
    unavailable = unavailable_reason(args.encoder / "meta.json")
    if unavailable:
        for dataset in args.datasets:
            with atomic_dir(args.out / dataset) as tmp:
                (tmp / "features.json").write_text(json.dumps({"unavailable": unavailable}, indent=2) + "\n")
        print(f"features: none for {args.encoder}: {unavailable}")
        return 0
    encoder, meta = load_encoder(args.encoder)
    encoder_sha256 = sha256_file(args.encoder / ENCODER_FILE)
    for dataset in args.datasets:
        start = time.perf_counter()
        store = Store.open(args.stores / dataset)
        feats = extract_pooled(encoder, store.images, size)
        info = {"encoder": meta, "arch": encoder.arch, "encoder_sha256": encoder_sha256,
                "store": store.info["dataset"], "store_manifest_sha256": store.info["manifest_sha256"],
                "input_size": size, "shape": list(feats.shape)}
        with atomic_dir(args.out / dataset) as tmp:
            np.save(tmp / "features.npy", feats)
            (tmp / "features.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
        print(f"features: {feats.shape} from {args.encoder} in {time.perf_counter() - start:.1f}s -> {args.out / dataset}")
    return 0


if __name__ == "__main__":
    run_cli(main)
