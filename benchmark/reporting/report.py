"""``python -m benchmark.report``: the paper's tables and plots from the per-run result JSONs.

Writes ``leaderboard.md`` / ``.tex`` / ``.csv`` (one row per cell), ``metrics.json`` (for
``dvc metrics show``) and ``plots/`` (PNG, for ``dvc plots show``):

1. linear-probe classification (CheXpert AUC, RSNA AUC, COVIDx ACC x 1 / 10 / 100 %);
2. segmentation Dice (SIIM, RSNA) and detection mAP (RSNA, Object-CXR), plus the named
   metric variants;
3. trainable / frozen parameters of each method's pre-training run;
4. latent-space geometry of each encoder (effective rank, top-1 % variance share) with a
   plot of the singular-value spectra;
5. metric vs. training fraction per task, one line per method.

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
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from tabulate import tabulate

from benchmark.core.atomic import is_hidden, write_csv, write_json, write_text
from benchmark.core.errors import DataError
from benchmark.core.guards import check_output
from benchmark.reporting.aggregate import MARK_FLOOR, MARK_UNCONVERGED, MARKS_LEGEND, control_failures, summarise
from benchmark.reporting.results import load_results
from benchmark.reporting.titles import HEAD_TITLES, METHOD_NAMES, dataset_title, group_slug, order, tables, title_of


def published() -> pd.DataFrame:
    text = importlib.resources.files("benchmark").joinpath("reference/published.csv").read_text()
    return pd.read_csv(io.StringIO(text))


def _cell(mean: float, std: float, seeds: int, reason: str | None = None, nan_runs: int = 0, at_floor=None,
          converged=None) -> str:
    if nan_runs:
        return f"NaN ({int(nan_runs)} of {int(seeds + nan_runs)} runs)"
    if seeds == 0:  # every run of the cell was unavailable: say why instead of a number
        return "no weights offline" if reason and "not available offline" in reason else "unavailable"
    text = f"{mean:.1f}" if seeds < 2 or pd.isna(std) else f"{mean:.1f} ± {std:.1f}"
    return text + (MARK_FLOOR if at_floor is True else "") + (MARK_UNCONVERGED if converged is False else "")


def _present(summary: pd.DataFrame, columns: dict) -> bool:
    keys = set(zip(summary["dataset"], summary["task"], summary["metric"]))
    return any(c in keys for c in columns)


def table(summary: pd.DataFrame, columns: dict, name_heads: bool = False) -> pd.DataFrame:
    """Wide table for one group: rows methods, columns '<title> <fraction>%'. A column with
    results of several heads becomes one column per head, named '<title> (<head>)', as
    does every column when ``name_heads`` (heads other than the titles say)."""
    fractions = sorted(summary["fraction"].unique())
    rows = []
    for method in order(summary["method"].unique()):
        row = {"Method": title_of(method, summary)}
        for (dataset, task, metric), title in columns.items():
            column = summary[(summary["dataset"] == dataset) & (summary["task"] == task) & (summary["metric"] == metric)]
            heads = sorted(column["head"].dropna().unique()) or [None]
            for head in heads:
                name = f"{title} ({HEAD_TITLES.get(head, head)})" if head and (name_heads or len(heads) > 1) else title
                for f in fractions:
                    hit = column[(column["method"] == method) & (column["fraction"] == f)
                                 & ((column["head"] == head) if head else True)]
                    row[f"{name} {f}%"] = _cell(*hit[CELL_FIELDS].iloc[0]) if len(hit) else "–"
        rows.append(row)
    rows.append(floor_row(summary, columns, fractions, name_heads))
    return pd.DataFrame(rows)


CELL_FIELDS = ["mean", "std", "seeds", "reason", "nan_runs", "at_floor", "converged"]
FLOOR_TITLE = "Floor (trivial predictor on the test split)"


def floor_row(summary: pd.DataFrame, columns: dict, fractions, name_heads: bool) -> dict:
    """The score of the best trivial predictor (majority class, constant score, empty or full
    mask, no box or the test boxes' prior on every image) on each column's test split, as its runs
    recorded it."""
    row = {"Method": FLOOR_TITLE}
    for (dataset, task, metric), title in columns.items():
        column = summary[(summary["dataset"] == dataset) & (summary["task"] == task) & (summary["metric"] == metric)]
        heads = sorted(column["head"].dropna().unique()) or [None]
        for head in heads:
            name = f"{title} ({HEAD_TITLES.get(head, head)})" if head and (name_heads or len(heads) > 1) else title
            for f in fractions:
                floors = column[(column["fraction"] == f) & ((column["head"] == head) if head else True)]["floor"].dropna()
                row[f"{name} {f}%"] = f"{floors.iloc[0]:.1f}" if len(floors) else "–"
    return row


def _published_cell(hit: pd.DataFrame) -> str:
    if not len(hit):
        return "n/a"
    value = hit["value"].iloc[0]
    return f"{value:.1f}" if pd.notna(value) else "–"  # '-' in the source (see the note)


def published_table(columns: dict) -> pd.DataFrame:
    """Published real-data numbers for the given columns; methods with none of them are left out."""
    ref = published()
    ref = ref[ref["protocol"] == "mgca"]
    keys = list(columns)
    ref = ref[[k in keys for k in zip(ref["dataset"], ref["task"], ref["metric"])]]
    rows = []
    for method in order(ref["method"].unique()):
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


@dataclass
class Block:
    """One piece of the report, rendered to Markdown and to LaTeX alike."""

    kind: str  # h2 | h3 | p | table
    text: str
    frame: pd.DataFrame | None = None


def parameters_table(results: pd.DataFrame) -> pd.DataFrame:
    """Table 3: trainable and frozen parameters of each method's pre-training run (from the
    ``pretrain_parameters`` its results carry)."""
    rows = []
    for method in order(results["method"].unique()):
        runs = results[results["method"] == method]
        counts = next((c for c in runs.get("pretrain_parameters", pd.Series(dtype=object)) if isinstance(c, dict)), None)
        arch = next((a for a in runs.get("arch", pd.Series(dtype=object)) if isinstance(a, str)), "–")
        if counts is None:
            rows.append({"Method": title_of(method, results), "Encoder": arch, "Trainable": "–", "Frozen": "–",
                         "Trainable share": "no weights offline" if (runs["status"] == "unavailable").all() else "–"})
            continue
        trainable, frozen = int(counts.get("trainable", 0)), int(counts.get("frozen", 0))
        rows.append({"Method": title_of(method, results), "Encoder": arch, "Trainable": f"{trainable:,}",
                     "Frozen": f"{frozen:,}", "Trainable share": f"{100 * trainable / max(1, trainable + frozen):.1f}%"})
    return pd.DataFrame(rows)


def geometry_table(geometry: pd.DataFrame) -> pd.DataFrame:
    """Table 4: effective rank and top-1 % variance share of each encoder's pooled test features."""
    rows = []
    datasets = sorted(geometry["dataset"].unique())
    for method in order(geometry["method"].unique()):
        row = {"Method": title_of(method, geometry)}
        for dataset in datasets:
            hit = geometry[(geometry["method"] == method) & (geometry["dataset"] == dataset)]
            title = dataset_title(dataset)
            if len(hit):
                g = hit.iloc[0]
                row[f"{title} eff. rank / dim"] = f"{g['effective_rank']:.1f} / {g['dim']}"
                row[f"{title} top-1% dims variance"] = f"{100 * g['top1pct_variance_share']:.1f}%"
            else:
                row[f"{title} eff. rank / dim"] = row[f"{title} top-1% dims variance"] = "–"
        rows.append(row)
    return pd.DataFrame(rows)


