"""``python -m benchmark.probe``: linear probe on cached frozen features (paper protocol).

One linear layer on the pooled feature; AdamW (lr 5e-4, wd 1e-6), batch 48, up to
50 epochs, early stopping on validation loss (patience 10), best-validation weights
restored; test AUROC with a bootstrap 95 % interval. One result JSON per seed.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from benchmark.config import add_profile_args, load_profile
from benchmark.errors import DataError, run_cli
from benchmark.features import unavailable_reason
from benchmark.results import bootstrap_ci, write_result
from benchmark.splits import ids_for, read_splits
from benchmark.store import Store

# dataset -> (target column, metric name)
TARGETS = {"rsna": ("target", "auroc")}


def fit_linear_probe(x_train: np.ndarray, y_train: np.ndarray, x_valid: np.ndarray, y_valid: np.ndarray,
                     cfg: dict, seed: int) -> tuple[nn.Linear, dict]:
    """Train one linear layer with BCE; early stopping on validation loss; returns best weights."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    xt, yt = torch.from_numpy(x_train).float(), torch.from_numpy(y_train).float()
    xv, yv = torch.from_numpy(x_valid).float(), torch.from_numpy(y_valid).float()
    layer = nn.Linear(xt.shape[1], 1)
    optim = torch.optim.AdamW(layer.parameters(), lr=float(cfg["lr"]), weight_decay=float(cfg["weight_decay"]))
    loss_fn = nn.BCEWithLogitsLoss()
    batch, patience = int(cfg["batch_size"]), int(cfg["patience"])
    best, best_state, best_epoch, stale, epoch = float("inf"), None, 0, 0, 0
    for epoch in range(1, int(cfg["max_epochs"]) + 1):
        order = torch.randperm(len(xt), generator=gen)
        for s in range(0, len(xt), batch):
            idx = order[s:s + batch]
            optim.zero_grad(set_to_none=True)
            loss_fn(layer(xt[idx]).squeeze(1), yt[idx]).backward()
            optim.step()
        with torch.no_grad():
            valid_loss = float(loss_fn(layer(xv).squeeze(1), yv))
        if valid_loss < best:
            best, best_epoch, stale = valid_loss, epoch, 0
            best_state = {k: v.clone() for k, v in layer.state_dict().items()}
        else:
            stale += 1
            if stale >= patience:
                break
    layer.load_state_dict(best_state)
    return layer, {"epochs_run": epoch, "best_epoch": best_epoch, "best_valid_loss": best}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmark.probe", description=__doc__.splitlines()[0])
    parser.add_argument("--method", required=True)
    parser.add_argument("--dataset", required=True, choices=sorted(TARGETS))
    parser.add_argument("--fraction", required=True, type=int, choices=(1, 10, 100))
    parser.add_argument("--features", required=True, type=Path, help="folder written by benchmark.features")
    parser.add_argument("--store", required=True, type=Path)
    parser.add_argument("--splits", required=True, type=Path)
    parser.add_argument("--encoder-meta", type=Path, default=None, help="pretrain meta.json (for the LM record)")
    parser.add_argument("--out", required=True, type=Path, help="results folder")
    add_profile_args(parser)
    args = parser.parse_args(argv)
    profile = load_profile(args.params, args.profile)
    cfg = profile["probe"]
    torch.set_num_threads(int(profile["pretrain"].get("num_threads", 2)))
    unavailable = unavailable_reason(args.features / "features.json")
    if unavailable:
        for seed in [int(s) for s in cfg["seeds"]]:
            write_result(args.out, {
                "method": args.method, "dataset": args.dataset, "task": "classification", "head": "linear",
                "fraction": args.fraction, "seed": seed, "metric": TARGETS[args.dataset][1], "value": None,
                "status": "unavailable", "reason": unavailable, "lm": None, "profile": profile["name"],
                "data_kind": profile["data_kind"], "backend": "native", "protocol": "mgca"})
        print(f"probe {args.method} {args.dataset} {args.fraction}%: {unavailable}")
        return 0
    store = Store.open(args.store)
    feats_path = args.features / "features.npy"
    if not feats_path.is_file():
        raise DataError(feats_path, "cached features missing; run `python -m benchmark.features`")
    feats = np.load(feats_path)
    feat_info = json.loads((args.features / "features.json").read_text())
    if feat_info["store_manifest_sha256"] != store.info["manifest_sha256"]:
        raise DataError(feats_path, "features were extracted from another version of the store")
    splits = read_splits(args.splits)
    target_col, metric = TARGETS[args.dataset]
    y_all = store.manifest[target_col].astype(int).to_numpy()
    rows = {s: store.rows_for_ids(ids_for(splits, s, args.fraction)) for s in ("train", "valid", "test")}
    if len(np.unique(y_all[rows["test"]])) < 2:
        raise DataError(args.splits, "test split has a single class; AUROC is undefined")
    positives = {k: int(y_all[r].sum()) for k, r in rows.items()}
    if positives["train"] in (0, len(rows["train"])):
        print(f"probe: warning: the {args.fraction}% training set ({len(rows['train'])} images) has a single class")
    meta = json.loads(args.encoder_meta.read_text()) if args.encoder_meta else {}
    for seed in [int(s) for s in cfg["seeds"]]:
        start = time.perf_counter()
        layer, fit = fit_linear_probe(feats[rows["train"]], y_all[rows["train"]], feats[rows["valid"]],
                                      y_all[rows["valid"]], cfg, seed)
        with torch.no_grad():
            scores = layer(torch.from_numpy(feats[rows["test"]]).float()).squeeze(1).numpy()
        y_test = y_all[rows["test"]]
        value = float(roc_auc_score(y_test, scores))
        lo, hi = bootstrap_ci(roc_auc_score, y_test, scores, seed=seed)
        path = write_result(args.out, {
            "method": args.method, "dataset": args.dataset, "task": "classification", "head": "linear",
            "fraction": args.fraction, "seed": seed, "metric": metric, "value": value, "ci95": [lo, hi],
            "n": {k: int(len(v)) for k, v in rows.items()}, "positives": positives, "lm": meta.get("lm"), "arch": feat_info["encoder"]["arch"],
            "pretrain_parameters": meta.get("parameters"),
            "profile": profile["name"], "data_kind": profile["data_kind"], "backend": "native",
            "protocol": "mgca", "status": "ok", "encoder_sha256": feat_info["encoder_sha256"], **fit,
            "wall_time_s": round(time.perf_counter() - start, 3),
        })
        print(f"probe {args.method} {args.dataset} {args.fraction}% seed {seed}: {metric} {value:.4f} "
              f"[{lo:.3f}, {hi:.3f}] (epochs {fit['epochs_run']}) -> {path}")
    return 0


if __name__ == "__main__":
    run_cli(main)
