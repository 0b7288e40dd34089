"""Linear probe targets of Table 1 (RSNA, CheXpert, COVIDx) and the latent-space geometry."""

import itertools
import json
import math

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from support import data_error

from benchmark.evaluation.geometry import feature_geometry
from benchmark.evaluation.linear_probe import fit_linear_probe, fit_logistic_probe, probe_target


def test_chexpert_score_is_the_mean_auroc_over_labels_with_both_classes():
    target = probe_target("chexpert")
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
    target = probe_target("covidx")
    assert target.outputs == 3 and target.metric == "accuracy"
    logits = np.array([[2.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 3.0, 1.0], [1.0, 0.0, 0.5]])
    assert target.score(np.array([0, 2, 2, 0]), logits) == pytest.approx(0.75)


def test_floors_are_the_best_constant_predictors_by_hand():
    """COVIDx: the majority class's accuracy (class 2 holds 3 of 6 rows); AUROC: a constant score
    ties every pair, 0.5 for each label that has both classes."""
    assert probe_target("covidx").floor(np.array([0, 2, 1, 2, 0, 2])) == (0.5, "always class 2")
    assert probe_target("covidx").floor(np.array([1, 1, 0, 2])) == (0.5, "always class 1")
    y = np.array([[1.0, 0.0, 1.0, 0.0, 1.0], [0.0, 0.0, 1.0, 1.0, 0.0], [1.0, 0.0, 0.0, 0.0, 1.0]])
    assert probe_target("chexpert").floor(y) == (0.5, "constant score")
    assert probe_target("rsna").floor(np.array([[0.0], [1.0], [1.0]])) == (0.5, "constant score")


@pytest.mark.parametrize("solver", ["adamw", "lbfgs"])
@pytest.mark.parametrize("dataset", ["rsna", "covidx"])
def test_fit_and_predict_dispatches_to_the_named_solver(solver, dataset):
    """Each solver's test logits are those of its own fit on the same rows (and the adamw record
    names its solver); an unknown solver is refused by name."""
    from benchmark.core.errors import DataError
    from benchmark.evaluation.linear_probe import fit_and_predict

    rng = np.random.default_rng(4)
    x = rng.normal(size=(60, 5))
    target = probe_target(dataset)
    if dataset == "rsna":  # binary: one output
        y = (x[:, :1] + 0.3 * rng.normal(size=(60, 1)) > 0).astype(float)
    else:  # three classes: three outputs (the target must reach the AdamW probe too)
        y = np.argmax(x[:, :3] + 0.3 * rng.normal(size=(60, 3)), 1)
    cfg = {"lr": 1e-2, "weight_decay": 0.0, "batch_size": 8, "max_epochs": 3, "patience": 3,
           "c_grid": [0.1, 1.0], "max_iter": 200}
    logits, fit = fit_and_predict(solver, x[:30], y[:30], x[30:45], y[30:45], x[45:], cfg, 0, target)
    if solver == "adamw":
        layer, own = fit_linear_probe(x[:30], y[:30], x[30:45], y[30:45], cfg, 0, target)
        with torch.no_grad():
            want = layer(torch.from_numpy(x[45:]).to(layer.weight.dtype)).numpy()
        assert fit == {"solver": "adamw", **own}
    else:
        probe, own = fit_logistic_probe(x[:30], y[:30], x[30:45], y[30:45], cfg, target)
        want = probe.logits(x[45:])
        assert fit == own
    assert logits.shape == (15, target.outputs) and np.array_equal(logits, want)
    with pytest.raises(DataError, match="probe: unknown solver 'sgd'"):
        fit_and_predict("sgd", x[:30], y[:30], x[30:45], y[30:45], x[45:], cfg, 0, target)


def test_multiclass_probe_learns_separable_classes():
    gen = np.random.default_rng(0)
    centres = np.eye(3, 8) * 4
    y = gen.integers(0, 3, 300)
    x = (centres[y] + gen.normal(size=(300, 8))).astype(np.float32)
    cfg = {"lr": 5e-2, "weight_decay": 1e-6, "batch_size": 32, "max_epochs": 30, "patience": 5}
    layer, fit = fit_linear_probe(x[:200], y[:200], x[200:250], y[200:250], cfg, 0, probe_target("covidx"))
    with torch.no_grad():
        logits = layer(torch.from_numpy(x[250:])).numpy()
    assert layer.out_features == 3 and probe_target("covidx").score(y[250:], logits) > 0.9
    assert fit["best_epoch"] >= 1


