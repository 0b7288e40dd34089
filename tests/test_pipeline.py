"""End to end: the real dvc.yaml on the smoke profile, in a scratch copy of the repo."""

import json

import pandas as pd
import pytest

from benchmark import compare, smoke
from benchmark.results import load_timings


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    # two methods keep the suite short (each DVC stage is a process that imports torch): every
    # method trains in test_pretrain_engine.py, the DAG is the same for all of them, and an
    # encoder without weights (ImageNet offline) is followed through every head in test_report.py
    work = smoke.prepare(tmp_path_factory.mktemp("pipeline"))
    first = smoke.dvc(work, "repro")
    return work, first


def test_pipeline_writes_leaderboard_with_both_methods(smoke_run):
    work, _ = smoke_run
    board = (work / "results" / "leaderboard.md").read_text()
    for title in ("M-FLAG", "Random Init"):
        assert f"| {title} " in board, title
    assert "PHANTOM" in board and "all-MiniLM-L6-v2" in board
    for column in ("CheXpert AUC 1%", "RSNA AUC 10%", "COVIDx ACC 100%", "SIIM Dice 10%", "RSNA Dice 100%", "RSNA mAP 1%",
                   "Object-CXR mAP 100%", "Object-CXR mAP mgca_compat 10%", "SIIM mDice fg/bg 1%"):
        assert f" {column} " in board, column
    assert "Table 3." in board and "Table 4." in board and "\\begin{table}" in (work / "results" / "leaderboard.tex").read_text()
    summary = pd.read_csv(work / "results" / "leaderboard.csv")
    assert set(summary["metric"]) == {"auroc", "accuracy", "dice", "mean_dice_fg_bg", "map", "map_mgca_compat"}
    assert set(summary["method"]) == {"mflag", "random"}
    assert set(summary["fraction"]) == {1, 10, 100}
    assert summary["mean"].between(0, 100).all() and summary["seeds"].eq(1).all()
    plots = {p.name for p in (work / "results" / "plots").rglob("*.png")}
    assert {"classification-covidx-accuracy.png", "detection-object_cxr-map.png", "spectrum-rsna.png"} <= plots


def test_metrics_are_visible_to_dvc(smoke_run):
    work, _ = smoke_run
    shown = smoke.dvc(work, "metrics", "show", "--json")
    assert "mflag" in shown and "rsna/classification/auroc/f100" in shown


def test_smoke_results_match_the_golden_numbers(smoke_run):
    """CI's comparison: the committed golden numbers (rewritten only by `python -m benchmark.smoke
    --write-golden`) against this run, within the tolerance of benchmark.smoke."""
    work, _ = smoke_run
    assert smoke.GOLDEN.is_file(), "no golden numbers: run `python -m benchmark.smoke --work DIR --write-golden`"
    golden = pd.read_csv(smoke.GOLDEN)
    assert set(golden["method"]) == set(smoke.METHODS) and len(golden) > 50
    assert compare.main(["--reference", str(smoke.GOLDEN), "--results", str(work / "results" / "runs"), "--profile",
                         "smoke", "--tolerance", str(smoke.TOLERANCE)]) == 0


def test_result_json_traces_its_inputs(smoke_run):
    work, _ = smoke_run
    files = sorted(f for f in (work / "results" / "runs").rglob("*.json") if not f.name.startswith("geometry__"))
    # methods x fractions x one seed x (CheXpert, RSNA, COVIDx probes, SIIM + RSNA segmentation,
    # RSNA + Object-CXR detection)
    assert len(files) == 2 * 3 * 7
    tasks = {(r["task"], r["dataset"]) for r in map(json.loads, (f.read_text() for f in files))}
    assert tasks == {("classification", "chexpert"), ("classification", "rsna"), ("classification", "covidx"),
                     ("segmentation", "siim"), ("segmentation", "rsna"), ("detection", "rsna"),
                     ("detection", "object_cxr")}
    assert len(list((work / "results" / "runs").rglob("geometry__*.json"))) == 2 * 3  # methods x probe datasets
    record = json.loads(next(f for f in files if f.name.startswith("random")).read_text())
    for key in ("method", "dataset", "fraction", "seed", "metric", "value", "lm", "data_kind", "profile",
                "encoder_sha256", "ci95", "n"):
        assert key in record
    assert "wall_time_s" not in record  # timings live beside the results, so reruns give identical JSON
    timings = load_timings(work / "results" / "runs")
    assert sorted(timings["result"]) == sorted(map(str, files))
    assert (timings["wall_time_s"] > 0).all()
    mflag = json.loads(next(f for f in files if f.name.startswith("mflag")).read_text())
    assert mflag["lm"]["name"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert mflag["data_kind"] == "phantom" and mflag["profile"] == "smoke"


def test_second_repro_does_nothing(smoke_run):
    work, _ = smoke_run
    out = smoke.dvc(work, "repro")
    assert "Running stage" not in out
    assert "up to date" in out