def _geometry_for(geometry: pd.DataFrame | None, info: dict) -> pd.DataFrame | None:
    """The geometry records of a table group (its data kind, profile and LM, plus the init baselines)."""
    if geometry is None or geometry.empty or info["backend"] != "native":
        return None
    lm = geometry["lm"].map(lambda v: v.get("name", "none") if isinstance(v, dict) else (v or "none"))
    keep = (geometry["data_kind"] == info["data_kind"]) & (geometry["profile"] == info["profile"]) \
        & lm.isin([info["lm"], "none"])
    return geometry[keep] if keep.any() else None


def build(results: pd.DataFrame, geometry: pd.DataFrame | None = None) -> tuple[list[Block], pd.DataFrame, list]:
    """The report as blocks, the per-cell summary, and the (group info, group summary, group
    geometry) triples the plots are drawn from."""
    if results.empty:
        raise DataError(None, "no result files found; run the pipeline first")
    summary = summarise(results)
    blocks = [Block("h1", "Leaderboard"),
              Block("p", "Frozen pre-trained encoders under the MGCA protocol; every number is in %, mean ± std over "
                         "seeds. Generated by `python -m benchmark.report` from the per-run JSON files.")]
    shown, groups = [], []
    for info, sub in _groups(summary):
        kind = "PHANTOM data (rendered images, real annotations): not comparable to published numbers" \
            if info["data_kind"] == "phantom" else "real datasets"
        seeds = int(sub["seeds"].max())
        blocks += [Block("h2", f"Results — {kind}"),
                   Block("p", f"Profile `{info['profile']}` · language model `{info['lm']}` · backend `{info['backend']}` "
                              f"· up to {seeds} seed(s) per cell")]
        heads = ", ".join(f"{task}: {HEAD_TITLES.get(h, h)}" for task, h in
                          sub[["task", "head"]].dropna().drop_duplicates().sort_values(["task", "head"]).itertuples(index=False))
        blocks.append(Block("p", f"Heads: {heads}."))
        for title, columns in tables().items():
            if _present(sub, columns):
                shown.append(title)
                blocks.append(Block("table", title, table(sub, columns, name_heads=info["backend"] != "native")))
        blocks.append(Block("p", MARKS_LEGEND))
        if sub["control"].notna().any():
            failures = control_failures(sub)
            blocks.append(Block("p", "Controls: every cell of the positive control is above its floor and no cell of the "
                                     "negative control is clearly above it." if not failures else
                                "CONTROLS FAILED (the harness, not only a method, may be broken): " + "; ".join(failures)))
        runs = _group_runs(results, info)
        if "pretrain_parameters" in runs:
            blocks.append(Block("table", "Table 3. Parameters of each method's pre-training run as configured here "
                                         "(encoder + projections + LM; frozen = not updated, the LM's frozen layers "
                                         "included)", parameters_table(runs)))
        geo = _geometry_for(geometry, info)
        if geo is not None:
            blocks.append(Block("table", "Table 4. Latent-space geometry of the pooled test features (the paper's "
                                         "collapse analysis): effective rank (exp of the entropy of the normalised "
                                         "singular values) and the share of variance in the top 1% of dimensions",
                                geometry_table(geo)))
        groups.append((info, sub, geo))
    blocks.append(Block("h2", "Published numbers on the real datasets (for reference, MGCA protocol)"))
    for title, columns in tables().items():
        ref = published_table(columns)
        if title in shown and len(ref):
            blocks.append(Block("table", title, ref))
    return blocks, summary, groups


