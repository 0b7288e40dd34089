"""One JSON file per run, one schema for every task and method.

The report and the comparison read only these files, never logs; each file carries
what is needed to trace the number: method, dataset, task, fraction, seed, metric,
value with a bootstrap interval, the LM, the data profile and kind (phantom or real),
the backend, the encoder checksum and the wall time.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.atomic import write_json
from benchmark.errors import DataError

RESULT_SCHEMA = 1
#: what identifies one run: two files with the same values are the same run written twice
RUN_KEYS = ("method", "dataset", "task", "head", "fraction", "seed", "metric", "profile", "data_kind", "lm", "backend",
            "protocol")
REQUIRED_KEYS = ("schema", "method", "dataset", "task", "fraction", "seed", "metric", "value", "data_kind",
                 "profile", "lm", "backend")


def result_name(method: str, dataset: str, task: str, fraction: int, seed: int) -> str:
    return f"{method}__{dataset}__{task}__f{fraction}__s{seed}.json"


def write_result(folder: str | Path, record: dict) -> Path:
    record = {"schema": RESULT_SCHEMA, **record}
    missing = [k for k in REQUIRED_KEYS if k not in record]
    if missing:
        raise ValueError(f"result lacks {missing}")
    path = Path(folder) / result_name(record["method"], record["dataset"], record["task"],
                                      int(record["fraction"]), int(record["seed"]))
    write_json(path, record)
    return path


def load_results(folder: str | Path) -> pd.DataFrame:
    """Every result JSON under ``folder`` as one table (one row per run)."""
    rows = []
    for path in sorted(Path(folder).rglob("*.json")):
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
