"""``python -m benchmark.compare``: our results beside reference numbers, with tolerances.

The reference is a CSV with ``method, dataset, task, metric, fraction, value`` (in %, as
``benchmark/reference/published.csv``); an optional ``ours`` column names the variant of our
metric that the number was computed as: the published detection mAP is the reference code's
(images without a prediction or without a box skipped), so it is compared with our
``map_mgca_compat``, never with our all-image mAP. Our cells are the report's: mean over seeds, in %.
Every reference cell is compared; the command exits with 1 when a cell is outside its
tolerance or has no result (unless ``--allow-missing``), so CI can hold results to
committed golden numbers and a real-data run can be held to the paper's. A reference with
a ``protocol`` column is read for one protocol (``--protocol``, default mgca).

Golden numbers change only through ``--write-reference FILE``, which writes every cell of
the given results (mean over seeds, in %) for review as a diff, and compares nothing.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from tabulate import tabulate

from benchmark.core.errors import DataError, first_line
from benchmark.reporting.aggregate import control_failures, summarise
from benchmark.reporting.results import load_results

KEYS = ["method", "dataset", "task", "metric", "fraction"]


def read_reference(path: Path, protocol: str = "mgca") -> pd.DataFrame:
    if not path.is_file():
        raise DataError(path, "reference file not found")
    try:
        ref = pd.read_csv(path)
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise DataError(path, f"not a readable CSV ({first_line(err)})") from None
    missing = [k for k in KEYS + ["value"] if k not in ref]
    if missing:
        raise DataError(path, f"reference lacks column(s) {', '.join(missing)}")
    if "protocol" in ref:
        ref = ref[ref["protocol"] == protocol]
    ref = ref[ref["value"].notna()].copy()  # "-" cells of a publication carry no number to compare
    if "ours" in ref:  # the metric variant of our results that the published number used
        ref["metric"] = ref["ours"].where(ref["ours"].notna() & ref["ours"].astype(str).ne(""), ref["metric"])
    ref["fraction"] = ref["fraction"].astype(int)
    return ref


def parse_tolerances(items: list[str]) -> dict[str, float]:
    """``metric=points`` pairs, e.g. ``dice=2`` (absolute, in percentage points)."""
    out = {}
    for item in items:
        metric, _, value = item.partition("=")
        try:
            out[metric] = float(value)
        except ValueError:
            raise DataError(None, f"--metric-tolerance {item!r}: expected METRIC=POINTS") from None
    return out


def compare(ours: pd.DataFrame, ref: pd.DataFrame, tolerance: float, per_metric: dict[str, float]) -> pd.DataFrame:
    """One row per reference cell: ours, reference, delta, tolerance, floor and status:

    - ``ok``: within tolerance, and our cell is clear of its floor: evidence that the run
      reproduces the reference;
    - ``ok (floor)``: within tolerance, but our cell sits at its trivial floor (its interval
      reaches it), where a broken head scores the same as a working one: not evidence;
    - ``outside``: beyond tolerance; ``missing``: no result; ``nan``: our value is NaN (always
      a failure, ``--allow-missing`` or not).
    """
    extra = [c for c in ("floor", "at_floor", "nan_runs") if c in ours]
    mine = ours[KEYS + ["mean", "seeds", *extra]].rename(columns={"mean": "ours"})
    table = ref[KEYS + ["value"]].rename(columns={"value": "reference"}).merge(mine, on=KEYS, how="left")
    table["delta"] = table["ours"] - table["reference"]
    table["tolerance"] = table["metric"].map(per_metric).fillna(tolerance)
    table["status"] = "ok"
    if "at_floor" in table:
        table.loc[table["at_floor"].eq(True), "status"] = "ok (floor)"
    table.loc[table["delta"].abs() > table["tolerance"] + 1e-9, "status"] = "outside"
    table.loc[table["ours"].isna(), "status"] = "missing"
    if "nan_runs" in table:
        table.loc[table["nan_runs"].fillna(0) > 0, "status"] = "nan"
    return table


def golden_cells(summary: pd.DataFrame) -> pd.DataFrame:
    """Every cell with a result, as a reference CSV (mean over seeds in %, 4 decimals)."""
    cells = summary[summary["seeds"] > 0]
    out = cells[KEYS].assign(value=cells["mean"].round(4), seeds=cells["seeds"].astype(int))
    return out.sort_values(KEYS).reset_index(drop=True)


def run(args: argparse.Namespace) -> int:
    """What ``python -m benchmark.compare`` does with its parsed arguments."""
    results = load_results(args.results)
    if args.profile:
        results = results[results["profile"] == args.profile] if len(results) else results
    if results.empty:
        raise DataError(args.results, "no result files to compare")
    # as in the report, methods without a language model (init baselines) join any LM's group
    groups = results[["data_kind", "profile", "backend"]].drop_duplicates()
    lms = set(results["lm"]) - {"none"}
    if len(groups) > 1 or len(lms) > 1:
        raise DataError(args.results, "results from several data kinds, profiles, backends or LMs; pick one with --profile")
    if args.write_reference:
        from benchmark.core.atomic import write_csv

        cells = golden_cells(summarise(results))
        write_csv(args.write_reference, cells)
        print(f"compare: wrote {len(cells)} golden cells to {args.write_reference}; review the diff before committing")
        return 0
    if not args.reference:
        raise DataError(None, "give --reference FILE to compare with, or --write-reference FILE")
    summary = summarise(results)
    table = compare(summary, read_reference(args.reference, args.protocol), args.tolerance,
                    parse_tolerances(args.metric_tolerance))
    shown = table.drop(columns=[c for c in ("at_floor", "nan_runs") if c in table])
    shown = shown.assign(**{c: shown[c].round(2) for c in ("ours", "delta", "floor") if c in shown})
    print(tabulate(shown, headers="keys", tablefmt="github", showindex=False))
    failing = table["status"].isin(["outside", "nan"]) | (table["status"].eq("missing") & (not args.allow_missing))
    evidence, at_floor = int(table["status"].eq("ok").sum()), int(table["status"].eq("ok (floor)").sum())
    print(f"compare: {evidence + at_floor} of {len(table)} cells within tolerance: {evidence} as evidence, {at_floor} at "
          f"their trivial floor (not evidence)" + (f"; {int(failing.sum())} failing" if failing.any() else ""))
    controls = control_failures(summary)
    for line in controls:
        print(f"compare: CONTROL FAILED{'' if args.controls else ' (not checked: no --controls)'}: {line}")
    controls = controls if args.controls else []
    if evidence < args.min_evidence:
        print(f"compare: only {evidence} evidence cells, fewer than --min-evidence {args.min_evidence}")
    return 1 if failing.any() or controls or evidence < args.min_evidence else 0
