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
from benchmark.downstream import result_record, results_folder, shuffled, split_rows, write_unavailable
from benchmark.encoders import ENCODER_FILE
from benchmark.errors import DataError, read_json_object, run_cli
from benchmark.features import load_features, unavailable_reason
from benchmark.geometry import feature_geometry, write_geometry
from benchmark.metrics import auroc
from benchmark.numerics import configure, dtype
from benchmark.readers.chexpert import COMPETITION_LABELS
from benchmark.results import bootstrap_ci, write_result
from benchmark.store import Store, sha256_file
from benchmark.training import fit_early_stopping


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

    def floor(self, y_true: np.ndarray) -> tuple[float, str]:
        """The score of the best constant predictor on ``y_true`` and its name: the majority
        class for accuracy, a constant score (AUROC 0.5, ties averaged) for AUROC."""
        if self.kind == "multiclass":
            scores = [self.score(y_true, np.eye(self.classes)[np.full(len(y_true), k)]) for k in range(self.classes)]
            k = int(np.argmax(scores))
            return scores[k], f"always class {k}"
        return self.score(y_true, np.zeros(y_true.shape)), "constant score"

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
        (lambda y: torch.from_numpy(y).to(dtype()).reshape(len(y), -1))
    features = encode or (lambda x: x)
    xt, yt = torch.from_numpy(np.asarray(x_train)), as_target(y_train)
    xv, yv = torch.from_numpy(np.asarray(x_valid)), as_target(y_valid)
    if encode is None:
        xt, xv = xt.to(dtype()), xv.to(dtype())
    layer = nn.Linear(int(features(xt[:1]).shape[1]), target.outputs)
    optim = torch.optim.AdamW(layer.parameters(), lr=float(cfg["lr"]), weight_decay=float(cfg["weight_decay"]))
    loss_fn = nn.CrossEntropyLoss() if multiclass else nn.BCEWithLogitsLoss()
    batch = int(cfg["batch_size"])

    def train_epoch(epoch: int) -> float:
        order, total = torch.randperm(len(xt), generator=gen), 0.0
        for s in range(0, len(xt), batch):
            idx = order[s:s + batch]
            optim.zero_grad(set_to_none=True)
            loss = loss_fn(layer(features(xt[idx])), yt[idx])
            loss.backward()
            optim.step()
            total += float(loss.detach()) * len(idx)
        return total / len(xt)

    @torch.no_grad()
    def validate() -> float:
        return float(loss_fn(layer(features(xv)), yv))

    fit = fit_early_stopping(layer, train_epoch, validate, max_epochs=int(cfg["max_epochs"]), patience=int(cfg["patience"]),
                             where="linear probe")
    return layer, fit.record()


#: the result's ``head`` for each probe solver: the AdamW linear layer (MGCA's probe) and the converged
#: L-BFGS logistic regression on standardised features
PROBE_HEADS = {"adamw": "linear", "lbfgs": "logistic"}
#: regularisation strengths tried when the profile names none: 10^-4 ... 10^2 (scikit-learn's C = 1 / lambda)
DEFAULT_C_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)
#: logit of a class the training fraction never shows (it can never be predicted)
ABSENT_CLASS_LOGIT = -1e30


@dataclass
class LogisticProbe:
    """Logistic regression on standardised features: the converged probe.

    The features are centred and scaled with the training split's mean and standard
    deviation (a dimension constant on the training split is only centred). Binary and
    multi-label targets get one scikit-learn ``LogisticRegression`` per label, multiclass
    targets one multinomial model; a label with one class in the training rows gets that
    class's constant log-odds instead of a model."""

    mean: np.ndarray
    scale: np.ndarray
    models: list  # per output group: a fitted LogisticRegression, or a float (constant logit)
    outputs: int
    kind: str

    def standardise(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, dtype=np.float64) - self.mean) / self.scale

    def logits(self, x: np.ndarray) -> np.ndarray:
        z = self.standardise(x)
        if self.kind == "multiclass":
            model = self.models[0]
            out = np.full((len(z), self.outputs), ABSENT_CLASS_LOGIT)
            if isinstance(model, float):  # one class seen in training: always that class
                out[:, int(model)] = 0.0
                return out
            scores = model.decision_function(z)
            if scores.ndim == 1:  # two classes seen: scikit-learn returns the log-odds of the second
                scores = np.stack([-scores / 2, scores / 2], 1)
            out[:, model.classes_.astype(int)] = scores
            return out
        return np.stack([np.full(len(z), m) if isinstance(m, float) else m.decision_function(z) for m in self.models], 1)