def _group_runs(results: pd.DataFrame, info: dict) -> pd.DataFrame:
    lm = results["lm"].fillna("none")
    keep = (results["data_kind"] == info["data_kind"]) & (results["profile"] == info["profile"]) \
        & (results["backend"] == info["backend"]) & lm.isin([info["lm"], "none"])
    return results[keep]


def to_markdown(blocks: list[Block]) -> str:
    parts = []
    for b in blocks:
        if b.kind == "table":
            parts += [f"### {b.text}", "", _markdown(b.frame), ""]
        else:
            parts += [{"h1": "# ", "h2": "## ", "h3": "### ", "p": ""}[b.kind] + b.text, ""]
    return "\n".join(parts)


def _latex_text(text: str) -> str:
    text = text.replace("\\", "\\textbackslash{}")
    for char in "&%$#_{}":
        text = text.replace(char, "\\" + char)
    text = re.sub(r"`([^`]*)`", r"\\texttt{\1}", text)
    return text.replace("~", "\\textasciitilde{}").replace("^", "\\textasciicircum{}")


def to_latex(blocks: list[Block]) -> str:
    """A LaTeX fragment (booktabs tables, one ``table`` float each) to \\input into a paper."""
    parts = ["% Generated by `python -m benchmark.report`; needs \\usepackage{booktabs} (and UTF-8 input for ±).", ""]
    for b in blocks:
        if b.kind == "table":
            body = tabulate(b.frame, headers="keys", tablefmt="latex_booktabs", showindex=False, disable_numparse=True)
            parts += ["\\begin{table}[ht]", "\\centering", "\\resizebox{\\linewidth}{!}{%", body + "}",
                      f"\\caption{{{_latex_text(b.text)}}}", "\\end{table}", ""]
        elif b.kind in ("h1", "h2", "h3"):
            command = {"h1": "section", "h2": "subsection", "h3": "subsubsection"}[b.kind]
            parts += [f"\\{command}*{{{_latex_text(b.text)}}}", ""]
        else:
            parts += [_latex_text(b.text), ""]
    return "\n".join(parts)


