"""The leaderboard from hand-written result files: no training involved."""

import re

import numpy as np
import pandas as pd
import pytest

from benchmark import report
from benchmark.reporting import aggregate
from benchmark.reporting import report as report_lib
from benchmark.reporting.results import load_results, write_result

COMMON = {"profile": "phantom", "data_kind": "phantom", "backend": "native", "protocol": "mgca",
          "lm": {"name": "sentence-transformers/all-MiniLM-L6-v2"}}


def _write(folder, method, dataset, task, metric, fraction, seed, value, **extra):
    write_result(folder, {**COMMON, "method": method, "dataset": dataset, "task": task, "fraction": fraction,
                          "seed": seed, "metric": metric, "value": value, "status": "ok", **extra})


@pytest.fixture
def results(tmp_path):
    for seed, (dice, fgbg) in enumerate([(0.40, 0.70), (0.50, 0.80)]):
        _write(tmp_path, "mflag", "siim", "segmentation", "dice", 10, seed, dice, mean_dice_fg_bg=fgbg)
    _write(tmp_path, "mflag", "object_cxr", "detection", "map", 100, 0, 0.125, map_mgca_compat=0.25)
    _write(tmp_path, "mflag", "rsna", "classification", "auroc", 1, 0, 0.75)
    write_result(tmp_path, {**COMMON, "lm": None, "method": "imagenet", "dataset": "siim", "task": "segmentation",
                            "fraction": 10, "seed": 0, "metric": "dice", "value": None, "status": "unavailable",
                            "reason": "ImageNet weights not available offline (no torchvision cache)"})
    return load_results(tmp_path)


def test_cells_are_mean_and_sample_std_over_seeds(results):
    summary = aggregate.summarise(results)
    dice = summary[(summary["metric"] == "dice") & (summary["method"] == "mflag")].iloc[0]
    assert dice["seeds"] == 2 and dice["mean"] == pytest.approx(45.0)
    assert dice["std"] == pytest.approx(100 * (0.005 ** 0.5))  # sample std of 0.40 and 0.50, in %
    fgbg = summary[summary["metric"] == "mean_dice_fg_bg"]
    assert set(fgbg["method"]) == {"mflag", "imagenet"}  # the unavailable run keeps its reason
    assert fgbg[fgbg["method"] == "mflag"]["mean"].iloc[0] == pytest.approx(75.0)
    compat = summary[summary["metric"] == "map_mgca_compat"].iloc[0]
    assert compat["mean"] == pytest.approx(25.0) and compat["dataset"] == "object_cxr"


def test_leaderboard_has_the_segmentation_and_detection_columns(results):
    board, _ = report_lib.render(results)
    mflag_rows = [line for line in board.splitlines() if line.startswith("| M-FLAG ")]
    # classification, then segmentation + detection, then the metric variants; titles from methods.yaml
    assert len(mflag_rows) == 3 + 2  # ours, then the published rows (none for the variants)
    assert "| 75.0 " in mflag_rows[0]
    assert "| 45.0 ± 7.1 " in mflag_rows[1] and "| 12.5 " in mflag_rows[1]
    assert "| 75.0 ± 7.1 " in mflag_rows[2] and "| 25.0 " in mflag_rows[2]
    assert "| ImageNet Init " in board and "| no weights offline " in board
    assert "PHANTOM" in board


def test_published_table_keeps_dashes_and_notes():
    columns = list(report_lib.tables().values())[1]
    ref = report_lib.published_table(columns).set_index("Method")
    assert ref.loc["M-FLAG", "Object-CXR mAP 1%"] == "–"
    assert ref.loc["M-FLAG", "Object-CXR mAP 100%"] == "19.3"
    assert ref.loc["M-FLAG", "SIIM Dice 1%"] == "52.5" and ref.loc["Random Init", "RSNA mAP 10%"] == "4.0"
    assert "19.5 elsewhere" in ref.loc["M-FLAG", "Source"]
    assert not report_lib.published().duplicated(["method", "dataset", "task", "metric", "fraction"]).any()


