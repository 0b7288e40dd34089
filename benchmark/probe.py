"""``python -m benchmark.probe``: linear probe on cached frozen features (paper protocol).

One linear layer on the pooled feature; AdamW (lr 5e-4, wd 1e-6), batch 48, up to
50 epochs, early stopping on validation loss (patience 10), best-validation weights
restored. Targets and metrics as in the paper's Table 1: RSNA pneumonia (binary, AUROC),
CheXpert's five competition labels (multi-label, BCE, mean AUROC over the labels) and
COVIDx normal / pneumonia / COVID-19 (three classes, cross-entropy, accuracy), each
with a bootstrap 95 % interval. One process per method runs every dataset x fraction x
seed (a process start costs seconds of imports; the probe itself milliseconds) and
writes one result JSON per run, plus the latent-space geometry of the encoder's pooled
test features per dataset (:mod:`benchmark.geometry`), into a temporary folder that
replaces ``--out`` as a whole at the end (:func:`benchmark.downstream.results_folder`).
The cached features are checked before use (:func:`benchmark.features.load_features`):
complete, from this store, and, with ``--encoder-meta``, from that encoder.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from benchmark.config import add_profile_args, load_profile
from benchmark.downstream import result_record, results_folder, split_rows, write_unavailable
from benchmark.encoders import ENCODER_FILE
from benchmark.errors import DataError, read_json_object, run_cli
from benchmark.features import load_features, unavailable_reason
from benchmark.geometry import feature_geometry, write_geometry
from benchmark.metrics import auroc
from benchmark.readers.chexpert import COMPETITION_LABELS
from benchmark.results import bootstrap_ci, write_result
from benchmark.store import Store, sha256_file


@dataclass(frozen=True)
class ProbeTarget:
    """What the probe predicts for a dataset: label columns of the store manifest, how they
    are read (binary, multilabel: one output per column; multiclass: one integer column
    with ``classes`` values) and the test metric."""

    columns: tuple[str, ...]
    kind: str  # binary | multilabel | multiclass
    metric: str  # auroc | accuracy
    classes: int = 1

    @property
    def outputs(self) -> int:
        return self.classes if self.kind == "multiclass" else len(self.columns)

    def labels(self, manifest) -> np.ndarray:
        """(N,) int for multiclass, else (N, outputs) float 0/1."""
        if self.kind == "multiclass":
            return manifest[self.columns[0]].astype(int).to_numpy()
        return manifest[list(self.columns)].astype(float).to_numpy().reshape(len(manifest), -1)

    def score(self, y_true: np.ndarray, logits: np.ndarray) -> float:
        """AUROC (mean over labels that have both classes in ``y_true``; NaN if none) or accuracy."""
        if self.metric == "accuracy":
            return float((logits.argmax(1) == y_true).mean())
        aucs = [auroc(y_true[:, j], logits[:, j]) for j in range(y_true.shape[1]) if len(np.unique(y_true[:, j])) == 2]
        return float(np.mean(aucs)) if aucs else float("nan")

    def scored_labels(self, y_true: np.ndarray) -> list[str]:
        """The label columns the test metric covers (AUROC needs both classes)."""
        if self.metric == "accuracy":
            return list(self.columns)
        return [c for j, c in enumerate(self.columns) if len(np.unique(y_true[:, j])) == 2]


TARGETS = {
    "rsna": ProbeTarget(("target",), "binary", "auroc"),
    "chexpert": ProbeTarget(COMPETITION_LABELS, "multilabel", "auroc"),
    "covidx": ProbeTarget(("target",), "multiclass", "accuracy", classes=3),  # normal 0, pneumonia 1, COVID-19 2
}


def fit_linear_probe(x_train: np.ndarray, y_train: np.ndarray, x_valid: np.ndarray, y_valid: np.ndarray,
                     cfg: dict, seed: int, target: ProbeTarget = TARGETS["rsna"],
                     encode: Callable[[torch.Tensor], torch.Tensor] | None = None) -> tuple[nn.Linear, dict]:
    """Train one linear layer (BCE, or cross-entropy for a multiclass target); early stopping
    on validation loss; returns the best weights.

    ``x_*`` are cached features. With ``encode`` they are raw inputs instead and every batch
    goes through ``encode`` each epoch: the uncached probe that ``benchmark.bench`` times
    against this one (same batches, same updates)."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    multiclass = target.kind == "multiclass"
    as_target = (lambda y: torch.from_numpy(y).long()) if multiclass else \
        (lambda y: torch.from_numpy(y).float().reshape(len(y), -1))
    features = encode or (lambda x: x)
    xt, yt = torch.from_numpy(np.asarray(x_train)), as_target(y_train)
    xv, yv = torch.from_numpy(np.asarray(x_valid)), as_target(y_valid)
    if encode is None:
        xt, xv = xt.float(), xv.float()
    layer = nn.Linear(int(features(xt[:1]).shape[1]), target.outputs)
    optim = torch.optim.AdamW(layer.parameters(), lr=float(cfg["lr"]), weight_decay=float(cfg["weight_decay"]))
    loss_fn = nn.CrossEntropyLoss() if multiclass else nn.BCEWithLogitsLoss()
    batch, patience = int(cfg["batch_size"]), int(cfg["patience"])
    best, best_state, best_epoch, stale, epoch = float("inf"), None, 0, 0, 0
    for epoch in range(1, int(cfg["max_epochs"]) + 1):
        order = torch.randperm(len(xt), generator=gen)
        for s in range(0, len(xt), batch):
            idx = order[s:s + batch]
            optim.zero_grad(set_to_none=True)
            loss_fn(layer(features(xt[idx])), yt[idx]).backward()
            optim.step()
        with torch.no_grad():
            valid_loss = float(loss_fn(layer(features(xv)), yv))
        if valid_loss < best:
            best, best_epoch, stale = valid_loss, epoch, 0
            best_state = {k: v.clone() for k, v in layer.state_dict().items()}
        else:
            stale += 1
            if stale >= patience:
                break
    layer.load_state_dict(best_state)
    return layer, {"epochs_run": epoch, "best_epoch": best_epoch, "best_valid_loss": best}


