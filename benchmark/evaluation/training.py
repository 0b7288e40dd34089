"""The one early-stopping loop of the linear probe and the heads, and what "converged" means.

Every downstream model trains epoch by epoch, is scored on the validation split after each
epoch, and is evaluated with the weights of its best validation epoch. Whether a number can
be trusted depends on how that loop ended, so the loop records it:

- ``stop = "patience"``: ``patience`` epochs in a row did not beat the best validation
  score; the validation curve is flat at the end, so the run **converged**.
- ``stop = "max_epochs"``: the epoch limit came first; the best epoch may still be moving
  and the run did **not converge** (the report marks such cells).

Patience starts counting only once the validation score has left its first epoch's value: a
detection head whose validation mAP is still 0 has not started, and five flat epochs of it are
not a plateau (in the 7c4893a default run seven detection runs ended so, M-FLAG's RSNA 100 %
among them, at mAP 0 and recorded as converged). A run whose score never moves goes to its
epoch limit and is recorded with ``valid_moved = False``: not converged, a head that never learnt.

A run whose loss or validation score is never finite has no best weights to restore; that
is an error naming where to look (usually the learning rate), raised before anything is
written, never a ``TypeError`` after the work is spent.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from benchmark.core.errors import DataError


@dataclass
class Fit:
    """How one early-stopped training run went (stored in its result JSON)."""

    epochs_run: int
    best_epoch: int
    best_valid: float  # the best validation score (a loss when ``mode == "min"``)
    valid_metric: str  # what ``best_valid`` measures, e.g. "loss" or "map"
    stop: str  # "patience" | "max_epochs"
    max_epochs: int
    patience: int
    history: list[dict] = field(default_factory=list)  # per epoch: epoch, train_loss, valid
    valid_moved: bool = True  # some epoch's validation score differed from the first epoch's

    @property
    def converged(self) -> bool:
        return self.stop == "patience"

    def record(self) -> dict:
        """The fields a result JSON carries."""
        return {**asdict(self), "converged": self.converged}


def fit_early_stopping(model: nn.Module, train_epoch: Callable[[int], float], validate: Callable[[], float], *,
                       max_epochs: int, patience: int, mode: str = "min", valid_metric: str = "loss",
                       where: str = "training") -> Fit:
    """Train ``model`` with ``train_epoch(epoch) -> mean train loss``; after each epoch
    ``validate() -> score``; keep and finally restore the weights of the best epoch.

    ``mode`` says whether a lower (``"min"``) or higher (``"max"``) score is better; the
    first epoch with a finite score is always taken, later ones only when strictly better.
    """
    if max_epochs < 1 or patience < 1:
        raise DataError(None, f"{where}: max_epochs ({max_epochs}) and patience ({patience}) must be >= 1")
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
    better = (lambda a, b: a < b) if mode == "min" else (lambda a, b: a > b)
    best, best_state, best_epoch, stale, epoch = math.nan, None, 0, 0, 0
    moved = False  # patience counts only once the validation score has left its first value
    history: list[dict] = []
    stop = "max_epochs"
    # one line that updates per epoch (train loss, validation score, best epoch, time left): on stderr,
    # gone when the run ends; TQDM_DISABLE=1 turns it off
    bar = tqdm(total=max_epochs, desc=where, unit="epoch", leave=False)
    try:
        for epoch in range(1, max_epochs + 1):
            train_loss = float(train_epoch(epoch))
            score = float(validate())
            history.append({"epoch": epoch, "train_loss": train_loss, "valid": score})
            bar.update(1)
            moved = moved or score != history[0]["valid"]
            # a diverged run (non-finite loss) can still score a finite validation mAP of 0: never keep it
            if math.isfinite(score) and math.isfinite(train_loss) and (best_state is None or better(score, best)):
                best, best_epoch, stale = score, epoch, 0
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            elif moved:
                stale += 1
            bar.set_postfix_str(f"train loss {train_loss:.4g}, valid {valid_metric} {score:.4g}, best epoch {best_epoch}")
            if stale >= patience:
                stop = "patience"
                break
    finally:
        bar.close()
    if best_state is None:
        raise DataError(None, f"{where}: no epoch gave a finite validation {valid_metric} (last train loss "
                        f"{history[-1]['train_loss']:.4g}); the run diverged, lower the learning rate")
    with torch.no_grad():
        model.load_state_dict(best_state)
    return Fit(epoch, best_epoch, best, valid_metric, stop, max_epochs, patience, history, moved)


def epoch_batches(n: int, batch_size: int, gen: torch.Generator, min_steps: int = 0) -> Iterator[np.ndarray]:
    """The index batches of one training epoch of a head: a fresh permutation of the ``n`` training
    samples cut into batches of ``batch_size``, a last batch of one skipped (BatchNorm needs two).

    When one pass gives fewer than ``min_steps`` batches (a 1 % training set of ~9 images is one
    batch), the epoch makes further passes, each over a new permutation, until it has them, as
    MMDetection's ``RepeatDataset`` does for small sets: a validation after every step would
    otherwise end a run by patience before the head has learnt anything. ``min_steps = 0`` is one pass.
    """
    per_pass = sum(1 for s in range(0, n, batch_size) if n - s >= 2)
    passes = max(1, math.ceil(min_steps / per_pass)) if per_pass else 1
    for _ in range(passes):
        order = torch.randperm(n, generator=gen).numpy()
        for s in range(0, n, batch_size):
            idx = order[s:s + batch_size]
            if len(idx) >= 2:
                yield idx


def not_converged_mark(record: dict) -> str:
    """The suffix a stage's progress line gets for a run that stopped at its limit while improving
    (or whose validation score never moved)."""
    if record["converged"]:
        return ""
    return ", NOT CONVERGED" + (" (validation score never moved)" if record.get("valid_moved") is False else "")


class RunProgress:
    """"run k of N" and the time left, for stages that run datasets x fractions x seeds in one process
    (hours of otherwise silent work on the paper profile)."""

    def __init__(self, total: int) -> None:
        self.total, self.done, self.start = max(1, total), 0, time.perf_counter()

    def step(self) -> str:
        self.done += 1
        elapsed = time.perf_counter() - self.start
        left = elapsed / self.done * (self.total - self.done)
        return f"[run {self.done} of {self.total}, {_clock(elapsed)} so far, about {_clock(left)} left]"


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"
