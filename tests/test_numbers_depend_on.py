"""What the published numbers depend on, pinned against values derived without the code under test:
how each method's loss terms combine in the full model, which weights are evaluated after early
stopping, the bootstrap intervals' level and coverage."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from benchmark.evaluation.downstream import bootstrap_mean_ci
from benchmark.evaluation.metrics import auroc
from benchmark.evaluation.training import fit_early_stopping
from benchmark.pretraining.engine import build_method, method_options
from benchmark.pretraining.methods import TextInput, get_method
from benchmark.reporting.results import bootstrap_ci
from mflag.losses import alignment_loss, orthogonality_loss


def _mflag(name: str, text_dim: int = 8):
    spec = get_method(name)
    cfg = {"arch": "resnet18", "method_options": {"mflag": {"proj_hidden": 16, "proj_out": 8}}}
    return build_method(spec, cfg, TextInput(dim=text_dim), seed=0), method_options(spec, cfg)


def test_mflag_total_loss_is_alignment_plus_orthogonality_of_the_raw_pooled_feature():
    model, options = _mflag("mflag")
    torch.manual_seed(1)
    images, text = torch.randn(4, 3, 32, 32), torch.randn(4, 8)
    model.train()
    terms = model(images, text)
    pooled = model.encoder(images).pooled  # train-mode BatchNorm: the same batch gives the same output
    align = alignment_loss(model.proj_v(pooled), model.proj_t(text))
    ortho = orthogonality_loss(pooled, float(options["ortho_offdiag_weight"]))
    assert float(terms["alignment"]) == pytest.approx(float(align), rel=1e-5)
    assert float(terms["orthogonality"]) == pytest.approx(float(ortho), rel=1e-5)
    assert float(terms["loss"]) == pytest.approx(float(align + ortho), rel=1e-5)  # weight 1, plus
    assert float(ortho) > 1.0  # the term is large at initialisation: a sign flip would show


def test_mflag_without_orthogonality_trains_on_alignment_alone():
    model, _ = _mflag("mflag-no-ortho")
    terms = model(torch.randn(4, 3, 32, 32), torch.randn(4, 8))
    assert float(terms["orthogonality"]) == 0.0
    assert float(terms["loss"]) == pytest.approx(float(terms["alignment"]))


class _FakeText(nn.Module):
    """A trainable text side that returns fixed [CLS] vectors per report index (ConVIRT only reads ``cls``)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.table = nn.Embedding(16, dim)

    def forward(self, rows):
        return type("Encoded", (), {"cls": self.table(rows)})()


def test_convirt_weights_each_direction_by_its_own_option():
    spec = get_method("convirt")
    cfg = {"arch": "resnet18", "method_options": {"convirt": {"proj_hidden": 16, "proj_out": 8,
                                                              "image_to_text_weight": 0.75, "text_to_image_weight": 0.25}}}
    model = build_method(spec, cfg, TextInput(dim=8, encoder=_FakeText(8)), seed=0)
    terms = model(torch.randn(4, 3, 32, 32), torch.arange(4))
    assert float(terms["image_to_text"]) != pytest.approx(float(terms["text_to_image"]))
    expected = 0.75 * terms["image_to_text"] + 0.25 * terms["text_to_image"]
    assert float(terms["loss"]) == pytest.approx(float(expected), rel=1e-6)


def test_supervised_control_loss_is_the_label_bce():
    spec = get_method("supervised")
    cfg = {"arch": "resnet18"}
    model = build_method(spec, cfg, TextInput(), seed=0)
    images = torch.randn(4, 3, 32, 32)
    labels = torch.tensor([[1.0] + [0.0] * 13, [0.0] * 14, [0.0, 1.0] + [0.0] * 12, [1.0] * 14])
    terms = model(images, labels)
    logits = model.classifier(model.encoder(images).pooled)
    assert float(terms["loss"]) == pytest.approx(float(nn.functional.binary_cross_entropy_with_logits(logits, labels)),
                                                 rel=1e-5)


