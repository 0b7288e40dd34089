"""Linear probe targets of Table 1 (RSNA, CheXpert, COVIDx) and the latent-space geometry."""

import itertools
import json
import math

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from benchmark.geometry import feature_geometry
from benchmark.probe import TARGETS, fit_linear_probe


def test_chexpert_score_is_the_mean_auroc_over_labels_with_both_classes():
    target = TARGETS["chexpert"]
    y = np.array([[1, 0, 0, 1, 0], [0, 1, 0, 1, 1], [1, 1, 0, 0, 0], [0, 0, 0, 0, 1]], dtype=float)
    logits = np.array([[0.9, 0.1, 0.3, 0.8, 0.2], [0.2, 0.8, 0.1, 0.7, 0.9], [0.4, 0.3, 0.5, 0.1, 0.6],
                       [0.6, 0.2, 0.2, 0.3, 0.4]])
    # Consolidation (column 2) has no positive in this test set: AUROC undefined, left out
    expected = np.mean([roc_auc_score(y[:, j], logits[:, j]) for j in (0, 1, 3, 4)])
    assert target.score(y, logits) == pytest.approx(expected)
    assert target.scored_labels(y) == ["Atelectasis", "Cardiomegaly", "Edema", "Pleural Effusion"]
    # by hand: Atelectasis positives score 0.9, 0.4 vs negatives 0.2, 0.6 -> 3 of 4 pairs ordered
    assert roc_auc_score(y[:, 0], logits[:, 0]) == pytest.approx(0.75)


def test_covidx_score_is_three_class_accuracy():
    target = TARGETS["covidx"]
    assert target.outputs == 3 and target.metric == "accuracy"
    logits = np.array([[2.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 3.0, 1.0], [1.0, 0.0, 0.5]])
    assert target.score(np.array([0, 2, 2, 0]), logits) == pytest.approx(0.75)


def test_multiclass_probe_learns_separable_classes():
    gen = np.random.default_rng(0)
    centres = np.eye(3, 8) * 4
    y = gen.integers(0, 3, 300)
    x = (centres[y] + gen.normal(size=(300, 8))).astype(np.float32)
    cfg = {"lr": 5e-2, "weight_decay": 1e-6, "batch_size": 32, "max_epochs": 30, "patience": 5}
    layer, fit = fit_linear_probe(x[:200], y[:200], x[200:250], y[200:250], cfg, 0, TARGETS["covidx"])
    with torch.no_grad():
        logits = layer(torch.from_numpy(x[250:])).numpy()
    assert layer.out_features == 3 and TARGETS["covidx"].score(y[250:], logits) > 0.9
    assert fit["best_epoch"] >= 1


def test_geometry_of_a_spread_and_of_a_collapsed_space():
    gen = np.random.default_rng(0)
    basis = np.linalg.qr(gen.normal(size=(200, 200)))[0]
    # every sign pattern on 4 orthogonal directions: equal variance on each, effective rank 4
    coords = np.array(list(itertools.product([-1.0, 1.0], repeat=4)))
    spread = coords @ basis[:4]
    geometry = feature_geometry(spread)
    assert geometry["effective_rank"] == pytest.approx(4.0, rel=1e-6) and geometry["dim"] == 200
    assert geometry["top1pct_dims"] == 2 and geometry["top1pct_variance_share"] == pytest.approx(0.5, rel=1e-6)
    # everything on one line: rank 1, all the variance in the top direction
    line = np.outer(gen.normal(size=50), basis[0])
    collapsed = feature_geometry(line)
    assert collapsed["effective_rank"] == pytest.approx(1.0, abs=1e-6)
    assert collapsed["top1pct_variance_share"] == pytest.approx(1.0)
    assert len(collapsed["singular_values"]) == 50 and math.isclose(sum(collapsed["singular_values"][1:]), 0, abs_tol=1e-9)


@pytest.fixture(scope="module")
def probe_inputs(phantom_root, tmp_path_factory):
    from support import head_inputs

    from benchmark import features

    work = tmp_path_factory.mktemp("probe")
    for dataset in ("chexpert", "covidx"):
        head_inputs(phantom_root, work, dataset)
    assert features.main(["--encoder", str(work / "encoder"), "--stores", str(work / "stores"), "--datasets", "chexpert",
                          "covidx", "--out", str(work / "features"), "--profile", "smoke"]) == 0
    return work


def test_probe_cli_on_chexpert_and_covidx(probe_inputs, tmp_path):
    from benchmark import probe
    from benchmark.geometry import load_geometry
    from benchmark.results import load_results

    work = probe_inputs
    assert probe.main(["--method", "random", "--datasets", "chexpert", "covidx", "--features", str(work / "features"),
                       "--stores", str(work / "stores"), "--splits", str(work / "splits"), "--out", str(tmp_path),
                       "--profile", "smoke"]) == 0
    results = load_results(tmp_path)
    assert sorted(set(zip(results["dataset"], results["metric"]))) == [("chexpert", "auroc"), ("covidx", "accuracy")]
    assert len(results) == 2 * 3  # datasets x fractions x one smoke seed
    assert results["value"].between(0, 1).all()
    chexpert = results[results["dataset"] == "chexpert"].iloc[0]
    assert chexpert["labels"] == list(TARGETS["chexpert"].columns) and len(chexpert["positives"]["test"]) == 5
    covidx = results[(results["dataset"] == "covidx") & (results["fraction"] == 100)].iloc[0]
    assert sum(covidx["positives"]["test"]) == covidx["n"]["test"]  # class counts of the three classes
    geometry = load_geometry(tmp_path)
    assert sorted(geometry["dataset"]) == ["chexpert", "covidx"] and (geometry["dim"] == 512).all()
    assert all(1 <= g <= 512 for g in geometry["effective_rank"])
    assert json.loads((tmp_path / "geometry__covidx.json").read_text())["n"] == covidx["n"]["test"]