def _mgca_probe_by_hand(x, y, xv, yv, *, lr, weight_decay, batch, epochs, seed, multiclass, outputs):
    """MGCA's probe written out from the protocol, independently of the harness: one linear layer
    (initialised right after seeding), AdamW, a fresh seeded permutation per epoch cut into batches,
    BCE (binary, multilabel) or cross-entropy (multiclass); the train loss of an epoch is the mean
    over samples; the layer is returned with the weights of its lowest validation loss."""
    torch.manual_seed(seed)
    order = torch.Generator().manual_seed(seed)
    layer = torch.nn.Linear(x.shape[1], outputs)
    optim = torch.optim.AdamW(layer.parameters(), lr=lr, weight_decay=weight_decay)
    loss_fn = torch.nn.CrossEntropyLoss() if multiclass else torch.nn.BCEWithLogitsLoss()
    as_y = (lambda a: torch.tensor(a, dtype=torch.long)) if multiclass else \
        (lambda a: torch.tensor(a, dtype=torch.float32).reshape(len(a), -1))
    x, xv, y, yv = torch.tensor(x, dtype=torch.float32), torch.tensor(xv, dtype=torch.float32), as_y(y), as_y(yv)
    history, best = [], None
    for epoch in range(1, epochs + 1):
        seen = []
        for idx in torch.randperm(len(x), generator=order).split(batch):
            optim.zero_grad()
            loss = loss_fn(layer(x[idx]), y[idx])
            loss.backward()
            optim.step()
            seen.append(float(loss) * len(idx))
        with torch.no_grad():
            valid = float(loss_fn(layer(xv), yv))
        history.append({"epoch": epoch, "train_loss": sum(seen) / len(x), "valid": valid})
        if best is None or valid < best[0]:
            best = (valid, epoch, {k: v.clone() for k, v in layer.state_dict().items()})
    return best, history


@pytest.mark.parametrize("dataset", ["rsna", "covidx", "chexpert"])
def test_the_adamw_probe_is_mgca_protocol_step_for_step(dataset):
    """Binary, multiclass and multilabel targets: the same weights, train losses and validation
    losses as the protocol written out by hand (float64 features in, as the feature cache holds)."""
    target = probe_target(dataset)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(53, 6))  # 53: the last batch of 16 is short
    if target.kind == "multiclass":
        y = rng.integers(0, 3, 53)
    else:
        y = (rng.random((53, target.outputs)) < 0.4).astype(float).squeeze(-1 if target.outputs == 1 else ())
    cfg = {"lr": 3e-2, "weight_decay": 0.3, "batch_size": 16, "max_epochs": 6, "patience": 10}
    layer, fit = fit_linear_probe(x[:40], y[:40], x[40:], y[40:], cfg, 7, target)
    (best_valid, best_epoch, state), history = _mgca_probe_by_hand(
        x[:40], y[:40], x[40:], y[40:], lr=3e-2, weight_decay=0.3, batch=16, epochs=6, seed=7,
        multiclass=target.kind == "multiclass", outputs=target.outputs)
    assert fit["history"] == history and len(history) == 6  # the same operations in the same order: equal
    assert (fit["best_epoch"], fit["best_valid"], fit["stop"]) == (best_epoch, best_valid, "max_epochs")
    for name, value in layer.state_dict().items():
        assert torch.equal(value, state[name]), name
    assert len({round(h["valid"], 6) for h in history}) > 3  # the weights moved every epoch