def test_a_run_written_twice_is_refused(tmp_path):
    from support import data_error

    _write(tmp_path / "a", "mflag", "rsna", "classification", "auroc", 1, 0, 0.75)
    _write(tmp_path / "stale", "mflag", "rsna", "classification", "auroc", 1, 0, 0.70)
    message = data_error(load_results, tmp_path)
    assert "stale" in message and "the same run as" in message
    _write(tmp_path / "stale", "mflag", "rsna", "classification", "auroc", 1, 1, 0.70)  # another seed: fine
    (tmp_path / "stale" / "mflag__rsna__classification__f1__s0.json").unlink()
    assert len(load_results(tmp_path)) == 2


@pytest.mark.parametrize("stage", ["probe", "segment", "detect"])
def test_an_encoder_without_weights_is_recorded_as_such_for_every_run(stage, tmp_path):
    import importlib
    import json

    reason = "ImageNet weights not available offline: no torchvision cache"
    (tmp_path / "enc").mkdir()
    (tmp_path / "enc" / "meta.json").write_text(json.dumps({"unavailable": reason}))
    (tmp_path / "feats" / "rsna").mkdir(parents=True)
    (tmp_path / "feats" / "rsna" / "features.json").write_text(json.dumps({"unavailable": reason}))
    datasets = {"probe": ["rsna"], "segment": ["siim", "rsna"], "detect": ["rsna", "object_cxr"]}[stage]
    where = ["--features", str(tmp_path / "feats")] if stage == "probe" else ["--encoder", str(tmp_path / "enc")]
    # no store and no split manifest exist: nothing may be opened when there are no weights
    args = ["--method", "imagenet", "--datasets", *datasets, *where, "--stores", str(tmp_path / "none"),
            "--splits", str(tmp_path / "none"), "--out", str(tmp_path / "out"), "--profile", "smoke"]
    assert importlib.import_module(f"benchmark.{stage}").main(args) == 0
    results = load_results(tmp_path / "out")
    assert len(results) == len(datasets) * 3  # x fractions x one smoke seed
    assert set(results["status"]) == {"unavailable"} and results["value"].isna().all()
    board, _ = report_lib.render(results)
    assert "| ImageNet Init " in board and "| no weights offline " in board


def test_openmmlab_heads_get_their_own_table_and_columns(results, tmp_path):
    """Results of the OpenMMLab backend are shown beside the native ones, never averaged with
    them, and two heads of one task (YOLOv3, RetinaNet) get a column each."""
    folder = tmp_path / "mm"
    for head, value in (("yolov3", 0.10), ("retinanet", 0.30)):
        write_result(folder / head, {**COMMON, "backend": "openmmlab", "head": head, "method": "mflag", "dataset": "rsna",
                                     "task": "detection", "fraction": 100, "seed": 0, "metric": "map", "value": value,
                                     "status": "ok", "map_mgca_compat": value})
    _write(folder / "native", "mflag", "rsna", "detection", "map", 100, 0, 0.20, head="yolov3", map_mgca_compat=0.2)
    board, summary = report_lib.render(load_results(folder))
    assert "backend `native`" in board and "backend `openmmlab`" in board
    sections = board.split("## Results")[1:]
    [native] = [part for part in sections if "backend `native`" in part]
    [mm] = [part for part in sections if "backend `openmmlab`" in part]
    assert "RSNA mAP 100%" in native and "| 20.0 " in native and "(RetinaNet)" not in native
    assert "RSNA mAP (YOLOv3) 100%" in mm and "RSNA mAP (RetinaNet) 100%" in mm
    row = next(line for line in mm.splitlines() if line.startswith("| M-FLAG "))
    assert "| 10.0 " in row and "| 30.0 " in row  # one column per head, not their mean (20.0)
    assert set(summary[summary["backend"] == "openmmlab"]["head"]) == {"yolov3", "retinanet"}