def test_supervised_dense_loss_by_hand():
    """``dense_weight`` adds, per map C3-C5, the pos-weighted BCE of a 1x1 conv against the masks
    pooled to its grid. With the dense heads at zero every logit is 0, so a mask covering a share p
    of each cell costs log 2 * (w p + 1 - p) per level (w = dense_pos_weight)."""
    spec = get_method("supervised")
    cfg = {"arch": "resnet18", "method_options": {"supervised": {"dense_weight": 0.5, "dense_pos_weight": 3.0}}}
    model = build_method(spec, cfg, TextInput(), seed=0)
    assert model.needs_masks and len(model.dense) == 3
    for head in model.dense:
        nn.init.zeros_(head.weight)
        nn.init.zeros_(head.bias)
    images, labels = torch.randn(2, 3, 64, 64), torch.zeros(2, 14)
    masks = torch.zeros(2, 1, 64, 64)
    masks[:, :, :, ::4] = 1.0  # every cell of every map (8x8, 4x4, 2x2) is 1/4 covered
    terms = model(images, labels, masks)
    assert float(terms["dense"]) == pytest.approx(math.log(2) * (3.0 * 0.25 + 0.75), rel=1e-6)
    assert float(terms["loss"]) == pytest.approx(float(terms["bce"]) + 0.5 * float(terms["dense"]), rel=1e-6)
    with pytest.raises(ValueError, match="dense targets"):
        model(images, labels)


def test_early_stopping_restores_the_best_epoch_and_says_how_it_ended():
    model = nn.Linear(1, 1, bias=False)
    scores = iter([3.0, 1.0, 2.0, 4.0, 5.0, 0.5])  # best at epoch 2; three worse epochs end it at 5

    def train_epoch(epoch: int) -> float:
        with torch.no_grad():
            model.weight.fill_(float(epoch))  # the weights say which epoch produced them
        return 0.1

    fit = fit_early_stopping(model, train_epoch, lambda: next(scores), max_epochs=10, patience=3)
    assert float(model.weight) == 2.0 and fit.best_epoch == 2 and fit.best_valid == 1.0
    assert fit.epochs_run == 5 and fit.stop == "patience" and fit.converged
    assert [h["valid"] for h in fit.history] == [3.0, 1.0, 2.0, 4.0, 5.0]

    rising = iter([0.1, 0.2, 0.3])  # higher is better: still improving at the limit
    fit = fit_early_stopping(model, train_epoch, lambda: next(rising), max_epochs=3, patience=2, mode="max")
    assert float(model.weight) == 3.0 and fit.best_epoch == 3 and fit.stop == "max_epochs" and not fit.converged


def test_early_stopping_never_keeps_a_diverged_epoch():
    from benchmark.core.errors import DataError

    model = nn.Linear(1, 1)
    with pytest.raises(DataError, match="diverged"):
        fit_early_stopping(model, lambda e: float("nan"), lambda: 0.0, max_epochs=3, patience=2, mode="max")
    losses = iter([0.5, float("inf"), 0.4])
    values = iter([0.2, 0.9, 0.3])  # epoch 2 scores best but its loss is not finite: epoch 3 is kept
    fit = fit_early_stopping(model, lambda e: next(losses), lambda: next(values), max_epochs=3, patience=3, mode="max")
    assert fit.best_epoch == 3


def test_bootstrap_interval_is_the_percentile_interval_at_95():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 60)
    score = y + rng.normal(size=60)
    lo, hi = bootstrap_ci(auroc, y, score, n=500, seed=3)
    # the same resamples drawn here: the 2.5th and 97.5th percentiles of their AUROCs
    replay = np.random.default_rng(3)
    values = []
    for _ in range(500):
        idx = replay.integers(0, 60, 60)
        if len(np.unique(y[idx])) == 2:
            values.append(auroc(y[idx], score[idx]))
    assert (lo, hi) == pytest.approx(tuple(np.quantile(values, [0.025, 0.975])), abs=1e-12)
    assert lo < auroc(y, score) < hi
    # a test set with one class has no AUROC in any resample: no interval, not an error
    assert all(np.isnan(v) for v in bootstrap_ci(auroc, np.ones(8), np.arange(8.0), n=50))


def test_bootstrap_mean_interval_covers_the_true_mean_95_percent_of_the_time():
    # 400 samples of 200 draws from a Bernoulli(0.7), like per-image Dice of 0/1: the percentile
    # interval should contain 0.7 about 95 % of the time (binomial sd over 400 trials: 1.1 points)
    rng = np.random.default_rng(0)
    covered = 0
    for trial in range(400):
        values = (rng.random(200) < 0.7).astype(float)
        lo, hi = bootstrap_mean_ci(values, n=400, seed=trial)
        covered += lo <= 0.7 <= hi
    assert 0.91 <= covered / 400 <= 0.985, covered
