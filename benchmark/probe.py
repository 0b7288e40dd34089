"""``python -m benchmark.probe``: linear probe on cached frozen features (paper protocol).

One linear layer on the pooled feature; AdamW (lr 5e-4, wd 1e-6), batch 48, up to
50 epochs, early stopping on validation loss (patience 10), best-validation weights
restored; test AUROC with a bootstrap 95 % interval. One process per method runs every
dataset x fraction x seed (a process start costs seconds of imports; the probe itself
milliseconds) and writes one result JSON per run.
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
from benchmark.downstream import result_record, split_rows
from benchmark.errors import DataError, run_cli
from benchmark.features import unavailable_reason
from benchmark.results import bootstrap_ci, write_result
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
    parser.add_argument("--datasets", required=True, nargs="+", choices=sorted(TARGETS))
    parser.add_argument("--fractions", nargs="+", type=int, choices=(1, 10, 100),
                        help="training fractions in %% (default: the profile's)")
    parser.add_argument("--features", required=True, type=Path,
                        help="folder of feature folders written by benchmark.features (FEATURES/<dataset>)")
    parser.add_argument("--stores", required=True, type=Path, help="folder of stores (STORES/<dataset>)")
    parser.add_argument("--splits", required=True, type=Path, help="folder of split manifests (SPLITS/<dataset>/<protocol>.csv)")
    parser.add_argument("--protocol", default="mgca", help="split manifest to use (default: mgca)")
    parser.add_argument("--encoder-meta", type=Path, default=None, help="pretrain meta.json (for the LM record)")
    parser.add_argument("--out", required=True, type=Path, help="results folder")
    add_profile_args(parser)
    args = parser.parse_args(argv)
    profile = load_profile(args.params, args.profile)
    cfg = profile["probe"]
    fractions = args.fractions or [int(f) for f in cfg["fractions"]]
    seeds = [int(s) for s in cfg["seeds"]]
    torch.set_num_threads(int(profile["pretrain"].get("num_threads", 2)))
    meta = json.loads(args.encoder_meta.read_text()) if args.encoder_meta else {}
    for dataset in args.datasets:
        target_col, metric = TARGETS[dataset]
        common = {"method": args.method, "dataset": dataset, "task": "classification", "head": "linear",
                  "metric": metric, "profile": profile, "protocol": args.protocol}
        features = args.features / dataset
        unavailable = unavailable_reason(features / "features.json")
        if unavailable:
            for fraction in fractions:
                for seed in seeds:
                    write_result(args.out, result_record(**common, fraction=fraction, seed=seed, value=None,
                                                         status="unavailable", reason=unavailable, lm=None))
            print(f"probe {args.method} {dataset}: {unavailable}")
            continue
        store = Store.open(args.stores / dataset)
        feats_path = features / "features.npy"
        if not feats_path.is_file():
            raise DataError(feats_path, "cached features missing; run `python -m benchmark.features`")
        feats = np.load(feats_path)
        feat_info = json.loads((features / "features.json").read_text())
        if feat_info["store_manifest_sha256"] != store.info["manifest_sha256"]:
            raise DataError(feats_path, "features were extracted from another version of the store")
        splits_path = args.splits / dataset / f"{args.protocol}.csv"
        y_all = store.manifest[target_col].astype(int).to_numpy()
        for fraction in fractions:
            rows = split_rows(store, splits_path, fraction)
            if len(np.unique(y_all[rows["test"]])) < 2:
                raise DataError(splits_path, "test split has a single class; AUROC is undefined")
            positives = {k: int(y_all[r].sum()) for k, r in rows.items()}
            if positives["train"] in (0, len(rows["train"])):
                print(f"probe: warning: the {fraction}% training set ({len(rows['train'])} images) has a single class")
            for seed in seeds:
                start = time.perf_counter()
                layer, fit = fit_linear_probe(feats[rows["train"]], y_all[rows["train"]], feats[rows["valid"]],
                                              y_all[rows["valid"]], cfg, seed)
                with torch.no_grad():
                    scores = layer(torch.from_numpy(feats[rows["test"]]).float()).squeeze(1).numpy()
                y_test = y_all[rows["test"]]
                value = float(roc_auc_score(y_test, scores))
                lo, hi = bootstrap_ci(roc_auc_score, y_test, scores, seed=seed)
                path = write_result(args.out, result_record(
                    **common, fraction=fraction, seed=seed, value=value, ci95=[lo, hi], status="ok",
                    n={k: int(len(v)) for k, v in rows.items()}, positives=positives, lm=meta.get("lm"),
                    arch=feat_info["encoder"]["arch"], pretrain_parameters=meta.get("parameters"),
                    encoder_sha256=feat_info["encoder_sha256"], **fit, wall_time_s=round(time.perf_counter() - start, 3)))
                print(f"probe {args.method} {dataset} {fraction}% seed {seed}: {metric} {value:.4f} "
                      f"[{lo:.3f}, {hi:.3f}] (epochs {fit['epochs_run']}) -> {path}")
    return 0


if __name__ == "__main__":
    run_cli(main)
