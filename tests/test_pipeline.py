"""End to end: the real dvc.yaml on the smoke profile, in a scratch copy of the repo."""

import json
import shutil

import pandas as pd
import pytest
from support import copy_pipeline

from benchmark.reporting.results import load_timings
from benchmark.tools import smoke
from benchmark.tools.smoke import REPO


@pytest.fixture(scope="module")
def smoke_run(module_dir):
    # four methods keep the suite short (each DVC stage is a process that imports torch): every
    # method trains in test_pretrain_engine.py, the DAG is the same for all of them, and an
    # encoder without weights (ImageNet offline) is followed through every head in test_report.py;
    # the two controls are here because their downstream stages differ (labels, shuffling)
    work = smoke.prepare(module_dir("pipeline"))
    first = smoke.dvc(work, "repro")
    return work, first


def test_pipeline_writes_leaderboard_with_both_methods(smoke_run):
    work, _ = smoke_run
    board = (work / "results" / "leaderboard.md").read_text()
    for title in ("M-FLAG", "Positive control: supervised on MIMIC labels (phantom: + finding masks)",
                  "Negative control: shuffled labels", "Floor (trivial predictor on the test split)"):
        assert f"| {title} " in board, title
    assert "Controls:" in board or "CONTROLS FAILED" in board
    assert "PHANTOM" in board and "all-MiniLM-L6-v2" in board
    for column in ("CheXpert AUC 1%", "RSNA AUC 10%", "COVIDx ACC 100%", "SIIM Dice 10%", "RSNA Dice 100%", "RSNA mAP 1%",
                   "Object-CXR mAP 100%", "Object-CXR mAP mgca_compat 10%", "SIIM mDice fg/bg 1%"):
        assert f" {column} " in board, column
    assert "Table 3." in board and "Table 4." in board and "\\begin{table}" in (work / "results" / "leaderboard.tex").read_text()
    summary = pd.read_csv(work / "results" / "leaderboard.csv")
    assert set(summary["metric"]) == {"auroc", "accuracy", "dice", "mean_dice_fg_bg", "map", "map_mgca_compat"}
    assert set(summary["method"]) == set(smoke.METHODS)
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
    assert smoke.compare_with_golden(work) == 0