def test_the_adamw_probe_defaults_to_a_binary_target_and_names_itself_in_errors():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(30, 4)), rng.integers(0, 2, 30).astype(float)
    cfg = {"lr": 1e-2, "weight_decay": 0.0, "batch_size": 8, "max_epochs": 2, "patience": 2}
    layer, _ = fit_linear_probe(x[:20], y[:20], x[20:], y[20:], cfg, 0)
    same, _ = fit_linear_probe(x[:20], y[:20], x[20:], y[20:], cfg, 0, probe_target("rsna"))
    assert layer.out_features == 1 and torch.equal(layer.weight, same.weight)
    from benchmark.core.errors import DataError

    with pytest.raises(DataError, match="linear probe: max_epochs"):
        fit_linear_probe(x[:20], y[:20], x[20:], y[20:], {**cfg, "max_epochs": 0}, 0)


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
def probe_inputs(phantom_root, module_dir):
    from support import head_inputs

    from benchmark import features

    work = module_dir("probe")
    for dataset in ("chexpert", "covidx"):
        head_inputs(phantom_root, work, dataset)
    assert features.main(["--encoder", str(work / "encoder"), "--stores", str(work / "stores"), "--datasets", "chexpert",
                          "covidx", "--out", str(work / "features"), "--profile", "smoke"]) == 0
    return work


def test_probe_cli_on_chexpert_and_covidx(probe_inputs, tmp_path):
    from benchmark import probe
    from benchmark.reporting.results import load_geometry, load_results

    work = probe_inputs
    assert probe.main(["--method", "random", "--datasets", "chexpert", "covidx", "--features", str(work / "features"),
                       "--stores", str(work / "stores"), "--splits", str(work / "splits"), "--out", str(tmp_path),
                       "--profile", "smoke"]) == 0
    results = load_results(tmp_path)
    assert sorted(set(zip(results["dataset"], results["metric"]))) == [("chexpert", "auroc"), ("covidx", "accuracy")]
    assert len(results) == 2 * 3  # datasets x fractions x one smoke seed
    assert results["value"].between(0, 1).all()
    chexpert = results[results["dataset"] == "chexpert"].iloc[0]
    assert chexpert["labels"] == list(probe_target("chexpert").columns) and len(chexpert["positives"]["test"]) == 5
    covidx = results[(results["dataset"] == "covidx") & (results["fraction"] == 100)].iloc[0]
    assert sum(covidx["positives"]["test"]) == covidx["n"]["test"]  # class counts of the three classes
    geometry = load_geometry(tmp_path)
    assert sorted(geometry["dataset"]) == ["chexpert", "covidx"] and (geometry["dim"] == 512).all()
    assert all(1 <= g <= 512 for g in geometry["effective_rank"])
    assert json.loads((tmp_path / "geometry__covidx.json").read_text())["n"] == covidx["n"]["test"]


def _row_of(features: np.ndarray) -> dict:
    """Feature row bytes -> store row (random-encoder features of distinct images are distinct)."""
    table = {row.tobytes(): i for i, row in enumerate(features)}
    assert len(table) == len(features)
    return table


def test_probe_trains_on_each_fraction_and_scores_the_test_rows(probe_inputs, phantom_root, tmp_path, monkeypatch):
    """Which rows the probe fits, selects on and scores, derived from the manifest CSVs with pandas;
    and the class counts it records, from COVIDx's raw test list."""
    import pandas as pd

    from benchmark import probe
    from benchmark.evaluation import probe as probe_lib

    work = probe_inputs
    seen = []
    real = probe_lib.fit_and_predict

    def spy(solver, x_train, y_train, x_valid, y_valid, x_test, *rest):
        seen.append((x_train, y_train, x_valid, x_test))
        return real(solver, x_train, y_train, x_valid, y_valid, x_test, *rest)

    monkeypatch.setattr(probe_lib, "fit_and_predict", spy)
    assert probe.main(["--method", "random", "--datasets", "covidx", "--features", str(work / "features"), "--stores",
                       str(work / "stores"), "--splits", str(work / "splits"), "--out", str(tmp_path), "--profile",
                       "smoke"]) == 0
    manifest = pd.read_csv(work / "stores" / "covidx" / "manifest.csv", dtype={"id": str})
    splits = pd.read_csv(work / "splits" / "covidx" / "mgca.csv", dtype={"id": str})
    row_of_id = dict(zip(manifest["id"], range(len(manifest))))
    lookup = _row_of(np.load(work / "features" / "covidx" / "features.npy"))

    def rows(split, fraction=100):
        keep = splits["split"].eq(split)
        if split == "train":
            keep &= splits["min_fraction"].le(fraction)
        return sorted(row_of_id[i] for i in splits.loc[keep, "id"])

    assert len(seen) == 3  # one deterministic L-BFGS run per fraction
    for fraction, (x_train, y_train, x_valid, x_test) in zip((1, 10, 100), seen):
        assert sorted(lookup[r.tobytes()] for r in x_train) == rows("train", fraction)
        assert sorted(lookup[r.tobytes()] for r in x_valid) == rows("valid")
        assert sorted(lookup[r.tobytes()] for r in x_test) == rows("test")
        assert len(rows("train", fraction)) < len(rows("train")) or fraction == 100
    # the recorded test class counts equal the raw list's: normal 0, pneumonia 1, COVID-19 2
    raw = pd.read_csv(next((phantom_root / "covidx").glob("test*.txt")), sep=" ", header=None)
    counts = raw[2].map({"normal": 0, "pneumonia": 1, "COVID-19": 2}).value_counts().sort_index().tolist()
    record = json.loads(next(tmp_path.glob("random__covidx__classification__f100__s0.json")).read_text())
    assert record["positives"]["test"] == counts and record["n"]["test"] == len(raw)



