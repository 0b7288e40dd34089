"""`python -m benchmark.compare`: a changed result file makes it fail."""

import json
from pathlib import Path

import pandas as pd
import pytest
from support import data_error

from benchmark import compare
from benchmark.reporting.results import write_result

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


def test_written_golden_numbers_round_trip_and_only_by_the_explicit_command(setup):
    golden = setup / "written.csv"
    assert compare.main(["--results", str(setup / "runs"), "--write-reference", str(golden)]) == 0
    cells = pd.read_csv(golden)
    assert list(cells.columns) == ["method", "dataset", "task", "metric", "fraction", "value", "seeds"]
    assert cells.set_index("fraction")["value"].to_dict() == {1: 65.0, 100: 80.0}
    assert cells.set_index("fraction")["seeds"].to_dict() == {1: 2, 100: 1}
    assert compare.main(["--reference", str(golden), "--results", str(setup / "runs"), "--tolerance", "0"]) == 0
    message = data_error(compare.main, ["--results", str(setup / "runs")])
    assert "--reference" in message and "--write-reference" in message


def test_reference_rows_of_another_protocol_are_not_compared(setup):
    ref = pd.read_csv(setup / "golden.csv").assign(protocol="mgca")
    ref.loc[len(ref)] = {"method": "mflag", "dataset": "rsna", "task": "classification", "metric": "auroc",
                         "fraction": 10, "value": 55.0, "protocol": "benchx"}  # no such result: would be missing
    ref.to_csv(setup / "golden.csv", index=False)
    assert compare.main(_args(setup)) == 0
    assert compare.main(_args(setup, "--protocol", "benchx")) == 1


def test_published_reference_holds_the_issue_tables():
    from benchmark.reporting.compare import read_reference
    from benchmark.reporting.report import published

    ref = published()
    assert set(ref["protocol"]) == {"mgca", "benchx"} and ref["source"].notna().all()
    mgca = read_reference(Path("benchmark/reference/published.csv"))
    cell = mgca.set_index(["method", "dataset", "task", "metric", "fraction"])["value"]
    assert cell[("medklip", "covidx", "classification", "accuracy", 1)] == 74.5
    assert cell[("gloria-mimic", "object_cxr", "detection", "map_mgca_compat", 100)] == 16.6  # compared as published
    assert cell[("mflag", "covidx", "classification", "accuracy", 100)] == 90.7
    assert ("mflag", "covidx", "classification", "accuracy", 1) not in cell  # only the 100% column is listed
    assert len(mgca) == 7 * 9 + 3 + 8 * 12 - 8  # Table 1 + M-FLAG's three + Table 4 without the '-' cells
    benchx = read_reference(Path("benchmark/reference/published.csv"), "benchx")
    assert benchx.set_index(["dataset", "metric", "fraction"])["value"][("siim", "mean_dice_fg_bg", 100)] == 68.13


def test_floor_cells_are_not_evidence_and_nan_always_fails(tmp_path, capsys):
    runs = tmp_path / "runs"
    for fraction, value, ci in ((1, 0.52, [0.45, 0.6]), (100, 0.8, [0.75, 0.85])):
        write_result(runs, {**COMMON, "method": "mflag", "fraction": fraction, "seed": 0, "value": value, "ci95": ci,
                            "floor": 0.5})
    golden = tmp_path / "golden.csv"
    assert compare.main(["--results", str(runs), "--write-reference", str(golden)]) == 0
    assert compare.main(["--results", str(runs), "--reference", str(golden)]) == 0
    out = capsys.readouterr().out
    assert "ok (floor)" in out and "1 as evidence, 1 at their trivial floor" in out
    assert compare.main(["--results", str(runs), "--reference", str(golden), "--min-evidence", "2"]) == 1
    write_result(runs, {**COMMON, "method": "mflag", "fraction": 100, "seed": 1, "value": float("nan"), "floor": 0.5})
    assert compare.main(["--results", str(runs), "--reference", str(golden), "--allow-missing",
                         "--tolerance", "100"]) == 1
    assert "| nan " in capsys.readouterr().out


def test_published_detection_numbers_are_compared_with_the_variant_they_used(tmp_path, capsys):
    """G2D's Table 4 (MGCA's code) skips images without a prediction or a box: it is held against our
    map_mgca_compat, not against the all-image mAP we report as headline."""
    runs = tmp_path / "runs"
    write_result(runs, {**COMMON, "method": "mflag", "task": "detection", "dataset": "rsna", "metric": "map",
                        "head": "yolov3", "fraction": 100, "seed": 0, "value": 0.10, "map_mgca_compat": 0.254})
    reference = tmp_path / "published.csv"
    reference.write_text("method,dataset,task,metric,fraction,value,protocol,ours\n"
                         "mflag,rsna,detection,map,100,25.4,mgca,map_mgca_compat\n")
    assert compare.main(["--reference", str(reference), "--results", str(runs), "--tolerance", "0.1"]) == 0
    assert "map_mgca_compat" in capsys.readouterr().out
    from benchmark.reporting.compare import read_reference

    published = read_reference(Path(__file__).resolve().parents[1] / "benchmark" / "reference" / "published.csv")
    assert set(published.loc[published["task"] == "detection", "metric"]) == {"map_mgca_compat"}
