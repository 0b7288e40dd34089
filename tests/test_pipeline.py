"""End to end: the real dvc.yaml on the smoke profile, in a scratch copy of the repo."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
COPY = ["dvc.yaml", "params.yaml", "benchmark", "mflag", "baselines"]


def _run(args, cwd):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("pipeline")
    for name in COPY:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, work / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(src, work / name)
    params = (work / "params.yaml").read_text().replace("profile: phantom", "profile: smoke", 1)
    # two methods keep the suite short (each DVC stage is a process that imports torch): every
    # method trains in test_pretrain_engine.py, the DAG is the same for all of them, and an
    # encoder without weights (ImageNet offline) is followed through every head in test_report.py
    params = re.sub(r"(?m)^methods: .*$", "methods: [random, mflag]", params, count=1)
    (work / "params.yaml").write_text(params)
    dvc = str(Path(sys.executable).parent / "dvc")
    _run([dvc, "init", "--no-scm", "-q"], work)
    first = _run([dvc, "repro"], work)
    return work, dvc, first


def test_pipeline_writes_leaderboard_with_both_methods(smoke_run):
    work, _, _ = smoke_run
    board = (work / "results" / "leaderboard.md").read_text()
    for title in ("M-FLAG", "Random Init"):
        assert f"| {title} " in board, title
    assert "PHANTOM" in board and "all-MiniLM-L6-v2" in board
    for column in ("RSNA AUC 1%", "SIIM Dice 10%", "RSNA Dice 100%", "RSNA mAP 1%", "Object-CXR mAP 100%",
                   "Object-CXR mAP mgca_compat 10%", "SIIM mDice fg/bg 1%"):
        assert f" {column} " in board, column
    summary = pd.read_csv(work / "results" / "leaderboard.csv")
    assert set(summary["metric"]) == {"auroc", "dice", "mean_dice_fg_bg", "map", "map_mgca_compat"}
    assert set(summary["method"]) == {"mflag", "random"}
    assert set(summary["fraction"]) == {1, 10, 100}
    assert summary["mean"].between(0, 100).all() and summary["seeds"].eq(1).all()


def test_result_json_traces_its_inputs(smoke_run):
    work, _, _ = smoke_run
    files = sorted((work / "results" / "runs").rglob("*.json"))
    # methods x fractions x one seed x (RSNA probe, SIIM + RSNA segmentation, RSNA + Object-CXR detection)
    assert len(files) == 2 * 3 * 5
    tasks = {(r["task"], r["dataset"]) for r in map(json.loads, (f.read_text() for f in files))}
    assert tasks == {("classification", "rsna"), ("segmentation", "siim"), ("segmentation", "rsna"),
                     ("detection", "rsna"), ("detection", "object_cxr")}
    record = json.loads(next(f for f in files if f.name.startswith("random")).read_text())
    for key in ("method", "dataset", "fraction", "seed", "metric", "value", "lm", "data_kind", "profile",
                "wall_time_s", "encoder_sha256", "ci95", "n"):
        assert key in record
    mflag = json.loads(next(f for f in files if f.name.startswith("mflag")).read_text())
    assert mflag["lm"]["name"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert mflag["data_kind"] == "phantom" and mflag["profile"] == "smoke"


def test_second_repro_does_nothing(smoke_run):
    work, dvc, _ = smoke_run
    out = _run([dvc, "repro"], work)
    assert "Running stage" not in out
    assert "up to date" in out
