"""Linear probes on frozen features: what each dataset predicts, and the two ways to fit it.

- :class:`ProbeTarget` / :func:`probe_target`: the label columns, the kind of target and the test
  metric of each probe dataset (Table 1, from its dataset spec), and the score of the best trivial predictor.
- ``adamw``: MGCA's probe, one linear layer trained with AdamW and early stopping on the
  validation loss (:mod:`benchmark.evaluation.training`); the paper's protocol, which on small data stops
  long before convergence (the run records whether it converged).
- ``lbfgs``: logistic regression (scikit-learn, L-BFGS) on features standardised with the
  training split's statistics, its regularisation chosen on the validation split; converged
  and deterministic, for profiles whose step budget is small.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from benchmark.core.errors import DataError
from benchmark.core.numerics import dtype
from benchmark.data.datasets import DATASETS, ProbeSpec
from benchmark.evaluation.metrics import auroc
from benchmark.evaluation.training import fit_early_stopping


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


def probe_target(dataset: str) -> ProbeTarget:
    """The probe target of a dataset spec (:mod:`benchmark.data.datasets`), plug-ins included."""
    spec: ProbeSpec | None = DATASETS[dataset].probe if dataset in DATASETS else None
    if spec is None:
        raise DataError(None, f"dataset {dataset!r} has no linear-probe target (have: "
                              f"{', '.join(n for n, s in DATASETS.items() if s.probe)})")
    return ProbeTarget(spec.resolved_columns(), spec.kind, spec.metric, spec.classes)


def fit_linear_probe(x_train: np.ndarray, y_train: np.ndarray, x_valid: np.ndarray, y_valid: np.ndarray,
                     cfg: dict, seed: int, target: ProbeTarget | None = None,
                     encode: Callable[[torch.Tensor], torch.Tensor] | None = None,
                     train_encode: Callable[[torch.Tensor], torch.Tensor] | None = None) -> tuple[nn.Linear, dict]:
    """Train one linear layer (BCE, or cross-entropy for a multiclass target); early stopping
    on validation loss; returns the best weights.

    ``x_*`` are cached features. With ``encode`` they are raw inputs instead and every batch
    goes through ``encode`` each epoch: the uncached probe that ``benchmark.bench`` times
    against this one (same batches, same updates). With ``train_encode`` only ``x_train`` is raw
    (the augmented probe: each training batch is augmented and encoded anew, validation reads
    cached features). The target defaults to RSNA's (binary)."""
    target = target or probe_target("rsna")
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    multiclass = target.kind == "multiclass"
    as_target = (lambda y: torch.from_numpy(y).long()) if multiclass else \
        (lambda y: torch.from_numpy(y).to(dtype()).reshape(len(y), -1))
    if encode is not None and train_encode is not None:
        raise ValueError("encode (every input raw) and train_encode (training inputs raw) exclude each other")
    features = encode or (lambda x: x)
    train_features = train_encode or features
    xt, yt = torch.from_numpy(np.asarray(x_train)), as_target(y_train)
    xv, yv = torch.from_numpy(np.asarray(x_valid)), as_target(y_valid)
    if encode is None:
        xv = xv.to(dtype())
        if train_encode is None:
            xt = xt.to(dtype())
    layer = nn.Linear(int(train_features(xt[:1]).shape[1]), target.outputs)
    optim = torch.optim.AdamW(layer.parameters(), lr=float(cfg["lr"]), weight_decay=float(cfg["weight_decay"]))
    loss_fn = nn.CrossEntropyLoss() if multiclass else nn.BCEWithLogitsLoss()
    batch = int(cfg["batch_size"])

    def train_epoch(epoch: int) -> float:
        order, total = torch.randperm(len(xt), generator=gen), 0.0
        for s in range(0, len(xt), batch):
            idx = order[s:s + batch]
            optim.zero_grad(set_to_none=True)
            loss = loss_fn(layer(train_features(xt[idx])), yt[idx])
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
#: regularisation strengths tried when the profile names none: 10^-4 ... 10^1 (scikit-learn's C = 1 / lambda)
DEFAULT_C_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)
#: L-BFGS stopping tolerance when the profile gives none: tight, so that the C chosen on the validation
#: split does not move with the solver's own error; a profile may trade it for time (the phantom profile
#: uses scikit-learn's default 1e-4: half the probe stage, and 10 of its 90 cells pick another C, params.yaml)
DEFAULT_TOL = 1e-6
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