def metrics_tree(summary: pd.DataFrame) -> dict:
    """Nested {group: {method: {dataset/task/metric[/head]/f<fraction>: {mean, std, seeds}}}} in %,
    for ``dvc metrics show`` and ``dvc metrics diff``."""
    tree: dict = {}
    for info, sub in _groups(summary):
        group = tree.setdefault(group_slug(info), {})
        for row in sub.itertuples():
            if row.seeds == 0:
                continue
            head = f"/{row.head}" if isinstance(row.head, str) and info["backend"] != "native" else ""
            key = f"{row.dataset}/{row.task}/{row.metric}{head}/f{int(row.fraction)}"
            group.setdefault(row.method, {})[key] = {
                "mean": round(float(row.mean), 4), "std": None if pd.isna(row.std) else round(float(row.std), 4),
                "seeds": int(row.seeds)}
    return tree


def render(results: pd.DataFrame, geometry: pd.DataFrame | None = None) -> tuple[str, pd.DataFrame]:
    blocks, summary, _ = build(results, geometry)
    return to_markdown(blocks), summary


def _markdown(frame: pd.DataFrame) -> str:
    return tabulate(frame, headers="keys", tablefmt="github", showindex=False, disable_numparse=True)  # keep "20.0"


def visible_geometry(geometry: pd.DataFrame, root: Path) -> pd.DataFrame:
    """Geometry records without those under hidden names (temporary folders of a killed stage)."""
    if geometry.empty or "file" not in geometry:
        return geometry
    return geometry[[not is_hidden(f, root) for f in geometry["file"]]].reset_index(drop=True)


def run(args: argparse.Namespace) -> int:
    """What ``python -m benchmark.report`` does with its parsed arguments."""
    from benchmark.reporting.plots import write_plots
    from benchmark.reporting.results import load_geometry

    # the plots folder is replaced as a whole: never the results it is drawn from, nor a folder of other files
    check_output(args.out / "plots", [args.results], "plots folder",
                 lambda folder: all(p.is_dir() or p.suffix == ".png" for p in folder.rglob("*") if not is_hidden(p, folder)))
    blocks, summary, groups = build(load_results(args.results), visible_geometry(load_geometry(args.results), args.results))
    markdown = to_markdown(blocks)
    plots = write_plots(groups, args.out / "plots")  # everything is rendered before anything is written
    write_text(args.out / "leaderboard.md", markdown)
    write_text(args.out / "leaderboard.tex", to_latex(blocks))
    write_csv(args.out / "leaderboard.csv", summary)
    write_json(args.out / "metrics.json", metrics_tree(summary))
    if args.docs:
        write_text(args.docs, provenance(args.run_note) + markdown)
    print(summary_lines(summary, blocks))
    print(f"report: wrote {args.out / 'leaderboard.md'} (.tex, .csv), {args.out / 'metrics.json'} and "
          f"{len(plots)} plots in {args.out / 'plots'}" + (f"; {args.docs}" if args.docs else ""))
    return 0


def provenance(note: str = "") -> str:
    """Where and when a results page was made: date, commit, machine, library versions."""
    import datetime
    import platform
    import subprocess
    from importlib.metadata import version

    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").is_file() \
        else platform.processor()
    lines = ["<!-- Written by `python -m benchmark.report --docs`; do not edit by hand. -->",
             f"Generated {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC from `results/runs` at commit "
             f"`{commit}`, on {cpu} ({os.cpu_count()} cores), Python {platform.python_version()}, torch "
             f"{version('torch')}." + (f" {note}" if note else ""), ""]
    return "\n".join(lines) + "\n"


def summary_lines(summary: pd.DataFrame, blocks: list) -> str:
    """What ``report`` prints: counts, marks and control failures, not the whole leaderboard."""
    cells = summary[summary["seeds"] > 0]
    floor = int(cells["at_floor"].eq(True).sum())
    unconverged = int(cells["converged"].eq(False).sum())
    never = int((cells["never_moved"] > 0).sum())
    failures = control_failures(summary)
    lines = [f"report: {len(cells)} cells of {cells['method'].nunique()} methods; {floor} at their floor "
             f"({MARK_FLOOR}), {unconverged} with a run that did not converge ({MARK_UNCONVERGED}"
             + (f"; in {never} of them a run's validation score never moved: a head that never learnt)" if never else ")"),
             "report: controls " + ("passed" if not failures else f"FAILED in {len(failures)} cell(s): " + "; ".join(failures[:3]))]
    return "\n".join(lines)
