"""Split manifests as the stages read them: one row per id with its split and smallest training fraction.

``benchmark.splits`` writes them (from the label files and the protocol); every stage that
trains or evaluates reads them through :func:`read_splits`, the one place their format is
checked.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd

from benchmark.core.errors import DataError

SPLITS = ("train", "valid", "test")


def ids_for(splits: pd.DataFrame, split: str, fraction: int = 100) -> list[str]:
    """Ids of one split (and, for train, one training fraction), in manifest order."""
    rows = splits["split"] == split
    if split == "train":
        rows &= splits["min_fraction"].fillna(10**9) <= fraction
    return splits.loc[rows, "id"].tolist()


#: what the ``min_fraction`` of a training row may be (``benchmark.splits`` writes 1, 10, 100)
FRACTION_RANGE = (1, 100)


def checksum_path(path: Path) -> Path:
    """The sidecar that records a manifest's SHA-256 when it is written (``<name>.sha256``)."""
    return path.with_name(path.name + ".sha256")


def write_manifest(path: str | Path, frame: pd.DataFrame) -> str:
    """Write a manifest and, beside it, the SHA-256 of the bytes written; returns the digest."""
    from benchmark.core.atomic import write_csv, write_text

    path = Path(path)
    write_csv(path, frame)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    write_text(checksum_path(path), f"{digest}  {path.name}\n")
    return digest


def recorded_sha256(path: Path) -> str | None:
    """The SHA-256 recorded when ``path`` was written: its sidecar, or the entry of the
    ``index.json`` of a folder of committed manifests (``splits/index.json``)."""
    sidecar = checksum_path(path)
    if sidecar.is_file():
        return sidecar.read_text().split()[0] if sidecar.read_text().split() else ""
    index = path.parent.parent / "index.json"
    if index.is_file():
        try:
            entry = json.loads(index.read_text()).get(f"{path.parent.name}/{path.name}")
        except json.JSONDecodeError:
            raise DataError(index, "unreadable index.json of split manifests") from None
        return entry.get("sha256") if isinstance(entry, dict) else None
    return None


def read_splits(path: str | Path, sha256: str | None = None) -> pd.DataFrame:
    """A split manifest, checked on every read: the bytes are the ones recorded when it was
    written (a hand edit or a cut file is caught), the columns are ``id,split,min_fraction``,
    every id is non-empty and listed once (so no id is in two splits), every split is one of
    train / valid / test, and a training row's ``min_fraction`` is an integer in 1..100 while
    other rows have none. A failure names the file and its first bad row. ``sha256`` is for the
    writer itself, which checks the file it has just written before recording its digest."""
    from benchmark.data.readers.base import csv_row

    path = Path(path)
    if not path.is_file():
        raise DataError(path, "split manifest not found; run `python -m benchmark.splits write`")
    recorded = sha256 or recorded_sha256(path)
    if recorded is None:
        raise DataError(path, f"no checksum recorded for this manifest ({checksum_path(path).name} missing); write it "
                        "with `python -m benchmark.splits write`, never by hand")
    if hashlib.sha256(path.read_bytes()).hexdigest() != recorded:
        raise DataError(path, "split manifest changed since it was written (SHA-256 differs from the recorded one): "
                        "edited by hand or cut; write it again with `python -m benchmark.splits`")
    try:
        frame = pd.read_csv(path, dtype={"id": str, "split": str, "min_fraction": str}, keep_default_na=False,
                            encoding="utf-8-sig")
    except (pd.errors.ParserError, UnicodeDecodeError, EOFError, OSError) as err:
        raise DataError(path, f"unreadable split manifest ({str(err).splitlines()[0]})") from None
    if list(frame.columns) != ["id", "split", "min_fraction"]:
        raise DataError(path, f"split manifest columns must be id,split,min_fraction (got {','.join(frame.columns)})")
    ids = frame["id"].str.strip()
    bad = ids.eq("")
    if bad.any():
        raise DataError(path, "empty id", row=csv_row(int(bad.to_numpy().nonzero()[0][0])))
    repeated = ids.duplicated(keep="first")
    if repeated.any():
        i = int(repeated.to_numpy().nonzero()[0][0])
        first = int((ids == ids.iloc[i]).to_numpy().nonzero()[0][0])
        raise DataError(path, f"id {ids.iloc[i]!r} listed twice (first on row {csv_row(first)}, "
                        f"as {frame['split'].iloc[first]!r}): an id belongs to one split", row=csv_row(i))
    unknown = ~frame["split"].isin(SPLITS)
    if unknown.any():
        i = int(unknown.to_numpy().nonzero()[0][0])
        raise DataError(path, f"split must be one of {', '.join(SPLITS)}, got {frame['split'].iloc[i]!r}",
                        row=csv_row(i))
    fraction = pd.to_numeric(frame["min_fraction"].replace("", None), errors="coerce")
    train = frame["split"].eq("train").to_numpy()
    written = frame["min_fraction"].str.strip().ne("").to_numpy()
    lo, hi = FRACTION_RANGE
    valid_fraction = fraction.notna().to_numpy() & (fraction.fillna(0) % 1 == 0).to_numpy() \
        & fraction.fillna(0).between(lo, hi).to_numpy()
    bad_train = (train & ~valid_fraction).nonzero()[0]
    bad_other = (~train & written).nonzero()[0]
    if len(bad_train) and (not len(bad_other) or bad_train[0] < bad_other[0]):
        i = int(bad_train[0])
        raise DataError(path, f"a training row needs min_fraction, an integer in {lo}..{hi}, got "
                        f"{frame['min_fraction'].iloc[i]!r}", row=csv_row(i))
    if len(bad_other):
        i = int(bad_other[0])
        raise DataError(path, f"only training rows have a min_fraction ({frame['split'].iloc[i]} row has "
                        f"{frame['min_fraction'].iloc[i]!r})", row=csv_row(i))
    return pd.DataFrame({"id": ids, "split": frame["split"], "min_fraction": fraction.astype("Int64")})