@pytest.mark.parametrize("tol", [None, 1e-4])
def test_converged_probe_matches_scikit_learn_logistic_regression(probe_inputs, tol):
    """The L-BFGS probe is scikit-learn's logistic regression on features standardised with the
    training split's statistics, C chosen on the validation split: its test accuracy equals a
    plain StandardScaler + LogisticRegression at that C, and lies within 1 point of the issue's
    reference setting (C = 1), on the cached features of a real encoder run; at the profile
    default tolerance (1e-6) and at the phantom profile's (1e-4, scikit-learn's own)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from benchmark.data.store import Store
    from benchmark.evaluation.downstream import split_rows
    from benchmark.evaluation.linear_probe import fit_logistic_probe

    work = probe_inputs
    store = Store.open(work / "stores" / "covidx")
    feats = np.load(work / "features" / "covidx" / "features.npy")
    rows = split_rows(store, work / "splits" / "covidx" / "mgca.csv", 100)
    target = probe_target("covidx")
    y = target.labels(store.manifest)
    probe, fit = fit_logistic_probe(feats[rows["train"]], y[rows["train"]], feats[rows["valid"]], y[rows["valid"]],
                                    {"c_grid": [0.01, 0.1, 1.0, 10.0], **({"tol": tol} if tol else {})}, target)
    assert fit["tol"] == (tol or 1e-6)
    assert fit["converged"] and fit["c"] in (0.01, 0.1, 1.0, 10.0) and len(fit["valid_scores"]) == 4
    ours = target.score(y[rows["test"]], probe.logits(feats[rows["test"]]))
    scaler = StandardScaler().fit(feats[rows["train"]].astype(np.float64))
    for c in (fit["c"], 1.0):
        reference = LogisticRegression(C=c, max_iter=5000).fit(scaler.transform(feats[rows["train"]]), y[rows["train"]])
        accuracy = float((reference.predict(scaler.transform(feats[rows["test"]])) == y[rows["test"]]).mean())
        if c == fit["c"]:
            assert ours == pytest.approx(accuracy, abs=1e-9)
    assert abs(ours - accuracy) <= 0.01 or fit["c"] != 1.0  # C = 1: within a point


def test_logistic_probe_handles_labels_missing_from_a_small_fraction():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 6))
    y = np.zeros((40, 5))
    y[:, 0] = x[:, 0] > 0  # one learnable label, four with a single class in training
    y[:, 4] = 1.0  # ... of which one is always positive: its constant log-odds are +30
    y_valid = y.copy()
    y_valid[:2, 1] = 1
    probe, fit = fit_logistic_probe(x, y, x, y_valid, {"c_grid": [1.0]}, probe_target("chexpert"))
    logits = probe.logits(x)
    assert logits.shape == (40, 5) and (logits[:, 1] == -30.0).all() and (logits[:, 4] == 30.0).all()
    assert probe_target("chexpert").score(y, logits) > 0.99  # only label 0 has both classes in y: it is learnt
    three = np.array([0, 2] * 20)  # COVIDx at 1 %: class 1 never seen, never predicted
    probe, _ = fit_logistic_probe(x, three, x, three, {"c_grid": [1.0]}, probe_target("covidx"))
    assert probe.logits(x).shape == (40, 3) and (probe.logits(x).argmax(1) != 1).all()


def test_multiclass_logistic_probe_is_scikit_learns_model_with_its_probabilities():
    """COVIDx-shaped (3 classes): each C's validation accuracy is scikit-learn's own on the same
    standardised features, and the logits are log-probabilities up to a constant (their softmax is
    predict_proba), also when only two of the three classes were seen in training."""
    from scipy.special import softmax
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(5)
    y = rng.integers(0, 3, 90)
    x = np.eye(3, 6)[y] * 1.5 + rng.normal(size=(90, 6))
    grid = [0.01, 1.0]
    probe, fit = fit_logistic_probe(x[:60], y[:60], x[60:], y[60:], {"c_grid": grid, "max_iter": 500},
                                    probe_target("covidx"))
    z = (x - x[:60].mean(0)) / x[:60].std(0)
    ref = [LogisticRegression(C=c, max_iter=500, tol=1e-6).fit(z[:60], y[:60]) for c in grid]
    want = [float((m.predict(z[60:]) == y[60:]).mean()) for m in ref]
    assert fit["valid_scores"] == pytest.approx(want, abs=1e-12) and fit["best_valid"] == max(want)
    assert set(fit) == {"solver", "c", "c_grid", "valid_scores", "best_valid", "valid_metric", "max_iter",
                        "tol", "iterations", "converged"}  # the record every probe result carries
    assert (fit["solver"], fit["valid_metric"], fit["c_grid"], fit["max_iter"]) == ("lbfgs", "accuracy", grid, 500)
    assert fit["c"] == grid[int(np.argmax(want))] and fit["converged"] is True
    _, capped = fit_logistic_probe(x[:60], y[:60], x[60:], y[60:], {"c_grid": [1.0], "max_iter": 1}, probe_target("covidx"))
    assert capped["iterations"] == [1] and capped["converged"] is False  # stopped at the limit: not converged
    chosen = ref[int(np.argmax(want))]
    # warm-started along the C grid vs scikit-learn from scratch: the same optimum to the solver's
    # tolerance (largest probability difference measured: 1.3e-6)
    assert np.allclose(softmax(probe.logits(x[60:]), axis=1), chosen.predict_proba(z[60:]), atol=1e-4)
    two = np.where(y == 1, 2, y)  # class 1 never seen
    probe, _ = fit_logistic_probe(x[:60], two[:60], x[60:], two[60:], {"c_grid": [1.0]}, probe_target("covidx"))
    seen = LogisticRegression(C=1.0, max_iter=1000, tol=1e-6).fit(z[:60], two[:60])
    logits = probe.logits(x[60:])
    assert np.allclose(softmax(logits[:, [0, 2]], axis=1), seen.predict_proba(z[60:]), atol=1e-4)
    assert (logits[:, 1] < logits[:, [0, 2]].min(1)).all()


def test_the_probe_command_offers_the_datasets_that_have_a_target():
    from benchmark import probe

    choices = next(a.choices for a in probe.build_parser()._actions if a.dest == "datasets")
    assert list(choices) == ["chexpert", "rsna", "covidx"]  # Table 1's columns, in the paper's order
    assert all(probe_target(name).outputs >= 1 for name in choices)


def test_center_crop_is_torchvisions_resize_then_center_crop():
    """The paper profile's probe input (MGCA: Resize(256) + CenterCrop(224)) equals torchvision's
    own transforms on the same image, normalised as every input is (measured max difference ~1e-7
    in float64, the interpolation's rounding); the default keeps the whole image."""
    import torch
    from torchvision.transforms import v2

    from benchmark.data.transforms import MEAN, STD, eval_input

    image = torch.randint(0, 256, (1, 300, 300), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    ours = eval_input(image, 224, "center")
    ref = v2.Compose([v2.Resize(256, antialias=True), v2.CenterCrop(224)])(image.to(torch.float64) / 255)
    assert ours.shape == (1, 3, 224, 224)
    assert torch.allclose(ours[0, 0].double(), ((ref - MEAN) / STD)[0], atol=1e-5)
    whole = eval_input(image, 224, "resize")
    assert not torch.allclose(whole, ours)


def test_features_made_with_another_crop_are_refused(probe_inputs):
    """Features extracted with the whole image cannot be probed under a profile that asks for
    MGCA's centre crop (or the reverse): the description records the crop and the load checks it."""
    from support import data_error

    from benchmark.data.store import Store
    from benchmark.evaluation.features import load_features

    store = Store.open(probe_inputs / "stores" / "covidx")
    feats, info = load_features(probe_inputs / "features" / "covidx", store, crop="resize")
    assert "crop" not in info and len(feats) == len(store.manifest)
    message = data_error(load_features, probe_inputs / "features" / "covidx", store, crop="center")
    assert "features.npy" in message and "'resize' evaluation crop, the profile asks for 'center'" in message



def test_feature_extraction_with_worker_processes_gives_the_same_features():
    """Batches read and resized by 2 worker processes ahead of the encoder give bit for bit the
    features of the in-process loop, in store order (a last, partial batch included)."""
    from benchmark.evaluation.features import extract_pooled
    from benchmark.pretraining.encoders import ImageEncoder

    torch.manual_seed(0)
    encoder = ImageEncoder("resnet18")
    images = np.random.default_rng(0).integers(0, 256, (11, 40, 40), dtype=np.uint8)
    inline = extract_pooled(encoder, images, 32, batch_size=4, crop="center")
    ahead = extract_pooled(encoder, images, 32, batch_size=4, crop="center", workers=2)
    assert inline.shape == (11, 512) and np.array_equal(inline, ahead)
    assert np.array_equal(inline[8:], extract_pooled(encoder, images[8:], 32, batch_size=4, crop="center"))

def test_mgca_training_crops_are_random_224_of_256_and_chexpert_is_also_jittered():
    import torch

    from benchmark.data.transforms import eval_input, probe_train_input

    images = torch.randint(0, 256, (6, 300, 300), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    crops = probe_train_input(images, 224, torch.Generator().manual_seed(1))
    assert crops.shape == (6, 3, 224, 224)
    # the same draws, by hand: offsets in 0..32 of the 256-px image
    offsets = (torch.rand(6, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 33).long().tolist()
    full = eval_input(images, 256)  # the whole image at 256 px, normalised
    for i, (top, left) in enumerate(offsets):
        assert torch.equal(crops[i], full[i, :, top:top + 224, left:left + 224])
    assert len({tuple(o) for o in offsets}) > 1  # not one fixed crop
    jittered = probe_train_input(images, 224, torch.Generator().manual_seed(1), jitter=True)
    again = probe_train_input(images, 224, torch.Generator().manual_seed(1), jitter=True)
    assert torch.equal(jittered, again) and not torch.equal(jittered, crops)
    assert jittered.min() >= -1 and jittered.max() <= 1  # brightness and contrast clamp to the grey range


def test_augmented_probe_trains_on_encoded_crops_and_says_so(probe_inputs, tmp_path):
    import shutil

    import yaml

    from benchmark import probe
    from benchmark.reporting.results import load_results

    work = probe_inputs
    params = yaml.safe_load(open("params.yaml"))
    params["profiles"]["smoke"]["probe"].update(solver="adamw", train_augment="mgca", max_epochs=2, patience=2)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    args = ["--method", "random", "--datasets", "chexpert", "--features", str(work / "features"), "--stores",
            str(work / "stores"), "--splits", str(work / "splits"), "--fractions", "100", "--profile", "smoke",
            "--params", str(tmp_path / "params.yaml")]
    encoder = tmp_path / "encoder"  # the fixture's encoder with a pre-training meta.json beside it
    shutil.copytree(work / "encoder", encoder)
    (encoder / "meta.json").write_text(json.dumps({"method": "random"}))
    assert probe.main([*args, "--out", str(tmp_path / "out"), "--encoder-meta", str(encoder / "meta.json")]) == 0
    (record,) = load_results(tmp_path / "out").to_dict("records")
    assert record["train_augment"] == "mgca" and record["solver"] == "adamw" and 0 <= record["value"] <= 1
    message = data_error(probe.main, [*args, "--out", str(tmp_path / "out2")])
    assert "train_augment needs the encoder beside --encoder-meta" in message
    assert params["profiles"]["paper"]["probe"]["train_augment"] == "mgca"