def read_encoder_meta(path: Path | None) -> dict:
    """The pre-training ``meta.json`` (for the LM record and to check the features' encoder), or {}."""
    if path is None:
        return {}
    if not path.is_file():
        raise DataError(path, "encoder meta.json not found")
    return read_json_object(path, "encoder meta.json")


def probe_dataset(args: argparse.Namespace, profile: dict, dataset: str, fractions: list[int], seeds: list[int],
                  meta: dict, encoder_sha256: str | None, out: Path) -> None:
    """Every fraction x seed of one dataset; results into ``out``."""
    cfg = profile["probe"]
    target = TARGETS[dataset]
    common = {"method": args.method, "task": "classification", "head": "linear", "metric": target.metric,
              "profile": profile, "protocol": args.protocol}
    features = args.features / dataset
    unavailable = unavailable_reason(features / "features.json")
    if unavailable:
        write_unavailable(out, common, [dataset], fractions, seeds, unavailable)
        return
    store = Store.open(args.stores / dataset)
    feats, feat_info = load_features(features, store, int(cfg["input_size"]), encoder_sha256, meta)
    splits_path = args.splits / dataset / f"{args.protocol}.csv"
    missing = [c for c in target.columns if c not in store.manifest]
    if missing:
        raise DataError(store.path / "manifest.csv", f"no label column(s) {missing} for the {dataset} probe")
    y_all = target.labels(store.manifest)
    encoder_fields = {"lm": meta.get("lm"), "arch": feat_info["arch"],
                      "pretrain_parameters": meta.get("parameters"), "encoder_sha256": feat_info["encoder_sha256"]}
    test_rows = split_rows(store, splits_path, 100)["test"]
    geometry = feature_geometry(feats[test_rows])
    write_geometry(out, {"method": args.method, "dataset": dataset, "protocol": args.protocol,
                         "profile": profile["name"], "data_kind": profile["data_kind"], "split": "test",
                         **encoder_fields, **geometry})
    print(f"probe {args.method} {dataset}: effective rank {geometry['effective_rank']:.1f} of {geometry['dim']}, "
          f"top 1% of dimensions hold {100 * geometry['top1pct_variance_share']:.1f}% of the variance")
    for fraction in fractions:
        rows = split_rows(store, splits_path, fraction)
        scored = target.scored_labels(y_all[rows["test"]])
        if not scored:
            raise DataError(splits_path, f"no {dataset} label has both classes in the test split; AUROC is undefined")
        class_counts = {k: np.bincount(y_all[r], minlength=target.classes).tolist() if target.kind == "multiclass"
                        else y_all[r].sum(0).astype(int).tolist() for k, r in rows.items()}
        for seed in seeds:
            start = time.perf_counter()
            layer, fit = fit_linear_probe(feats[rows["train"]], y_all[rows["train"]], feats[rows["valid"]],
                                          y_all[rows["valid"]], cfg, seed, target)
            with torch.no_grad():
                logits = layer(torch.from_numpy(feats[rows["test"]]).float()).numpy()
            y_test = y_all[rows["test"]]
            value = target.score(y_test, logits)
            lo, hi = bootstrap_ci(target.score, y_test, logits, n=int(cfg.get("bootstrap", 1000)), seed=seed)
            path = write_result(out, result_record(
                **common, dataset=dataset, fraction=fraction, seed=seed, value=value, ci95=[lo, hi], status="ok",
                n={k: int(len(v)) for k, v in rows.items()}, labels=list(target.columns), scored_labels=scored,
                positives=class_counts, **encoder_fields, **fit, wall_time_s=round(time.perf_counter() - start, 3)))
            print(f"probe {args.method} {dataset} {fraction}% seed {seed}: {target.metric} {value:.4f} "
                  f"[{lo:.3f}, {hi:.3f}] (epochs {fit['epochs_run']}) -> {args.out / path.name}")


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
    parser.add_argument("--encoder-meta", type=Path, default=None, help="pretrain meta.json (for the LM record; the features must come from the "
                        "encoder.safetensors beside it)")
    parser.add_argument("--out", required=True, type=Path, help="results folder")
    add_profile_args(parser)
    args = parser.parse_args(argv)
    profile = load_profile(args.params, args.profile)
    cfg = profile["probe"]
    fractions = args.fractions or [int(f) for f in cfg["fractions"]]
    seeds = [int(s) for s in cfg["seeds"]]
    torch.set_num_threads(int(profile["pretrain"].get("num_threads", 2)))
    meta = read_encoder_meta(args.encoder_meta)
    encoder_file = args.encoder_meta.parent / ENCODER_FILE if args.encoder_meta else None
    encoder_sha256 = sha256_file(encoder_file) if encoder_file is not None and encoder_file.is_file() else None
    with results_folder(args.out) as out:  # every result of this invocation, renamed into place together
        for dataset in args.datasets:
            probe_dataset(args, profile, dataset, fractions, seeds, meta, encoder_sha256, out)
    return 0


if __name__ == "__main__":
    run_cli(main)