def test_result_json_traces_its_inputs(smoke_run):
    work, _ = smoke_run
    files = sorted(f for f in (work / "results" / "runs").rglob("*.json") if not f.name.startswith("geometry__"))
    # methods x fractions x one seed x (CheXpert, RSNA, COVIDx probes, SIIM + RSNA segmentation,
    # RSNA + Object-CXR detection)
    assert len(files) == len(smoke.METHODS) * 3 * 7
    tasks = {(r["task"], r["dataset"]) for r in map(json.loads, (f.read_text() for f in files))}
    assert tasks == {("classification", "chexpert"), ("classification", "rsna"), ("classification", "covidx"),
                     ("segmentation", "siim"), ("segmentation", "rsna"), ("detection", "rsna"),
                     ("detection", "object_cxr")}
    assert len(list((work / "results" / "runs").rglob("geometry__*.json"))) == len(smoke.METHODS) * 3
    record = json.loads(next(f for f in files if f.name.startswith("shuffled")).read_text())
    for key in ("method", "dataset", "fraction", "seed", "metric", "value", "lm", "data_kind", "profile",
                "encoder_sha256", "ci95", "n"):
        assert key in record
    assert "wall_time_s" not in record  # timings live beside the results, so reruns give identical JSON
    timings = load_timings(work / "results" / "runs")
    assert sorted(timings["result"]) == sorted(map(str, files))
    assert (timings["wall_time_s"] > 0).all()
    mflag = json.loads(next(f for f in files if f.name.startswith("mflag")).read_text())
    assert mflag["lm"]["name"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert mflag["data_kind"] == "phantom" and mflag["profile"] == "smoke" and mflag["precision"] == "float64"
    for record in map(json.loads, (f.read_text() for f in files)):
        assert "floor" in record and "converged" in record, record["method"]
        assert record["labels_shuffled"] == (record["method"] == "shuffled")
        if record["task"] == "detection":
            assert record["cocoeval_agrees"], record  # the one mAP definition, checked on every test set


def test_second_repro_does_nothing(smoke_run):
    work, _ = smoke_run
    out = smoke.dvc(work, "repro")
    assert "Running stage" not in out
    assert "up to date" in out


@pytest.mark.parametrize("defect", smoke.DEFECTS, ids=[d.name for d in smoke.DEFECTS])
def test_every_planted_defect_still_applies(defect, tmp_path):
    """`--mutations` plants each defect as a literal edit; after a refactor moved the detector's
    decoding out of detect.py, one of them no longer applied and the command stopped half-way.
    Each one's line must occur exactly once in the file it names, and planting it changes that file."""
    target = tmp_path / defect.path
    target.parent.mkdir(parents=True)
    shutil.copy(REPO / defect.path, target)
    smoke.plant(tmp_path, defect)
    assert target.read_text() != (REPO / defect.path).read_text() and defect.new in target.read_text()


def test_a_planted_defect_fails_the_golden_comparison(smoke_run, tmp_path):
    """The comparison is sensitive: the probe's training labels shuffled against their images
    (one of `python -m benchmark.smoke --mutations`' planted defects, the cheapest to re-run)
    moves evidence cells outside tolerance. The others are in the README with their last output."""
    work, _ = smoke_run
    copy = tmp_path / "planted"
    copy_pipeline(work, copy)
    defect = next(d for d in smoke.DEFECTS if d.name == "probe-labels-shuffled")
    smoke.plant(copy, defect)
    # the defect changes the code folder (the code stage re-writes the cards) and then the probe's card
    # alone, so every probe stage and nothing else is stale; the positive control's probe alone is re-run
    # here (its cells are the comparison's strongest evidence; the command re-runs all, ~30 s more)
    def stale() -> set[str]:
        return {line.rstrip(":") for line in smoke.dvc(copy, "status").splitlines()
                if line.endswith(":") and not line[0].isspace()}

    assert stale() == {"code"}
    smoke.dvc(copy, "repro", "code")
    assert stale() == {f"probe@{m}" for m in smoke.METHODS}
    reran = [line for line in smoke.dvc(copy, "repro", "probe@supervised").splitlines() if line.startswith("Running stage")]
    assert reran == ["Running stage 'probe@supervised':"], reran
    assert smoke.compare_with_golden(copy, quiet=True) == 1
    outside = [line for line in smoke.compare_with_golden.last_output.splitlines() if "| outside" in line]
    assert any("classification" in line for line in outside)


def _torchvision_state_dict(path):
    import torch
    import torchvision

    torch.manual_seed(5)
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    return path


def test_evaluate_a_torchvision_state_dict_in_one_command(smoke_run, tmp_path, capsys):
    import yaml

    from benchmark import evaluate

    work, _ = smoke_run
    checkpoint = _torchvision_state_dict(tmp_path / "my_resnet.pth")
    params = yaml.safe_load((work / "params.yaml").read_text())
    for task in ("probe", "segment", "detect"):  # one (small) fraction: every stage and table, fewer head runs
        params["profiles"]["smoke"][task]["fractions"] = [10]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    assert evaluate.main(["--checkpoint", str(checkpoint), "--name", "My encoder", "--stores", str(work / "data" / "store"),
                          "--splits", str(work / "data" / "splits"), "--results", str(work / "results" / "runs"),
                          "--work", str(tmp_path / "eval"), "--params", str(tmp_path / "params.yaml")]) == 0
    out = capsys.readouterr().out
    assert "is a resnet18 (detected from its keys; layout plain-resnet)" in out
    board = (tmp_path / "eval" / "my-encoder" / "leaderboard.md").read_text()
    for title in ("My encoder", "M-FLAG", "Floor (trivial predictor on the test split)"):
        assert f"| {title} " in board, title
    assert board.count("| My encoder ") >= 4  # Tables 1, 2, the variants and 3 (parameters)
    assert "| My encoder " in out  # its rows are printed
    assert not any((work / "results" / "runs").glob("my-encoder*"))  # the pipeline's results are untouched


def _stale(work) -> set[str]:
    """The stages `dvc status` lists as changed."""
    return {line.rstrip(":") for line in smoke.dvc(work, "status").splitlines() if line and not line[0].isspace()
            and line.endswith(":")}


def test_a_pretrained_method_and_a_plugin_edit_rerun_only_their_methods(smoke_run, tmp_path):
    """Your encoder as a `pretrained:` method of methods.yaml becomes DVC stages like any other
    method; and editing one plug-in file re-runs only its own method (each pretrain@ stage depends
    on its method's card, not on every plug-in and entry). Only the pretrain stages run here: the
    same stage code takes a plain torchvision encoder through every head in
    test_evaluate_a_torchvision_state_dict_in_one_command (the heads cost ~100 s per method)."""

    import yaml

    work, _ = smoke_run
    copy = tmp_path / "with-mine"
    copy_pipeline(work, copy)
    _torchvision_state_dict(copy / "my_resnet.pth")
    methods = copy / "benchmark" / "configs" / "methods.yaml"
    methods.write_text(methods.read_text() + "\nmine:\n  plugin: pretrained\n  title: My encoder\n  text: none\n"
                       "  options: {checkpoint: my_resnet.pth, arch: auto}\n")
    params = yaml.safe_load((copy / "params.yaml").read_text())
    (copy / "params.yaml").write_text((copy / "params.yaml").read_text().replace(
        f"methods: [{', '.join(params['methods'])}]", f"methods: [{', '.join(params['methods'] + ['mine'])}]"))
    plugin = copy / "baselines" / "random_init.py"  # the plug-in of the negative control
    plugin.write_text(plugin.read_text() + "\n# an edit that changes nothing the model computes\n")
    stale = _stale(copy)
    assert {"method@shuffled", "pretrain@mine", "features@mine", "probe@mine", "segment@mine", "detect@mine"} <= stale
    # a method's card stage reads methods.yaml (re-run, same card); its training stages are not stale
    assert not {s for s in stale if s.endswith(("@mflag", "@supervised")) and not s.startswith("method@")}, stale
    out = smoke.dvc(copy, "repro", "pretrain@mine", "pretrain@shuffled")
    ran = {line.split("'")[1] for line in out.splitlines() if line.startswith("Running stage")}
    assert {stage for stage in ran if stage.startswith("pretrain@")} == {"pretrain@mine", "pretrain@shuffled"}, ran
    # the edited plug-in's method was built again and the same weights came out: nothing downstream
    # of it is stale; the new method's evaluation stages are
    stale = _stale(copy)
    assert {"features@mine", "probe@mine", "segment@mine", "detect@mine"} <= stale
    assert not {s for s in stale if s.endswith(("@mflag", "@supervised", "@shuffled")) and not s.startswith("method@")}, stale
    meta = json.loads((copy / "models" / "mine" / "meta.json").read_text())
    assert meta["arch"] == "resnet18" and meta["source"]["layout"] == "plain-resnet" and meta["title"] == "My encoder"