def _fit_logistic(z: np.ndarray, y: np.ndarray, c: float, max_iter: int, kind: str,
                  previous: list | None = None, tol: float = DEFAULT_TOL) -> tuple[list, list[int]]:
    """One model per output group at regularisation ``c``, each started from ``previous``'s
    solution when given (the C grid is walked upwards: each fit starts near its optimum, and
    the convex problem has one optimum whatever the start); the models and iteration counts."""
    import copy
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    def fit(target: np.ndarray, before):
        classes = np.unique(target)
        if len(classes) < 2:  # nothing to separate: the constant that one class implies
            value = float(classes[0])
            return (value if kind == "multiclass" else (30.0 if value > 0.5 else -30.0)), 0
        if isinstance(before, LogisticRegression):
            model = copy.deepcopy(before).set_params(C=c)
        else:
            model = LogisticRegression(C=c, solver="lbfgs", max_iter=max_iter, tol=tol, warm_start=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # recorded through n_iter_ instead
            model.fit(z, target)
        return model, int(np.max(model.n_iter_))

    groups = [y] if kind == "multiclass" else [y[:, j] for j in range(y.shape[1])]
    fitted = [fit(g, b) for g, b in zip(groups, previous or [None] * len(groups))]
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
    tol = float(cfg.get("tol", DEFAULT_TOL))
    y_train, y_valid = np.asarray(y_train), np.asarray(y_valid)
    if target.kind != "multiclass":
        y_train, y_valid = y_train.reshape(len(y_train), -1), y_valid.reshape(len(y_valid), -1)
    z = (x_train - mean) / scale
    best, scores, models = None, [], None
    for c in grid:
        models, iterations = _fit_logistic(z, y_train, c, max_iter, target.kind, models, tol)
        probe = LogisticProbe(mean, scale, models, target.outputs, target.kind)
        score = target.score(y_valid, probe.logits(x_valid))
        scores.append(score)
        if best is None or (np.isfinite(score) and (not np.isfinite(best[0]) or score > best[0])):
            best = (score, c, probe, iterations)
    score, c, probe, iterations = best
    return probe, {"solver": "lbfgs", "c": c, "c_grid": grid, "valid_scores": [float(s) for s in scores],
                   "best_valid": float(score), "valid_metric": target.metric, "max_iter": max_iter, "tol": tol,
                   "iterations": iterations, "converged": bool(max(iterations) < max_iter)}


SOLVERS = ("adamw", "lbfgs")


def fit_and_predict(solver: str, x_train: np.ndarray, y_train: np.ndarray, x_valid: np.ndarray, y_valid: np.ndarray,
                    x_test: np.ndarray, cfg: dict, seed: int, target: ProbeTarget,
                    train_encode: Callable[[torch.Tensor], torch.Tensor] | None = None) -> tuple[np.ndarray, dict]:
    """Fit the probe ``solver`` names on the training rows (selected on the validation rows);
    the test logits and how the fit went. ``train_encode``: ``x_train`` holds images that it
    augments and encodes batch by batch (AdamW only)."""
    if train_encode is not None and solver != "adamw":
        raise DataError(None, f"probe: training-time augmentation needs the adamw solver, not {solver!r}")
    if solver == "lbfgs":
        probe, fit = fit_logistic_probe(x_train, y_train, x_valid, y_valid, cfg, target)
        return probe.logits(x_test), fit
    if solver != "adamw":
        raise DataError(None, f"probe: unknown solver {solver!r} (have: {', '.join(SOLVERS)})")
    layer, fit = fit_linear_probe(x_train, y_train, x_valid, y_valid, cfg, seed, target, train_encode=train_encode)
    with torch.no_grad():
        logits = layer(torch.from_numpy(np.asarray(x_test)).to(dtype())).numpy()
    return logits, {"solver": "adamw", **fit}
