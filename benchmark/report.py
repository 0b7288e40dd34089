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
# (dataset, task, metric) -> column title
COLUMNS = {("rsna", "classification", "auroc"): "RSNA AUC"}
GROUP_KEYS = ["data_kind", "profile", "lm", "backend"]


def published() -> pd.DataFrame:
    text = importlib.resources.files("benchmark").joinpath("reference/published.csv").read_text()
    return pd.read_csv(io.StringIO(text))


def _order(methods) -> list[str]:
    return sorted(methods, key=lambda m: (METHOD_ORDER.index(m) if m in METHOD_ORDER else len(METHOD_ORDER), m))


def summarise(results: pd.DataFrame) -> pd.DataFrame:
    """Mean, std and seed count per (group, method, dataset, task, metric, fraction), in %."""
    keys = GROUP_KEYS + ["method", "dataset", "task", "metric", "fraction"]
    results = results.assign(value=pd.to_numeric(results["value"]),
                             reason=results["reason"] if "reason" in results else None)
    agg = results.groupby(keys, dropna=False).agg(mean=("value", "mean"), std=("value", "std"),
                                                 seeds=("value", "count"), reason=("reason", "first")).reset_index()
    agg[["mean", "std"]] = agg[["mean", "std"]] * 100
    return agg


def _cell(mean: float, std: float, seeds: int, reason: str | None = None) -> str:
    if seeds == 0:  # every run of the cell was unavailable: say why instead of a number
        return "weights not available offline" if reason and "not available offline" in reason else "unavailable"
    return f"{mean:.1f}" if seeds < 2 or pd.isna(std) else f"{mean:.1f} ± {std:.1f}"


def table(summary: pd.DataFrame) -> pd.DataFrame:
    """Wide table for one group: rows methods, columns '<title> <fraction>%'."""
    fractions = sorted(summary["fraction"].unique())
    rows = []
    for method in _order(summary["method"].unique()):
        row = {"Method": METHOD_NAMES.get(method, method)}
        for (dataset, task, metric), title in COLUMNS.items():
            for f in fractions:
                hit = summary[(summary["method"] == method) & (summary["dataset"] == dataset) & (summary["task"] == task)
                              & (summary["metric"] == metric) & (summary["fraction"] == f)]
                row[f"{title} {f}%"] = _cell(*hit[["mean", "std", "seeds", "reason"]].iloc[0]) if len(hit) else "–"
        rows.append(row)
    return pd.DataFrame(rows)


def published_table() -> pd.DataFrame:
    ref = published()
    rows = []
    for method in _order(ref["method"].unique()):
        row = {"Method": METHOD_NAMES.get(method, method)}
        sub = ref[ref["method"] == method]
        for (dataset, task, metric), title in COLUMNS.items():
            for f in (1, 10, 100):
                hit = sub[(sub["dataset"] == dataset) & (sub["task"] == task) & (sub["metric"] == metric) & (sub["fraction"] == f)]
                row[f"{title} {f}%"] = f"{hit['value'].iloc[0]:.1f}" if len(hit) else "n/a"
        row["Source"] = "; ".join(sorted(set(sub["source"]))) + "".join(f" ({n})" for n in sub["note"].dropna().unique())
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
             "Linear-probe classification (frozen encoder, one linear layer), test AUROC in %, "
             "mean ± std over seeds. Generated by `python -m benchmark.report` from the per-run JSON files.", ""]
    for info, sub in _groups(summary):
        kind = "PHANTOM data (rendered images, real annotations): not comparable to published numbers" \
            if info["data_kind"] == "phantom" else "real datasets"
        seeds = int(sub["seeds"].max())
        parts += [f"## Results — {kind}", "",
                  f"Profile `{info['profile']}` · language model `{info['lm']}` · backend `{info['backend']}` · "
                  f"up to {seeds} seed(s) per cell", "",
                  tabulate(table(sub), headers="keys", tablefmt="github", showindex=False), ""]
    parts += ["## Published numbers on the real datasets (for reference, MGCA protocol)", "",
              tabulate(published_table(), headers="keys", tablefmt="github", showindex=False), ""]
    return "\n".join(parts), summary


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
