"""Split manifests as the stages read them: one row per id with its split and smallest training fraction.

``benchmark.splits`` writes them (from the label files and the protocol); every stage that
trains or evaluates reads them through :func:`read_splits`, the one place their format is
checked.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmark.errors import DataError

SPLITS = ("train", "valid", "test")


def ids_for(splits: pd.DataFrame, split: str, fraction: int = 100) -> list[str]:
    """Ids of one split (and, for train, one training fraction), in manifest order."""
    rows = splits["split"] == split
    if split == "train":
        rows &= splits["min_fraction"].fillna(10**9) <= fraction
    return splits.loc[rows, "id"].tolist()


def read_splits(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "split manifest not found; run `python -m benchmark.splits write`")
    frame = pd.read_csv(path, dtype={"id": str, "split": str})
    if list(frame.columns) != ["id", "split", "min_fraction"]:
        raise DataError(path, f"split manifest columns must be id,split,min_fraction (got {','.join(frame.columns)})")
    frame["min_fraction"] = frame["min_fraction"].astype("Int64")
    return frame
