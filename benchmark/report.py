"""``python -m benchmark.report``: leaderboard tables from the per-run result JSONs.

Rows are methods, columns are metric x training fraction, cells are mean ± std over
seeds (in %). Results from different data kinds, profiles, language models or
backends are never mixed in one table: each combination gets its own table with a
header that says what produced it. The published numbers on the real datasets are
printed beside, labelled as such, so phantom numbers cannot be mistaken for them.
"""

from __future__ import annotations

import argparse
import importlib.resources
import io
from pathlib import Path

import pandas as pd
from tabulate import tabulate

from benchmark.atomic import write_csv, write_text
from benchmark.errors import DataError, run_cli
from benchmark.methods import load_method_specs
from benchmark.results import load_results

# row titles and order come from the method config (benchmark/configs/methods.yaml)
METHOD_NAMES = {name: spec.title for name, spec in load_method_specs().items()}
METHOD_ORDER = list(METHOD_NAMES)
# one table per entry: title -> {(dataset, task, metric): column title}
TABLES = {
    "Linear-probe classification (frozen encoder, one linear layer): test AUROC": {
        ("rsna", "classification", "auroc"): "RSNA AUC"},
    "Segmentation (frozen encoder, U-Net unless a column names the head): mean per-image test Dice; detection "
    "(frozen encoder, YOLOv3 unless a column names the head): "
    "test mAP over IoU 0.40:0.05:0.75 on all test images": {
        ("siim", "segmentation", "dice"): "SIIM Dice", ("rsna", "segmentation", "dice"): "RSNA Dice",
        ("rsna", "detection", "map"): "RSNA mAP", ("object_cxr", "detection", "map"): "Object-CXR mAP"},
    "Metric variants: BenchX's mean Dice over foreground and background; the reference code's mAP, which "
    "skips test images without a prediction or without a box (`mgca_compat`)": {
        ("siim", "segmentation", "mean_dice_fg_bg"): "SIIM mDice fg/bg", ("rsna", "segmentation", "mean_dice_fg_bg"):
        "RSNA mDice fg/bg", ("rsna", "detection", "map_mgca_compat"): "RSNA mAP mgca_compat",
        ("object_cxr", "detection", "map_mgca_compat"): "Object-CXR mAP mgca_compat"},
}
# result fields that hold a second metric of the same run (field -> task): rows of their own
VARIANT_FIELDS = {"mean_dice_fg_bg": "segmentation", "map_mgca_compat": "detection"}
# heads other than the ones the table titles name (OpenMMLab backend) are named in the column titles
HEAD_TITLES = {"upernet_fcn": "UperNet+FCN", "yolov3": "YOLOv3", "retinanet": "RetinaNet", "unet": "U-Net",
               "linear": "linear"}
GROUP_KEYS = ["data_kind", "profile", "lm", "backend"]


def published() -> pd.DataFrame:
    text = importlib.resources.files("benchmark").joinpath("reference/published.csv").read_text()
    return pd.read_csv(io.StringIO(text))


def _order(methods) -> list[str]:
    return sorted(methods, key=lambda m: (METHOD_ORDER.index(m) if m in METHOD_ORDER else len(METHOD_ORDER), m))


def with_variants(results: pd.DataFrame) -> pd.DataFrame:
    """One extra row per run of a task and its metric variant (``VARIANT_FIELDS``), named by the
    field; runs without the field (unavailable encoders) keep their reason."""
    parts = [results]
    for field, task in VARIANT_FIELDS.items():
        runs = results[results["task"] == task]
        if len(runs):
            parts.append(runs.assign(metric=field, value=runs[field] if field in runs else None))
    return pd.concat(parts, ignore_index=True)


def summarise(results: pd.DataFrame) -> pd.DataFrame:
    """Mean, std and seed count per (group, method, dataset, task, metric, fraction), in %."""
    keys = GROUP_KEYS + ["method", "dataset", "task", "metric", "head", "fraction"]
    results = with_variants(results)
    results = results.assign(value=pd.to_numeric(results["value"]), head=results["head"] if "head" in results else None,
                             reason=results["reason"] if "reason" in results else None)
    agg = results.groupby(keys, dropna=False).agg(mean=("value", "mean"), std=("value", "std"),
                                                 seeds=("value", "count"), reason=("reason", "first")).reset_index()
    agg[["mean", "std"]] = agg[["mean", "std"]] * 100
    return agg


def _cell(mean: float, std: float, seeds: int, reason: str | None = None) -> str:
    if seeds == 0:  # every run of the cell was unavailable: say why instead of a number
        return "no weights offline" if reason and "not available offline" in reason else "unavailable"
    return f"{mean:.1f}" if seeds < 2 or pd.isna(std) else f"{mean:.1f} ± {std:.1f}"


def _present(summary: pd.DataFrame, columns: dict) -> bool:
    keys = set(zip(summary["dataset"], summary["task"], summary["metric"]))
    return any(c in keys for c in columns)