def _fit_logistic(z: np.ndarray, y: np.ndarray, c: float, max_iter: int, kind: str) -> tuple[list, list[int]]:
    """One model per output group at regularisation ``c``; returns the models and their iteration counts."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    def fit(target: np.ndarray):
        classes = np.unique(target)
        if len(classes) < 2:  # nothing to separate: the constant that one class implies
            value = float(classes[0])
            return (value if kind == "multiclass" else (30.0 if value > 0.5 else -30.0)), 0
        model = LogisticRegression(C=c, solver="lbfgs", max_iter=max_iter, tol=1e-6)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # recorded through n_iter_ instead
            model.fit(z, target)
        return model, int(np.max(model.n_iter_))

    groups = [y] if kind == "multiclass" else [y[:, j] for j in range(y.shape[1])]
    fitted = [fit(g) for g in groups]
    return [m for m, _ in fitted], [n for _, n in fitted]


def fit_logistic_probe(x_train: np.ndarray, y_train: np.ndarray, x_valid: np.ndarray, y_valid: np.ndarray,
                       cfg: dict, target: "ProbeTarget") -> tuple[LogisticProbe, dict]:
    """L-BFGS logistic regression on standardised features, its regularisation chosen on the
    validation split: every C of ``cfg["c_grid"]`` is fitted to convergence and the one with
    the best validation metric is kept (ties: the stronger regularisation, i.e. the smaller C).
    Deterministic: no seed changes the result."""
    x_train = np.asarray(x_train, dtype=np.float64)
    mean = x_train.mean(0)
    scale = x_train.std(0)
    scale[scale < 1e-12] = 1.0
    grid = sorted(float(c) for c in cfg.get("c_grid", DEFAULT_C_GRID))
    max_iter = int(cfg.get("max_iter", 1000))
    y_train, y_valid = np.asarray(y_train), np.asarray(y_valid)
    if target.kind != "multiclass":
        y_train, y_valid = y_train.reshape(len(y_train), -1), y_valid.reshape(len(y_valid), -1)
    z = (x_train - mean) / scale
    best, scores = None, []
    for c in grid:
        models, iterations = _fit_logistic(z, y_train, c, max_iter, target.kind)
        probe = LogisticProbe(mean, scale, models, target.outputs, target.kind)
        score = target.score(y_valid, probe.logits(x_valid))
        scores.append(score)
        if best is None or (np.isfinite(score) and (not np.isfinite(best[0]) or score > best[0])):
            best = (score, c, probe, iterations)
    score, c, probe, iterations = best
    return probe, {"solver": "lbfgs", "c": c, "c_grid": grid, "valid_scores": [float(s) for s in scores],
                   "best_valid": float(score), "valid_metric": target.metric, "max_iter": max_iter,
                   "iterations": iterations, "converged": bool(max(iterations) < max_iter)}


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
    common = {"method": args.method, "task": "classification", "head": PROBE_HEADS.get(str(cfg.get("solver", "adamw")), "linear"),
              "metric": target.metric,
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
    encoder_fields = {"lm": meta.get("lm"), "arch": feat_info["arch"], "control": meta.get("control"),
                      "pretrain_parameters": meta.get("parameters"), "encoder_sha256": feat_info["encoder_sha256"]}
    test_rows = split_rows(store, splits_path, 100)["test"]
    geometry = feature_geometry(feats[test_rows])
    write_geometry(out, {"method": args.method, "dataset": dataset, "protocol": args.protocol,
                         "profile": profile["name"], "data_kind": profile["data_kind"], "split": "test",
                         **encoder_fields, **geometry})
    print(f"probe {args.method} {dataset}: effective rank {geometry['effective_rank']:.1f} of {geometry['dim']}, "
          f"top 1% of dimensions hold {100 * geometry['top1pct_variance_share']:.1f}% of the variance")
    solver = str(cfg.get("solver", "adamw"))
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
            logits, fit = fit_and_predict(solver, feats[rows["train"]], y_train, feats[rows["valid"]], y_valid,
                                          feats[rows["test"]], cfg, seed, target)
            value = target.score(y_test, logits)
            lo, hi = bootstrap_ci(target.score, y_test, logits, n=int(cfg.get("bootstrap", 1000)), seed=seed)
            path = write_result(out, result_record(
                **common, dataset=dataset, fraction=fraction, seed=seed, value=value, ci95=[lo, hi], status="ok",
                floor=floor, floor_predictor=floor_predictor, labels_shuffled=shuffle,
                n={k: int(len(v)) for k, v in rows.items()}, labels=list(target.columns), scored_labels=scored,
                positives=class_counts, **encoder_fields, **fit, wall_time_s=round(time.perf_counter() - start, 3)))
            how = f"C {fit['c']:g}" if solver == "lbfgs" else f"epochs {fit['epochs_run']}"
            print(f"probe {args.method} {dataset} {fraction}% seed {seed}: {target.metric} {value:.4f} "
                  f"[{lo:.3f}, {hi:.3f}] (floor {floor:.3f}; {solver}, {how}"
                  f"{'' if fit['converged'] else ', NOT CONVERGED'}) -> {args.out / path.name}")


SOLVERS = ("adamw", "lbfgs")


def fit_and_predict(solver: str, x_train: np.ndarray, y_train: np.ndarray, x_valid: np.ndarray, y_valid: np.ndarray,
                    x_test: np.ndarray, cfg: dict, seed: int, target: ProbeTarget) -> tuple[np.ndarray, dict]:
    """Fit the probe ``solver`` names on the training rows (selected on the validation rows);
    the test logits and how the fit went."""
    if solver == "lbfgs":
        probe, fit = fit_logistic_probe(x_train, y_train, x_valid, y_valid, cfg, target)
        return probe.logits(x_test), fit
    if solver != "adamw":
        raise DataError(None, f"probe: unknown solver {solver!r} (have: {', '.join(SOLVERS)})")
    layer, fit = fit_linear_probe(x_train, y_train, x_valid, y_valid, cfg, seed, target)
    with torch.no_grad():
        logits = layer(torch.from_numpy(np.asarray(x_test)).to(dtype())).numpy()
    return logits, {"solver": "adamw", **fit}


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
    configure(profile)
    meta = read_encoder_meta(args.encoder_meta)
    encoder_file = args.encoder_meta.parent / ENCODER_FILE if args.encoder_meta else None
    encoder_sha256 = sha256_file(encoder_file) if encoder_file is not None and encoder_file.is_file() else None
    with results_folder(args.out) as out:  # every result of this invocation, renamed into place together
        for dataset in args.datasets:
            probe_dataset(args, profile, dataset, fractions, seeds, meta, encoder_sha256, out)
    return 0


if __name__ == "__main__":
    run_cli(main)
