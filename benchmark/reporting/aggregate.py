"""Result aggregation: per-run JSON records -> one row per table cell, with its floor and marks.

Everything a table, a plot, the metrics file or a comparison says about a cell comes from
:func:`summarise`: mean and sample std over seeds, the seed count, the trivial floor the
runs recorded, the lowest bootstrap bound, whether every run converged and whether a run's
value was NaN. :func:`control_failures` reads the same rows for the controls.
"""

from __future__ import annotations

import pandas as pd

from benchmark.reporting.titles import METHOD_NAMES, dataset_title

# result fields that hold a second metric of the same run (field -> task): rows of their own
VARIANT_FIELDS = {"mean_dice_fg_bg": "segmentation", "map_mgca_compat": "detection"}
GROUP_KEYS = ["data_kind", "profile", "lm", "backend"]


def _column(frame: pd.DataFrame, name: str, default=None) -> pd.Series:
    return frame[name] if name in frame else pd.Series(default, index=frame.index, dtype=object)


def with_variants(results: pd.DataFrame) -> pd.DataFrame:
    """One extra row per run of a task and its metric variant (``VARIANT_FIELDS``), named by the
    field, with the variant's own floor and no interval; runs without the field (unavailable
    encoders) keep their reason."""
    parts = [results]
    for field, task in VARIANT_FIELDS.items():
        runs = results[results["task"] == task]
        if len(runs):
            parts.append(runs.assign(metric=field, value=_column(runs, field), floor=_column(runs, f"{field}_floor"),
                                     ci95=None))
    return pd.concat(parts, ignore_index=True)


#: a cell's marks: its interval includes the floor (no evidence above a trivial predictor), some run
#: did not converge (stopped at its epoch limit), some run's value is NaN
MARK_FLOOR, MARK_UNCONVERGED = "°", "†"
MARKS_LEGEND = (f"{MARK_FLOOR} the cell's 95 % bootstrap interval (lowest over its seeds) reaches the floor row's value "
                "(a cell without an interval: its mean is at or below the floor), so it shows no evidence of anything "
                f"a trivial predictor could not do. {MARK_UNCONVERGED} at least one run stopped at its epoch limit while "
                "its validation score was still improving, or had never moved from its first epoch's value (not "
                "converged).")


def summarise(results: pd.DataFrame) -> pd.DataFrame:
    """Per (group, method, dataset, task, metric, head, fraction): mean, std, seed count, the
    floor, the lowest bootstrap bound over the seeds and whether every run converged; values
    in %. A run whose value is NaN is counted in ``nan_runs`` and makes the cell's mean NaN:
    it is never averaged away."""
    keys = GROUP_KEYS + ["method", "dataset", "task", "metric", "head", "fraction"]
    results = with_variants(results)
    ci = _column(results, "ci95")
    results = results.assign(
        value=pd.to_numeric(results["value"]), head=_column(results, "head"), reason=_column(results, "reason"),
        floor=pd.to_numeric(_column(results, "floor"), errors="coerce"),
        ci_low=pd.to_numeric(ci.map(lambda c: c[0] if isinstance(c, list) and c else None), errors="coerce"),
        converged=_column(results, "converged").map(lambda c: None if c is None or pd.isna(c) else bool(c)),
        control=_column(results, "control"), title=_column(results, "title"), status=_column(results, "status", "ok"))
    results["nan_run"] = results["value"].isna() & results["status"].eq("ok")
    # a run whose validation score never left its first epoch's value: a head that never learnt
    results["never_moved"] = _column(results, "valid_moved").map(lambda m: m is not None and not pd.isna(m) and not m)
    grouped = results.groupby(keys, dropna=False)
    agg = grouped.agg(mean=("value", "mean"), std=("value", "std"), seeds=("value", "count"), reason=("reason", "first"),
                      floor=("floor", "first"), ci_low=("ci_low", "min"), nan_runs=("nan_run", "sum"),
                      never_moved=("never_moved", "sum"), control=("control", "first"), title=("title", "first")).reset_index()
    converged = grouped["converged"].agg(lambda c: None if c.isna().all() else bool(c.dropna().all()))
    agg["converged"] = pd.Series([None if c is None or pd.isna(c) else bool(c) for c in converged], index=agg.index,
                                 dtype=object)
    agg.loc[agg["nan_runs"] > 0, "mean"] = float("nan")
    agg[["mean", "std", "floor", "ci_low"]] = agg[["mean", "std", "floor", "ci_low"]] * 100
    evidence_bound = agg["ci_low"].where(agg["ci_low"].notna(), agg["mean"])
    agg["at_floor"] = pd.Series([None if pd.isna(b) or pd.isna(f) else bool(b <= f + 1e-9)
                                 for b, f in zip(evidence_bound, agg["floor"])], index=agg.index, dtype=object)
    return agg


def control_failures(summary: pd.DataFrame) -> list[str]:
    """Cells where a control does not do what it is there for, one line each: the positive
    control at the floor, the negative control clearly (its whole interval) above it. Only
    the headline metrics are checked: the variants have no interval."""
    out = []
    primary = ~summary["metric"].isin(list(VARIANT_FIELDS))
    for row in summary[primary & summary["control"].isin(["positive", "negative"])].itertuples():
        if row.seeds == 0 or pd.isna(row.floor):
            continue
        where = (f"{METHOD_NAMES.get(row.method, row.method)}: {dataset_title(row.dataset)} "
                 f"{row.task} {row.metric} at {int(row.fraction)}%")
        if row.control == "positive" and row.at_floor is not False:
            out.append(f"{where} = {row.mean:.1f}, not above the floor {row.floor:.1f} (interval from {row.ci_low:.1f})")
        elif row.control == "negative" and row.at_floor is False:
            out.append(f"{where} = {row.mean:.1f}, above the floor {row.floor:.1f} (interval from {row.ci_low:.1f}): "
                       "shuffled labels should teach nothing")
    return out