def table(summary: pd.DataFrame, columns: dict, name_heads: bool = False) -> pd.DataFrame:
    """Wide table for one group: rows methods, columns '<title> <fraction>%'. A column with
    results of several heads becomes one column per head, named '<title> (<head>)', as
    does every column when ``name_heads`` (heads other than the titles say)."""
    fractions = sorted(summary["fraction"].unique())
    rows = []
    for method in _order(summary["method"].unique()):
        row = {"Method": METHOD_NAMES.get(method, method)}
        for (dataset, task, metric), title in columns.items():
            column = summary[(summary["dataset"] == dataset) & (summary["task"] == task) & (summary["metric"] == metric)]
            heads = sorted(column["head"].dropna().unique()) or [None]
            for head in heads:
                name = f"{title} ({HEAD_TITLES.get(head, head)})" if head and (name_heads or len(heads) > 1) else title
                for f in fractions:
                    hit = column[(column["method"] == method) & (column["fraction"] == f)
                                 & ((column["head"] == head) if head else True)]
                    row[f"{name} {f}%"] = _cell(*hit[["mean", "std", "seeds", "reason"]].iloc[0]) if len(hit) else "–"
        rows.append(row)
    return pd.DataFrame(rows)


def _published_cell(hit: pd.DataFrame) -> str:
    if not len(hit):
        return "n/a"
    value = hit["value"].iloc[0]
    return f"{value:.1f}" if pd.notna(value) else "–"  # '-' in the source (see the note)


def published_table(columns: dict) -> pd.DataFrame:
    """Published real-data numbers for the given columns; methods with none of them are left out."""
    ref = published()
    keys = list(columns)
    ref = ref[[k in keys for k in zip(ref["dataset"], ref["task"], ref["metric"])]]
    rows = []
    for method in _order(ref["method"].unique()):
        row = {"Method": METHOD_NAMES.get(method, method)}
        sub = ref[ref["method"] == method]
        for (dataset, task, metric), title in columns.items():
            for f in (1, 10, 100):
                row[f"{title} {f}%"] = _published_cell(sub[(sub["dataset"] == dataset) & (sub["task"] == task)
                                                           & (sub["metric"] == metric) & (sub["fraction"] == f)])
        notes = "".join(f" ({n})" for n in sub["note"].dropna().unique())
        row["Source"] = "; ".join(sorted(set(sub["source"]))) + notes
        rows.append(row)
    return pd.DataFrame(rows)


def _groups(summary: pd.DataFrame):
    """Split the summary into tables that share data kind, profile, backend and LM.

    Runs of methods that use no language model (init baselines) join every LM group
    of their data kind, profile and backend, since their numbers do not depend on it.
    """
    base = ["data_kind", "profile", "backend"]
    for key, sub in summary.groupby(base, dropna=False):
        with_lm = sub[sub["lm"] != "none"]
        without = sub[sub["lm"] == "none"]
        lms = sorted(with_lm["lm"].unique()) or ["none"]
        for lm in lms:
            yield dict(zip(base, key), lm=lm), pd.concat([with_lm[with_lm["lm"] == lm], without])


def render(results: pd.DataFrame) -> tuple[str, pd.DataFrame]:
    if results.empty:
        raise DataError(None, "no result files found; run the pipeline first")
    summary = summarise(results)
    parts = ["# Leaderboard", "",
             "Frozen pre-trained encoders under the MGCA protocol; every number is in %, mean ± std over seeds. "
             "Generated by `python -m benchmark.report` from the per-run JSON files.", ""]
    shown = []
    for info, sub in _groups(summary):
        kind = "PHANTOM data (rendered images, real annotations): not comparable to published numbers" \
            if info["data_kind"] == "phantom" else "real datasets"
        seeds = int(sub["seeds"].max())
        parts += [f"## Results — {kind}", "",
                  f"Profile `{info['profile']}` · language model `{info['lm']}` · backend `{info['backend']}` · "
                  f"up to {seeds} seed(s) per cell", ""]
        for title, columns in TABLES.items():
            if _present(sub, columns):
                shown.append(title)
                wide = table(sub, columns, name_heads=info["backend"] != "native")
                parts += [f"### {title}", "", _markdown(wide), ""]
    parts += ["## Published numbers on the real datasets (for reference, MGCA protocol)", ""]
    for title, columns in TABLES.items():
        ref = published_table(columns)
        if title in shown and len(ref):
            parts += [f"### {title}", "", _markdown(ref), ""]
    return "\n".join(parts), summary


def _markdown(frame: pd.DataFrame) -> str:
    return tabulate(frame, headers="keys", tablefmt="github", showindex=False, disable_numparse=True)  # keep "20.0"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmark.report", description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("results/runs"))
    parser.add_argument("--out", type=Path, default=Path("results"))
    args = parser.parse_args(argv)
    markdown, summary = render(load_results(args.results))
    write_text(args.out / "leaderboard.md", markdown)
    write_csv(args.out / "leaderboard.csv", summary)
    print(markdown)
    print(f"report: wrote {args.out / 'leaderboard.md'} and {args.out / 'leaderboard.csv'}")
    return 0


if __name__ == "__main__":
    run_cli(main)
