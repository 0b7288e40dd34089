"""The one early-stopping loop (benchmark.evaluation.training), field by field: which epoch is
kept on ties, when patience ends a run, what a result records about it, and what is refused."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from benchmark.core.errors import DataError
from benchmark.evaluation.training import Fit, epoch_batches, fit_early_stopping


def _run(scores: list[float], **kwargs) -> tuple[nn.Module, Fit]:
    """A one-weight model whose weight is the epoch that produced it; validation gives ``scores``."""
    model = nn.Linear(1, 1, bias=False)
    values = iter(scores)

    def train_epoch(epoch: int) -> float:
        with torch.no_grad():
            model.weight.fill_(float(epoch))
        return 0.5 / epoch

    return model, fit_early_stopping(model, train_epoch, lambda: next(values), **kwargs)


def test_every_field_of_a_run_that_patience_ended():
    model, fit = _run([3.0, 2.0, 2.0, 5.0, 1.0], max_epochs=10, patience=2)
    # epoch 3 ties the best (2.0): only a strictly better score counts, so epochs 3 and 4 are stale
    assert fit == Fit(epochs_run=4, best_epoch=2, best_valid=2.0, valid_metric="loss", stop="patience", max_epochs=10,
                      patience=2, history=[{"epoch": e, "train_loss": 0.5 / e, "valid": v}
                                           for e, v in zip((1, 2, 3, 4), (3.0, 2.0, 2.0, 5.0))])
    assert float(model.weight) == 2.0
    assert fit.record() == {"epochs_run": 4, "best_epoch": 2, "best_valid": 2.0, "valid_metric": "loss",
                            "stop": "patience", "max_epochs": 10, "patience": 2, "history": fit.history, "valid_moved": True,
                            "converged": True}


def test_a_tie_keeps_the_earlier_epoch_when_higher_is_better():
    model, fit = _run([0.4, 0.3, 0.4], max_epochs=3, patience=2, mode="max", valid_metric="map")
    assert fit.best_epoch == 1 and float(model.weight) == 1.0 and fit.stop == "patience" and fit.epochs_run == 3
    assert fit.valid_metric == "map" and fit.record()["converged"] is True


def test_one_epoch_and_patience_one_are_allowed():
    model, fit = _run([0.7], max_epochs=1, patience=1)
    assert (fit.epochs_run, fit.best_epoch, fit.stop, fit.max_epochs, fit.patience) == (1, 1, "max_epochs", 1, 1)
    assert fit.record()["converged"] is False and float(model.weight) == 1.0


def test_a_first_epoch_without_a_score_does_not_use_up_patience():
    """Patience counts epochs after a finite score too: a NaN first epoch is one stale epoch, not two."""
    model, fit = _run([float("nan"), 3.0, 4.0, 5.0], max_epochs=4, patience=2)
    assert fit.best_epoch == 2 and float(model.weight) == 2.0 and fit.epochs_run == 4 and fit.stop == "patience"


def test_patience_waits_until_the_validation_score_first_moves():
    """A detection head at validation mAP 0 has not started: flat epochs from the first one use up
    no patience (in the 7c4893a default run seven runs stopped after five such epochs at mAP 0,
    recorded as converged); a score that never moves runs to the limit, recorded as not converged."""
    model, fit = _run([0.0] * 6, max_epochs=6, patience=2, mode="max", valid_metric="map")
    assert (fit.epochs_run, fit.best_epoch, fit.stop, fit.valid_moved) == (6, 1, "max_epochs", False)
    assert fit.record()["converged"] is False and float(model.weight) == 1.0
    # flat for three epochs, then it learns: patience counts from the first move (epoch 4), so the
    # run ends at epoch 6 (epochs 5 and 6 worse than 4), not at epoch 3
    model, fit = _run([0.0, 0.0, 0.0, 0.2, 0.1, 0.1, 0.3], max_epochs=10, patience=2, mode="max", valid_metric="map")
    assert (fit.epochs_run, fit.best_epoch, fit.stop, fit.valid_moved) == (6, 4, "patience", True)
    assert fit.record()["converged"] is True and float(model.weight) == 4.0
    from benchmark.evaluation.training import not_converged_mark

    assert not_converged_mark({"converged": False, "valid_moved": False}) == \
        ", NOT CONVERGED (validation score never moved)"


@pytest.mark.parametrize("max_epochs, patience", [(0, 3), (3, 0), (0, 0)])
def test_limits_below_one_are_refused_naming_where(max_epochs, patience):
    with pytest.raises(DataError, match=r"training: max_epochs \(\d\) and patience \(\d\) must be >= 1"):
        _run([1.0], max_epochs=max_epochs, patience=patience)
    with pytest.raises(DataError, match=r"segmentation rsna: max_epochs"):
        _run([1.0], max_epochs=max_epochs, patience=patience, where="segmentation rsna")


def test_progress_lines_count_runs_and_estimate_the_time_left(monkeypatch):
    """The progress a multi-run stage prints: run k of N, time so far, and the rest at the mean pace
    so far (hand-computed with a fake clock); a run that stopped improving at its limit is marked."""
    from benchmark.evaluation import training

    now = [100.0]
    monkeypatch.setattr(training.time, "perf_counter", lambda: now[0])
    progress = training.RunProgress(4)
    now[0] = 130.0  # 30 s for the first run: 3 runs left at 30 s
    assert progress.step() == "[run 1 of 4, 0m30s so far, about 1m30s left]"
    now[0] = 100.0 + 3725.0  # 1 h 2 min 5 s for two runs: two more at the same pace
    assert progress.step() == "[run 2 of 4, 1h02m so far, about 1h02m left]"
    assert training._clock(59.6) == "1m00s" and training._clock(3599) == "59m59s" and training._clock(3600) == "1h00m"
    assert training.not_converged_mark({"converged": True}) == ""
    assert training.not_converged_mark({"converged": False}) == ", NOT CONVERGED"


def test_an_epoch_is_one_permutation_cut_into_batches_without_a_last_batch_of_one():
    # 9 samples in batches of 4: [4, 4] and the ninth sample skipped (BatchNorm needs two)
    batches = list(epoch_batches(9, 4, torch.Generator().manual_seed(3)))
    order = torch.randperm(9, generator=torch.Generator().manual_seed(3)).numpy()
    assert [b.tolist() for b in batches] == [order[:4].tolist(), order[4:8].tolist()]
    # a batch of two is kept
    assert [len(b) for b in epoch_batches(10, 4, torch.Generator().manual_seed(0))] == [4, 4, 2]


@pytest.mark.parametrize(("n", "batch", "min_steps", "passes", "steps"),
                         [(9, 4, 5, 3, 6), (9, 4, 2, 1, 2), (9, 32, 10, 10, 10), (40, 16, 0, 1, 3), (1, 4, 5, 1, 0)])
def test_a_small_training_set_is_passed_over_until_the_epoch_has_min_steps(n, batch, min_steps, passes, steps):
    gen, ref = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    batches = list(epoch_batches(n, batch, gen, min_steps))
    assert len(batches) == steps
    # each pass is a fresh permutation of every sample, cut as a single pass is
    expected = []
    for _ in range(passes):
        order = torch.randperm(n, generator=ref).numpy()
        expected += [order[s:s + batch].tolist() for s in range(0, n, batch) if n - s >= 2]
    assert [b.tolist() for b in batches] == expected
