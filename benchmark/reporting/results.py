"""One JSON file per run, one schema for every task and method.

The report and the comparison read only these files, never logs; each file carries
what is needed to trace the number: method, dataset, task, fraction, seed, metric,
value with a bootstrap interval, the LM, the data profile and kind (phantom or real),
the backend and the encoder checksum.

A result file holds only what the run computed, so the same seed on the same data gives
the same bytes: run timings (``TIMING_FIELDS``: wall time, map-caching time), which
differ from run to run, go to one ``timings.csv`` beside the result files (a row per
result file, column ``result`` naming it; :func:`load_timings` reads them).
Files and folders whose name starts with ``.`` are temporary or stale siblings of an
output (:mod:`benchmark.core.atomic`) and are never read as results.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.core.atomic import is_hidden, write_csv, write_json
from benchmark.core.errors import DataError

RESULT_SCHEMA = 1
#: what identifies one run: two files with the same values are the same run written twice
RUN_KEYS = ("method", "dataset", "task", "head", "fraction", "seed", "metric", "profile", "data_kind", "lm", "backend",
            "protocol")
REQUIRED_KEYS = ("schema", "method", "dataset", "task", "fraction", "seed", "metric", "value", "data_kind",
                 "profile", "lm", "backend")


#: fields that measure how long a run took, not what it computed: kept out of the result file
TIMING_FIELDS = ("wall_time_s", "feature_cache_s")
TIMINGS_FILE = "timings.csv"


def result_name(method: str, dataset: str, task: str, fraction: int, seed: int) -> str:
    return f"{method}__{dataset}__{task}__f{fraction}__s{seed}.json"


def record_timing(folder: str | Path, result: str, timing: dict) -> None:
    """Set the row of result file ``result`` in ``folder/timings.csv`` (rewritten atomically)."""
    path = Path(folder) / TIMINGS_FILE
    rows = pd.read_csv(path).to_dict("records") if path.is_file() else []
    rows = [row for row in rows if row["result"] != result] + [{"result": result, **timing}]
    write_csv(path, pd.DataFrame(sorted(rows, key=lambda row: row["result"])))


def write_result(folder: str | Path, record: dict) -> Path:
    """Write one run's result JSON (its timings, if any, to ``timings.csv``); returns the result path."""
    record = {"schema": RESULT_SCHEMA, **record}
    missing = [k for k in REQUIRED_KEYS if k not in record]
    if missing:
        raise ValueError(f"result lacks {missing}")
    timing = {k: record.pop(k) for k in TIMING_FIELDS if k in record}
    path = Path(folder) / result_name(record["method"], record["dataset"], record["task"],
                                      int(record["fraction"]), int(record["seed"]))
    if timing:
        record_timing(folder, path.name, timing)
    write_json(path, record)
    return path


def _visible(folder: Path, pattern: str) -> list[Path]:
    return [p for p in sorted(folder.rglob(pattern)) if not is_hidden(p, folder)]


def load_timings(folder: str | Path) -> pd.DataFrame:
    """Every ``timings.csv`` under ``folder`` as one table; ``result`` is the path of the result file."""
    parts = []
    for path in _visible(Path(folder), TIMINGS_FILE):
        table = pd.read_csv(path)
        parts.append(table.assign(result=[str(path.parent / name) for name in table["result"]]))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["result"])


#: result fields that hold a score in [0, 1] (NaN allowed: the report marks it and compare fails on it)
SCORE_FIELDS = ("value", "mean_dice_fg_bg", "map_mgca_compat")


def check_scores(record: dict, path: Path) -> None:
    """A run's scores are fractions in [0, 1] or NaN: a percentage (62.0) or a stray number where a
    fraction belongs would otherwise be averaged into a table."""
    if record.get("status", "ok") != "ok":
        return
    for field in SCORE_FIELDS:
        value = record.get(field)
        if field == "value" and value is None:
            raise DataError(path, "a result with status ok has no value")
        if value is None or (isinstance(value, float) and np.isnan(value)):
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise DataError(path, f"{field} {value!r} is not a score in [0, 1] (a percentage where a fraction belongs?)")


def load_results(folder: str | Path) -> pd.DataFrame:
    """Every result JSON under ``folder`` as one table (one row per run); hidden (temporary)
    files and folders are skipped."""
    rows = []
    for path in _visible(Path(folder), "*.json"):
        try:
            record = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise DataError(path, f"not valid JSON ({err.msg} at line {err.lineno})") from None
        if not isinstance(record, dict) or "metric" not in record:
            continue  # not a result file (e.g. a metrics summary)
        missing = [k for k in REQUIRED_KEYS if k not in record]
        if missing:
            raise DataError(path, f"result file lacks {', '.join(missing)}")
        if record["schema"] != RESULT_SCHEMA:
            raise DataError(path, f"result schema {record['schema']} != {RESULT_SCHEMA}")
        check_scores(record, path)
        lm = record.get("lm") or {}
        rows.append({**record, "lm": lm.get("name", "none") if isinstance(lm, dict) else str(lm), "file": str(path)})
    frame = pd.DataFrame(rows)
    if len(frame):
        run_keys = [k for k in RUN_KEYS if k in frame]
        repeated = frame[frame.duplicated(run_keys, keep=False)]
        if len(repeated):  # e.g. a stale folder from a renamed stage: counting it twice would bias the means
            files = repeated.sort_values(run_keys)["file"].tolist()
            raise DataError(files[1], f"the same run as {files[0]} (one result file per run)")
    return frame


def bootstrap_ci(metric, y_true: np.ndarray, y_score: np.ndarray, n: int = 1000, seed: int = 0,
                 alpha: float = 0.05) -> tuple[float, float]:
    """Percentile bootstrap interval of ``metric`` over test samples (resamples lacking a class,
    or on which ``metric`` is undefined (NaN), are skipped)."""
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n):
        idx = rng.integers(0, len(y_true), len(y_true))
        if len(np.unique(y_true[idx])) < 2:
            continue
        value = metric(y_true[idx], y_score[idx])
        if not np.isnan(value):
            values.append(value)
    if not values:
        return float("nan"), float("nan")
    lo, hi = np.quantile(values, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


#: the probe's latent-space geometry records (:mod:`benchmark.evaluation.geometry`), one per
#: (method, dataset): ``geometry__<dataset>.json`` beside the probe's results
GEOMETRY_PREFIX = "geometry__"


def write_geometry(folder: str | Path, record: dict) -> Path:
    path = Path(folder) / f"{GEOMETRY_PREFIX}{record['dataset']}.json"
    write_json(path, record)
    return path


def load_geometry(folder: str | Path) -> pd.DataFrame:
    """Every geometry JSON under ``folder``, one row per (method, dataset)."""
    rows = []
    for path in sorted(Path(folder).rglob(f"{GEOMETRY_PREFIX}*.json")):
        try:
            rows.append({**json.loads(path.read_text()), "file": str(path)})
        except json.JSONDecodeError as err:
            raise DataError(path, f"not valid JSON ({err.msg} at line {err.lineno})") from None
    return pd.DataFrame(rows)
