"""``python -m benchmark.probe``: linear probe on cached frozen features (paper protocol).

One linear layer on the pooled feature; AdamW (lr 5e-4, wd 1e-6), batch 48, up to
50 epochs, early stopping on validation loss (patience 10), best-validation weights
restored. Targets and metrics as in the paper's Table 1: RSNA pneumonia (binary, AUROC),
CheXpert's five competition labels (multi-label, BCE, mean AUROC over the labels) and
COVIDx normal / pneumonia / COVID-19 (three classes, cross-entropy, accuracy), each
with a bootstrap 95 % interval. One process per method runs every dataset x fraction x
seed (a process start costs seconds of imports; the probe itself milliseconds) and
writes one result JSON per run, plus the latent-space geometry of the encoder's pooled
test features per dataset (:mod:`benchmark.evaluation.geometry`), into a temporary folder that
replaces ``--out`` as a whole at the end (:func:`benchmark.evaluation.downstream.results_folder`).
The cached features are checked before use (:func:`benchmark.evaluation.features.load_features`):
complete, from this store, and, with ``--encoder-meta``, from that encoder.

``probe.train_augment: mgca`` (the ``paper`` profile) trains as MGCA's fine-tuner does: each
training batch is a random 224 crop of the 256-px image (CheXpert also with MGCA's colour
jitter, blur and flip, :func:`benchmark.data.transforms.probe_train_input`) encoded anew by the
encoder beside ``--encoder-meta``; validation and test read the cached centre-crop features.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from benchmark.core.config import load_profile
from benchmark.core.errors import DataError, read_json_object
from benchmark.core.numerics import configure
from benchmark.data.store import Store, sha256_file
from benchmark.data.transforms import probe_train_input
from benchmark.evaluation.downstream import result_record, results_folder, shuffled, split_rows, write_unavailable
from benchmark.evaluation.features import load_features, unavailable_reason
from benchmark.evaluation.geometry import feature_geometry
from benchmark.evaluation.linear_probe import PROBE_HEADS, fit_and_predict, probe_target
from benchmark.evaluation.training import RunProgress, not_converged_mark
from benchmark.pretraining.encoders import ENCODER_FILE, load_encoder
from benchmark.reporting.results import bootstrap_ci, write_geometry, write_result


def read_encoder_meta(path: Path | None) -> dict:
    """The pre-training ``meta.json`` (for the LM record and to check the features' encoder), or {}."""
    if path is None:
        return {}
    if not path.is_file():
        raise DataError(path, "encoder meta.json not found")
    return read_json_object(path, "encoder meta.json")


#: datasets whose training images MGCA also colour-jitters, blurs and flips (Moco2Transform in
#: mgca/models/mgca/mgca_finetuner.py; the others get DataTransforms' random crop only)
JITTERED = ("chexpert",)


def load_augment_encoder(encoder_meta: Path | None):
    """The frozen encoder beside ``--encoder-meta``, which the augmented probe runs on its training batches."""
    path = encoder_meta.parent / ENCODER_FILE if encoder_meta is not None else None
    if path is None or not path.is_file():
        raise DataError(path or encoder_meta, "probe.train_augment needs the encoder beside --encoder-meta "
                        "(training batches are encoded anew)")
    encoder, _ = load_encoder(path.parent)
    return encoder.eval().requires_grad_(False)


def augmented_encoder(encoder, size: int, dataset: str, seed: int, device=None):
    """The training-batch encoder of the augmented probe: uint8 images -> pooled features of
    MGCA's training crops, drawn from a generator seeded with ``seed``. The encoder runs on
    ``device`` (a GPU when there is one: it is nearly all of the probe's work); the crops are drawn
    on the CPU and the features come back to it, where the linear layer trains."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")  # as feature extraction
    encoder.to(device)

    @torch.no_grad()
    def encode(batch_uint8: torch.Tensor) -> torch.Tensor:
        x = probe_train_input(batch_uint8, size, gen, jitter=dataset in JITTERED)
        return encoder(x.to(device)).pooled.to("cpu", torch.get_default_dtype())

    return encode


def probe_dataset(args: argparse.Namespace, profile: dict, dataset: str, fractions: list[int], seeds: list[int],
                  meta: dict, encoder_sha256: str | None, out: Path, progress: RunProgress | None = None) -> None:
    """Every fraction x seed of one dataset; results into ``out``."""
    cfg = profile["probe"]
    target = probe_target(dataset)
    common = {"method": args.method, "task": "classification", "head": PROBE_HEADS.get(str(cfg.get("solver", "adamw")), "linear"),
              "metric": target.metric,
              "profile": profile, "protocol": args.protocol}
    features = args.features / dataset
    unavailable = unavailable_reason(features / "features.json", "feature description")
    if unavailable:
        write_unavailable(out, common, [dataset], fractions, seeds, unavailable)
        return
    store = Store.open(args.stores / dataset)
    feats, feat_info = load_features(features, store, int(cfg["input_size"]), encoder_sha256, meta,
                                     str(cfg.get("eval_crop", "resize")))
    splits_path = args.splits / dataset / f"{args.protocol}.csv"
    missing = [c for c in target.columns if c not in store.manifest]
    if missing:
        raise DataError(store.path / "manifest.csv", f"no label column(s) {missing} for the {dataset} probe")
    y_all = target.labels(store.manifest)
    encoder_fields = {"lm": meta.get("lm"), "arch": feat_info["arch"], "control": meta.get("control"),
                      "title": meta.get("title"),
                      "pretrain_parameters": meta.get("parameters"), "encoder_sha256": feat_info["encoder_sha256"]}
    test_rows = split_rows(store, splits_path, 100)["test"]
    geometry = feature_geometry(feats[test_rows])
    write_geometry(out, {"method": args.method, "dataset": dataset, "protocol": args.protocol,
                         "profile": profile["name"], "data_kind": profile["data_kind"], "split": "test",
                         **encoder_fields, **geometry})
    print(f"probe {args.method} {dataset}: effective rank {geometry['effective_rank']:.1f} of {geometry['dim']}, "
          f"top 1% of dimensions hold {100 * geometry['top1pct_variance_share']:.1f}% of the variance")
    solver = str(cfg.get("solver", "adamw"))
    augment = str(cfg.get("train_augment", "none"))
    encoder = load_augment_encoder(args.encoder_meta) if augment != "none" else None  # once for all runs
    shuffle = bool(meta.get("shuffle_labels"))  # the negative control: its training labels carry no signal
    # the L-BFGS probe has no randomness: one run stands for every seed (unless labels are shuffled per seed)
    run_seeds = seeds if solver == "adamw" or shuffle else seeds[:1]
    for fraction in fractions:
        rows = split_rows(store, splits_path, fraction)
        y_test = y_all[rows["test"]]
        scored = target.scored_labels(y_test)
        if not scored:
            raise DataError(splits_path, f"no {dataset} label has both classes in the test split; AUROC is undefined")
        class_counts = {k: np.bincount(y_all[r], minlength=target.classes).tolist() if target.kind == "multiclass"
                        else y_all[r].sum(0).astype(int).tolist() for k, r in rows.items()}
        floor, floor_predictor = target.floor(y_test)
        for seed in run_seeds:
            start = time.perf_counter()
            y_train, y_valid = y_all[rows["train"]], y_all[rows["valid"]]
            if shuffle:
                y_train, y_valid = shuffled(y_train, seed, "train"), shuffled(y_valid, seed, "valid")
            x_train, train_encode = feats[rows["train"]], None
            if augment != "none":
                x_train = store.images[rows["train"]]
                train_encode = augmented_encoder(encoder, int(cfg["input_size"]), dataset, seed)
            logits, fit = fit_and_predict(solver, x_train, y_train, feats[rows["valid"]], y_valid,
                                          feats[rows["test"]], cfg, seed, target, train_encode)
            value = target.score(y_test, logits)
            lo, hi = bootstrap_ci(target.score, y_test, logits, n=int(cfg.get("bootstrap", 1000)), seed=seed)
            path = write_result(out, result_record(
                **common, dataset=dataset, fraction=fraction, seed=seed, value=value, ci95=[lo, hi], status="ok",
                floor=floor, floor_predictor=floor_predictor, labels_shuffled=shuffle,
                n={k: int(len(v)) for k, v in rows.items()}, labels=list(target.columns), scored_labels=scored,
                positives=class_counts, **encoder_fields, **fit, train_augment=augment,
                wall_time_s=round(time.perf_counter() - start, 3)))
            how = f"C {fit['c']:g}" if solver == "lbfgs" else f"epochs {fit['epochs_run']}"
            print(f"probe {args.method} {dataset} {fraction}% seed {seed}: {target.metric} {value:.4f} "
                  f"[{lo:.3f}, {hi:.3f}] (floor {floor:.3f}; {solver}, {how}"
                  f"{not_converged_mark(fit)}) -> {args.out / path.name}"
                  + (f" {progress.step()}" if progress else ""))


def run(args: argparse.Namespace) -> int:
    """What ``python -m benchmark.probe`` does with its parsed arguments."""
    profile = load_profile(args.params, args.profile)
    cfg = profile["probe"]
    fractions = args.fractions or [int(f) for f in cfg["fractions"]]
    seeds = [int(s) for s in cfg["seeds"]]
    configure(profile)
    meta = read_encoder_meta(args.encoder_meta)
    encoder_file = args.encoder_meta.parent / ENCODER_FILE if args.encoder_meta else None
    encoder_sha256 = sha256_file(encoder_file) if encoder_file is not None and encoder_file.is_file() else None
    inputs = (args.features, args.stores, args.splits, args.encoder_meta)
    with results_folder(args.out, inputs) as out:  # every result of this invocation, renamed into place together
        solver = str(cfg.get("solver", "adamw"))
        per_cell = len(seeds) if solver == "adamw" or meta.get("shuffle_labels") else 1
        progress = RunProgress(len(args.datasets) * len(fractions) * per_cell)
        for dataset in args.datasets:
            probe_dataset(args, profile, dataset, fractions, seeds, meta, encoder_sha256, out, progress)
    return 0