def test_report_writes_tables_tex_metrics_and_plots_from_fixture_results(tmp_path):
    """No training: hand-written result and geometry files through ``python -m benchmark.report``."""
    import json

    from benchmark.evaluation.geometry import feature_geometry
    from benchmark.reporting.results import write_geometry

    runs = tmp_path / "runs"
    lm = {"name": "sentence-transformers/all-MiniLM-L6-v2"}
    params = {"trainable": 1_000_000, "frozen": 3_000_000}
    for seed, value in enumerate((0.70, 0.74, 0.72)):
        for fraction in (1, 10, 100):
            _write(runs / "mflag", "mflag", "chexpert", "classification", "auroc", fraction, seed, value,
                   head="linear", pretrain_parameters=params, arch="resnet18")
            _write(runs / "mflag", "mflag", "covidx", "classification", "accuracy", fraction, seed, value - 0.1,
                   head="linear", pretrain_parameters=params, arch="resnet18")
    rng = np.random.default_rng(0)
    write_geometry(runs / "mflag", {"method": "mflag", "dataset": "rsna", "profile": "phantom", "data_kind": "phantom",
                                    "lm": lm, **feature_geometry(rng.normal(size=(40, 8)))})
    assert report.main(["--results", str(runs), "--out", str(tmp_path / "out")]) == 0
    out = tmp_path / "out"
    board = (out / "leaderboard.md").read_text()
    assert "| CheXpert AUC 1% " in board and "| 72.0 ± 2.0 " in board and "| 62.0 ± 2.0 " in board
    assert "Table 3." in board and "| 1,000,000 " in board and "| 25.0% " in board
    assert "Table 4." in board and "RSNA eff. rank / dim" in board and " / 8 " in board
    tex = (out / "leaderboard.tex").read_text()
    assert tex.count("\\begin{table}") == board.count("### ") and "\\toprule" in tex
    assert "72.0 ± 2.0" in tex and "CheXpert AUC 1\\%" in tex
    metrics = json.loads((out / "metrics.json").read_text())
    cell = metrics["phantom-all-MiniLM-L6-v2-native"]["mflag"]["chexpert/classification/auroc/f10"]
    assert cell == {"mean": pytest.approx(72.0), "std": pytest.approx(2.0), "seeds": 3}
    plots = sorted(p.name for p in (out / "plots").rglob("*.png"))
    assert plots == ["classification-chexpert-auroc.png", "classification-covidx-accuracy.png", "spectrum-rsna.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in (out / "plots").rglob("*.png"))


def _control_results(folder, positive_auroc, negative_ci):
    """A positive control, a negative control and a method on one RSNA column, with floors."""
    floor = {"floor": 0.5, "floor_predictor": "constant score"}
    _write(folder, "supervised", "rsna", "classification", "auroc", 100, 0, positive_auroc,
           ci95=[positive_auroc - 0.1, positive_auroc + 0.1], control="positive", converged=True, **floor)
    _write(folder, "shuffled", "rsna", "classification", "auroc", 100, 0, sum(negative_ci) / 2, ci95=list(negative_ci),
           control="negative", converged=True, **floor)
    _write(folder, "mflag", "rsna", "classification", "auroc", 100, 0, 0.7, ci95=[0.62, 0.78], converged=False, **floor)
    return load_results(folder)


def test_floor_row_marks_and_controls_that_pass(tmp_path):
    results = _control_results(tmp_path, 0.9, (0.4, 0.6))
    summary = aggregate.summarise(results)
    cells = summary.set_index("method")
    assert cells.loc["mflag", "floor"] == pytest.approx(50.0) and cells.loc["mflag", "at_floor"] is False
    assert cells.loc["shuffled", "at_floor"] is True  # its interval 40-60 reaches the floor
    markdown, _ = report_lib.render(results)
    rows = {}
    for line in markdown.splitlines():  # our table comes before the published one, which has an M-FLAG row too
        if line.startswith("| "):
            rows.setdefault(line.split("|")[1].strip(), line)
    assert "70.0" + aggregate.MARK_UNCONVERGED in rows["M-FLAG"]  # above the floor, but not converged
    assert "50.0" + aggregate.MARK_FLOOR in rows["Negative control: shuffled labels"]
    assert "| 50.0 " in rows[report_lib.FLOOR_TITLE]
    assert aggregate.control_failures(summary) == [] and "Controls: every cell" in markdown


def test_failing_controls_are_flagged_by_the_report_and_compare(tmp_path, capsys):
    from benchmark import compare

    results = _control_results(tmp_path / "runs", 0.55, (0.7, 0.9))  # positive at the floor, negative far above
    failures = aggregate.control_failures(aggregate.summarise(results))
    assert len(failures) == 2 and any("not above the floor" in f for f in failures)
    assert any("shuffled labels should teach nothing" in f for f in failures)
    markdown, _ = report_lib.render(results)
    assert "CONTROLS FAILED" in markdown
    reference = tmp_path / "golden.csv"
    compare.main(["--results", str(tmp_path / "runs"), "--write-reference", str(reference)])
    args = ["--results", str(tmp_path / "runs"), "--reference", str(reference)]
    assert compare.main(args) == 0  # every cell matches; the failure is printed, not checked
    assert "CONTROL FAILED (not checked" in capsys.readouterr().out
    assert compare.main([*args, "--controls"]) == 1
    assert "CONTROL FAILED: " in capsys.readouterr().out


def test_a_nan_run_is_marked_not_averaged_away(tmp_path):
    _write(tmp_path, "mflag", "rsna", "classification", "auroc", 10, 0, 0.7)
    _write(tmp_path, "mflag", "rsna", "classification", "auroc", 10, 1, float("nan"))
    markdown, summary = report_lib.render(load_results(tmp_path))
    assert summary["nan_runs"].iloc[0] == 1 and np.isnan(summary["mean"].iloc[0])
    assert "NaN (1 of 2 runs)" in markdown


def test_a_head_that_never_learnt_is_counted_apart_from_other_unconverged_cells(tmp_path):
    """Two seeds of one detection cell, one whose validation mAP never moved (``valid_moved`` false),
    one cell that stopped at its limit while improving, one converged: both unconverged cells are
    marked, and the summary line says how many of them hold a head that never learnt."""
    _write(tmp_path, "mflag", "object_cxr", "detection", "map", 1, 0, 0.0, converged=False, valid_moved=False)
    _write(tmp_path, "mflag", "object_cxr", "detection", "map", 1, 1, 0.01, converged=True, valid_moved=True)
    _write(tmp_path, "mflag", "object_cxr", "detection", "map", 10, 0, 0.02, converged=False, valid_moved=True)
    _write(tmp_path, "mflag", "object_cxr", "detection", "map", 100, 0, 0.12, converged=True)
    summary = aggregate.summarise(load_results(tmp_path))
    summary = summary[summary["metric"] == "map"].set_index("fraction")  # not the mgca_compat variant rows
    assert summary["never_moved"].tolist() == [1, 0, 0] and summary["converged"].tolist() == [False, False, True]
    line = report_lib.summary_lines(summary.reset_index(), []).splitlines()[0]
    assert line.endswith("2 with a run that did not converge (†; in 1 of them a run's validation score never "
                         "moved: a head that never learnt)")


def test_load_timings_joins_every_visible_timings_file_with_its_result_paths(tmp_path):
    import pandas as pd

    from benchmark.reporting.results import load_timings

    assert list(load_timings(tmp_path).columns) == ["result"] and load_timings(tmp_path).empty
    for folder, rows in (("a/classification", [("x.json", 1.5), ("y.json", 2.0)]), ("b/detection", [("z.json", 3.0)]),
                         (".a.123.tmp", [("half.json", 9.0)])):  # a temporary folder of a stage still writing
        (tmp_path / folder).mkdir(parents=True)
        pd.DataFrame(rows, columns=["result", "wall_time_s"]).to_csv(tmp_path / folder / "timings.csv", index=False)
    table = load_timings(tmp_path)
    assert table["result"].tolist() == [str(tmp_path / "a/classification/x.json"),
                                        str(tmp_path / "a/classification/y.json"), str(tmp_path / "b/detection/z.json")]
    assert table["wall_time_s"].tolist() == [1.5, 2.0, 3.0]
    assert table.index.tolist() == [0, 1, 2]  # one row label per timing, not each file's own 0, 1, ...


def test_failing_control_lines_name_method_dataset_task_and_fraction_exactly(tmp_path):
    results = _control_results(tmp_path, 0.55, (0.7, 0.9))
    assert sorted(aggregate.control_failures(aggregate.summarise(results))) == [
        "Negative control: shuffled labels: RSNA classification auroc at 100% = 80.0, above the floor 50.0 (interval "
        "from 70.0): shuffled labels should teach nothing",
        "Positive control: supervised on MIMIC labels (phantom: + finding masks): RSNA classification auroc at 100% = "
        "55.0, not above the floor 50.0 (interval from 45.0)"]


def test_a_control_cell_without_a_floor_is_skipped_and_the_next_one_still_checked(tmp_path):
    """Rows are checked one by one: a cell that cannot be judged (no floor) is passed over, not the end."""
    _write(tmp_path, "supervised", "chexpert", "classification", "auroc", 1, 0, 0.55, ci95=[0.45, 0.65],
           control="positive")  # no floor recorded
    _control_results(tmp_path, 0.55, (0.4, 0.6))
    failures = aggregate.control_failures(aggregate.summarise(load_results(tmp_path)))
    assert len(failures) == 1 and failures[0].startswith("Positive control: supervised on MIMIC labels (phantom: + finding masks): RSNA ")


def test_a_failing_variant_of_a_control_is_not_a_control_failure(tmp_path):
    """Variant metrics (no interval) are shown, never judged: only the headline metric is."""
    _write(tmp_path, "supervised", "siim", "segmentation", "dice", 100, 0, 0.9, ci95=[0.85, 0.95], floor=0.5,
           control="positive", mean_dice_fg_bg=0.5, mean_dice_fg_bg_floor=0.5)
    summary = aggregate.summarise(load_results(tmp_path))
    variant = summary[summary["metric"] == "mean_dice_fg_bg"].iloc[0]
    assert variant["floor"] == pytest.approx(50.0) and variant["at_floor"] is True and variant["control"] == "positive"
    assert aggregate.control_failures(summary) == []


def test_summary_defaults_for_fields_a_result_may_lack(tmp_path):
    """No ``converged``, ``title``, ``control``, ``ci95``: converged and marks are unknown (None), not
    True or False; a cell without an interval is judged by its mean against the floor."""
    for seed in (0, 1):
        write_result(tmp_path, {**COMMON, "method": "mine", "dataset": "rsna", "task": "classification",
                                "fraction": 100, "seed": seed, "metric": "auroc", "value": 0.5, "floor": 0.5})
    results = load_results(tmp_path)
    assert "status" not in results and "converged" not in results and "title" not in results
    summary = aggregate.summarise(results)
    assert len(summary) == 1 and summary.index.tolist() == [0]
    cell = summary.iloc[0]
    assert cell["converged"] is None and cell["nan_runs"] == 0 and cell["mean"] == pytest.approx(50.0)
    assert cell["at_floor"] is True  # no interval: its mean 50.0 is at the floor 50.0
    assert pd.isna(cell["title"]) and pd.isna(cell["control"]) and pd.isna(cell["ci_low"])
    variants = aggregate.with_variants(results.assign(task="segmentation", mean_dice_fg_bg=[0.6, 0.7],
                                                      mean_dice_fg_bg_floor=[0.4, 0.4]))
    assert variants.index.tolist() == [0, 1, 2, 3]
    assert variants["floor"].tolist() == [0.5, 0.5, 0.4, 0.4] and variants["value"].tolist() == [0.5, 0.5, 0.6, 0.7]


def test_timings_keep_one_row_per_result_file(tmp_path):
    """Timings live beside the results, one row per result file: a second run adds its row, a run
    written again replaces its own row and leaves the others."""
    from benchmark.reporting.results import TIMINGS_FILE, record_timing

    record_timing(tmp_path, "a.json", {"wall_time_s": 1.0})
    record_timing(tmp_path, "b.json", {"wall_time_s": 2.0})
    record_timing(tmp_path, "a.json", {"wall_time_s": 3.0})
    table = pd.read_csv(tmp_path / TIMINGS_FILE)
    assert table.to_dict("records") == [{"result": "a.json", "wall_time_s": 3.0}, {"result": "b.json", "wall_time_s": 2.0}]


@pytest.mark.parametrize(("record", "problem"), [
    ({"value": 62.0}, "value 62.0 is not a score"),  # no status recorded: checked as ok
    ({"status": "ok", "value": float("nan"), "mean_dice_fg_bg": 1.5}, "mean_dice_fg_bg 1.5"),  # a NaN is skipped, not the end
    ({"status": "ok", "value": None}, "has no value"),
    ({"value": True}, "value True is not a score"),  # a bool is not a score
    ({"value": "0.5"}, "value '0.5' is not a score"),
    ({"value": 0.5, "map_mgca_compat": -0.1}, "map_mgca_compat -0.1"),
])
def test_scores_outside_zero_to_one_are_refused_naming_the_field(tmp_path, record, problem):
    from benchmark.core.errors import DataError
    from benchmark.reporting.results import check_scores

    with pytest.raises(DataError, match=re.escape(problem)):
        check_scores(record, tmp_path / "run.json")
    check_scores({"status": "failed", "value": 62.0}, tmp_path / "run.json")  # a failed run carries no score to check
    check_scores({"value": 1, "mean_dice_fg_bg": float("nan"), "map_mgca_compat": 0.0}, tmp_path / "run.json")
