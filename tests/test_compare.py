"""`python -m benchmark.compare`: a changed result file makes it fail."""

import json

import pandas as pd
import pytest
from support import data_error

from benchmark import compare
from benchmark.results import write_result

COMMON = {"profile": "smoke", "data_kind": "phantom", "backend": "native", "protocol": "mgca", "status": "ok",
          "lm": {"name": "sentence-transformers/all-MiniLM-L6-v2"}, "head": "linear", "task": "classification",
          "dataset": "rsna", "metric": "auroc"}


@pytest.fixture
def setup(tmp_path):
    for fraction, seeds in ((1, (0.60, 0.70)), (100, (0.80,))):
        for seed, value in enumerate(seeds):
            write_result(tmp_path / "runs", {**COMMON, "method": "mflag", "fraction": fraction, "seed": seed, "value": value})
    pd.DataFrame([{"method": "mflag", "dataset": "rsna", "task": "classification", "metric": "auroc", "fraction": 1,
                   "value": 65.0},
                  {"method": "mflag", "dataset": "rsna", "task": "classification", "metric": "auroc", "fraction": 100,
                   "value": 80.0}]).to_csv(tmp_path / "golden.csv", index=False)
    return tmp_path


def _args(tmp_path, *extra):
    return ["--reference", str(tmp_path / "golden.csv"), "--results", str(tmp_path / "runs"), *extra]


def test_matching_results_pass_and_a_changed_file_fails(setup, capsys):
    # an init baseline has no LM ("none"); it is compared together with the LM methods
    write_result(setup / "runs", {**COMMON, "lm": None, "method": "random", "fraction": 1, "seed": 0, "value": 0.5})
    assert compare.main(_args(setup, "--tolerance", "0.01")) == 0  # 1%: mean of 60 and 70 is the golden 65
    path = setup / "runs" / "mflag__rsna__classification__f100__s0.json"
    record = json.loads(path.read_text())
    path.write_text(json.dumps({**record, "value": 0.79}))
    assert compare.main(_args(setup, "--tolerance", "0.5")) == 1
    out = capsys.readouterr().out
    assert "outside" in out and "1 failing" in out
    assert compare.main(_args(setup, "--metric-tolerance", "auroc=1.5")) == 0  # per-metric tolerance wins


def test_a_reference_cell_without_result_fails_unless_allowed(setup):
    ref = pd.read_csv(setup / "golden.csv")
    ref.loc[len(ref)] = {"method": "mflag", "dataset": "rsna", "task": "classification", "metric": "auroc",
                         "fraction": 10, "value": 70.0}
    ref.to_csv(setup / "golden.csv", index=False)
    assert compare.main(_args(setup)) == 1
    assert compare.main(_args(setup, "--allow-missing")) == 0


def test_bad_reference_is_one_line_error(setup):
    (setup / "golden.csv").write_text("method,value\nmflag,1\n")
    assert "lacks column(s) dataset, task, metric, fraction" in data_error(compare.main, _args(setup))
