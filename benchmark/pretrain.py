"""``python -m benchmark.pretrain --method NAME``: the one training engine for every method.

Reads the pre-training store (images) and the aligned report embeddings, builds the
method from the registry, trains with AdamW and a warm-up + cosine schedule, and
writes ``OUT/encoder.safetensors`` (the shared encoder interface), ``OUT/model.safetensors``
(all of the method's modules), ``OUT/train_log.csv`` and ``OUT/meta.json`` (method, LM,
data, parameter counts, wall time). Methods that do not train (init baselines) save
their seeded initial encoder.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from safetensors.torch import save_file
from tqdm import tqdm

from benchmark.atomic import atomic_dir
from benchmark.config import add_profile_args, load_profile
from benchmark.encoders import ImageEncoder, save_encoder
from benchmark.errors import DataError, run_cli
from benchmark.methods import PretrainMethod, WeightsUnavailable, get_method
from benchmark.store import Store
from benchmark.transforms import random_crop_input


def cosine_with_warmup(step: int, total: int, warmup: int) -> float:
    """LR multiplier: linear warm-up over ``warmup`` steps, then cosine decay to 0 at ``total``."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def build_method(name: str, cfg: dict, text_dim: int, seed: int) -> PretrainMethod:
    torch.manual_seed(seed)
    encoder = ImageEncoder(cfg["arch"])
    return get_method(name)(encoder, text_dim, cfg)


def train(method: PretrainMethod, images: np.ndarray, rows: np.ndarray, text: np.ndarray | None, cfg: dict,
          seed: int) -> pd.DataFrame:
    """Run the configured epochs over store rows ``rows``; one log row per epoch (mean of each loss term).

    ``images`` stays memory-mapped: each batch reads only its own rows, so a
    MIMIC-sized store never has to fit in memory. ``text`` is aligned with ``rows``.
    """
    n = len(rows)
    batch = int(cfg["batch_size"])
    if n < 2:
        raise DataError(None, f"pre-training needs at least 2 images, store has {n}")
    batch = min(batch, n)
    steps_per_epoch = n // batch  # drop the last partial batch: BatchNorm needs > 1 sample
    epochs = int(cfg["epochs"])
    total = steps_per_epoch * epochs
    params = [p for p in method.parameters() if p.requires_grad]
    optim = torch.optim.AdamW(params, lr=float(cfg["lr"]), weight_decay=float(cfg["weight_decay"]))
    sched = torch.optim.lr_scheduler.LambdaLR(
        optim, lambda s: cosine_with_warmup(s, total, int(cfg.get("warmup_steps", 0))))
    gen = torch.Generator().manual_seed(seed)
    size = int(cfg["input_size"])
    log = []
    method.train()
    bar = tqdm(total=total, desc=f"pretrain {method.name}", unit="step", leave=False)
    for epoch in range(epochs):
        order = torch.randperm(n, generator=gen).numpy()
        sums: dict[str, float] = {}
        for s in range(steps_per_epoch):
            idx = np.sort(order[s * batch:(s + 1) * batch])
            x = random_crop_input(torch.from_numpy(np.ascontiguousarray(images[rows[idx]])), size, gen)
            t = torch.from_numpy(text[idx]) if text is not None else None
            terms = method.loss(x, t)
            optim.zero_grad(set_to_none=True)
            terms["loss"].backward()
            optim.step()
            sched.step()
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach())
            bar.update(1)
            bar.set_postfix(loss=f"{float(terms['loss'].detach()):.3f}")
        row = {"epoch": epoch + 1, "lr": sched.get_last_lr()[0]}
        row.update({k: v / steps_per_epoch for k, v in sums.items()})
        log.append(row)
        print("pretrain " + " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
    bar.close()
    return pd.DataFrame(log)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmark.pretrain", description=__doc__.splitlines()[0])
    parser.add_argument("--method", required=True)
    parser.add_argument("--store", required=True, type=Path, help="pre-training store (MIMIC-CXR)")
    parser.add_argument("--text", required=True, type=Path, help="folder written by benchmark.embed")
    parser.add_argument("--out", required=True, type=Path)
    add_profile_args(parser)
    args = parser.parse_args(argv)
    profile = load_profile(args.params, args.profile)
    cfg, seed = profile["pretrain"], int(profile["seed"])
    torch.set_num_threads(int(cfg.get("num_threads", 2)))
    cls = get_method(args.method)
    lm_info = json.loads((args.text / "lm.json").read_text()) if (args.text / "lm.json").is_file() else None
    if lm_info is None:
        raise DataError(args.text / "lm.json", "report embeddings missing; run `python -m benchmark.embed`")
    start = time.perf_counter()
    method = build_method(args.method, cfg, int(lm_info["dim"]), seed)
    try:
        method.initialize()
    except WeightsUnavailable as why:
        # a documented outcome, not a crash: later stages carry the reason into the report
        meta = {"method": args.method, "arch": cfg["arch"], "profile": profile["name"],
                "data_kind": profile["data_kind"], "unavailable": str(why)}
        with atomic_dir(args.out) as tmp:
            (tmp / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        print(f"pretrain {args.method}: {why}")
        return 0
    log = pd.DataFrame()
    store = Store.open(args.store)
    rows = np.flatnonzero(store.manifest["official_split"].astype(str).to_numpy() == "train")
    if cls.trains:
        text = np.load(args.text / "embeddings.npy") if cls.uses_text else None
        if text is not None and text.shape[0] != len(store.manifest):
            raise DataError(args.text / "embeddings.npy", f"{text.shape[0]} rows but the store has {len(store.manifest)}")
        log = train(method, store.images, rows, None if text is None else text[rows], cfg, seed)
    meta = {
        "method": args.method,
        "arch": cfg["arch"],
        "seed": seed,
        "profile": profile["name"],
        "data_kind": profile["data_kind"],
        "lm": {k: lm_info[k] for k in ("name", "source", "max_length")} if cls.uses_text else None,
        "pretrain_images": int(len(rows)) if cls.trains else 0,
        "epochs": int(cfg["epochs"]) if cls.trains else 0,
        "parameters": method.parameter_counts(),
        "encoder_parameters": sum(p.numel() for p in method.encoder.parameters()),
        "final_loss": float(log["loss"].iloc[-1]) if len(log) else None,
        "wall_time_s": round(time.perf_counter() - start, 2),
    }
    with atomic_dir(args.out) as tmp:
        save_encoder(method.encoder, tmp, {k: meta[k] for k in ("method", "arch", "seed", "profile", "data_kind")})
        save_file({k: v.detach().contiguous() for k, v in method.state_dict().items()}, str(tmp / "model.safetensors"))
        log.to_csv(tmp / "train_log.csv", index=False)
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    print(f"pretrain {args.method}: {meta['pretrain_images']} images, {meta['epochs']} epochs, "
          f"{meta['wall_time_s']}s -> {args.out}")
    return 0


if __name__ == "__main__":
    run_cli(main)
