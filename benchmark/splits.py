"""Split manifests: train / valid / test and nested 1 / 10 / 100 % training fractions.

The mechanism is one function for every dataset and protocol; the protocol itself is
data (``benchmark/configs/protocols.yaml``). Units (patients) are ordered by a salted
SHA-256 of their id, so the split depends on the set of ids alone, never on row order;
sizes follow scikit-learn's ``train_test_split`` arithmetic (ceil of the held-out
share), which reproduces the published MGCA sizes exactly. Training fractions are
prefixes of a second salted order, hence nested (1 % is inside 10 % inside 100 %).

CLI::

    python -m benchmark.splits --dataset rsna --labels PATH --protocol mgca --json
    python -m benchmark.splits write --dataset rsna --labels PATH --protocol mgca --out FILE
    python -m benchmark.splits index --dir splits     # refresh splits/index.json (sha256, sizes)
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.resources
import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from benchmark.atomic import write_csv, write_json
from benchmark.errors import DataError, run_cli
from benchmark.readers.rsna import rsna_label_table

SPLITS = ("train", "valid", "test")
# How a share of n becomes a count. ``ceil`` is scikit-learn's rule for a float test_size;
# protocols whose published sizes were made otherwise name their rule in the config.
ROUNDING = {"ceil": math.ceil, "floor": math.floor, "round": lambda x: int(round(x))}

# dataset -> function(label file) -> table with ``id`` and ``group`` (one row per sample)
LABEL_TABLES = {"rsna": rsna_label_table}


def load_protocols() -> dict:
    text = importlib.resources.files("benchmark").joinpath("configs/protocols.yaml").read_text()
    return yaml.safe_load(text)


def protocol_spec(protocol: str, dataset: str) -> tuple[dict, list[int]]:
    protocols = load_protocols()
    if protocol not in protocols:
        raise DataError(None, f"unknown protocol {protocol!r} (have: {', '.join(protocols)})")
    datasets = protocols[protocol]["datasets"]
    if dataset not in datasets:
        raise DataError(None, f"protocol {protocol!r} has no rule for dataset {dataset!r}")
    return datasets[dataset], [int(f) for f in protocols[protocol]["fractions"]]


def _order(units: np.ndarray, salt: str) -> np.ndarray:
    """Units sorted by SHA-256(salt/unit): a seeded shuffle that ignores input order."""
    keys = [hashlib.sha256(f"{salt}/{u}".encode()).hexdigest() for u in units]
    return units[np.argsort(np.asarray(keys), kind="stable")]


def fraction_size(percent: int, n_train: int) -> int:
    """Rows in a training fraction: round(share * n) like pandas ``sample(frac=...)``, at least 1."""
    return n_train if percent >= 100 else max(1, int(round(percent / 100 * n_train)))


def make_splits(table: pd.DataFrame, spec: dict, fractions: list[int]) -> pd.DataFrame:
    """Assign every row of ``table`` (needs ``id`` and the unit column) to a split and fraction.

    Returns a frame sorted by id with ``id``, ``split`` and ``min_fraction`` (the
    smallest training fraction that contains the row; empty outside train).
    """
    if table["id"].duplicated().any():
        raise DataError(None, f"duplicate id {table['id'][table['id'].duplicated()].iloc[0]!r} in label table")
    unit_col = spec.get("unit", "group")
    units = np.asarray(sorted(table[unit_col].astype(str).unique()), dtype=object)
    ordered = _order(units, f"{spec['salt']}/split")
    n = len(ordered)
    rounding = ROUNDING[spec.get("rounding", "ceil")]
    n_hold = rounding(float(spec["holdout"]) * n)
    n_valid = rounding(float(spec["valid_of_holdout"]) * n_hold)
    train_units = ordered[: n - n_hold]
    unit_split = {u: "train" for u in train_units}
    unit_split.update({u: "valid" for u in ordered[n - n_hold: n - n_hold + n_valid]})
    unit_split.update({u: "test" for u in ordered[n - n_hold + n_valid:]})
    # fractions are drawn over training *rows* (images), in a salted order of their ids
    train_ids = table.loc[table[unit_col].astype(str).isin(set(train_units)), "id"].astype(str).to_numpy(dtype=object)
    frac_order = _order(np.asarray(sorted(train_ids), dtype=object), f"{spec['salt']}/fraction")
    min_fraction: dict[str, int] = {}
    for pct in sorted(fractions, reverse=True):
        for i in frac_order[: fraction_size(pct, len(frac_order))]:
            min_fraction[i] = pct
    out = pd.DataFrame({"id": table["id"].astype(str), "split": table[unit_col].astype(str).map(unit_split)})
    out["min_fraction"] = out["id"].map(min_fraction).astype("Int64")
    return out.sort_values("id", kind="stable").reset_index(drop=True)


def split_sizes(splits: pd.DataFrame, fractions: list[int]) -> dict:
    counts = {s: int((splits["split"] == s).sum()) for s in SPLITS}
    counts["fractions"] = {str(p): int((splits["min_fraction"] <= p).sum()) for p in fractions}
    return counts


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


def compute(dataset: str, labels: Path, protocol: str) -> tuple[pd.DataFrame, list[int]]:
    if dataset not in LABEL_TABLES:
        raise DataError(labels, f"no split rule for dataset {dataset!r} (have: {', '.join(LABEL_TABLES)})")
    spec, fractions = protocol_spec(protocol, dataset)
    return make_splits(LABEL_TABLES[dataset](labels), spec, fractions), fractions


def write_index(folder: Path) -> dict:
    """``index.json`` beside committed manifests: sha256 and sizes of every ``<dataset>/<protocol>.csv``."""
    index = {}
    for path in sorted(folder.glob("*/*.csv")):
        frame = read_splits(path)
        protocol = path.stem
        fractions = load_protocols()[protocol]["fractions"] if protocol in load_protocols() else [1, 10, 100]
        index[f"{path.parent.name}/{path.name}"] = {
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), **split_sizes(frame, fractions)}
    write_json(folder / "index.json", index)
    return index


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv.pop(0) if argv and argv[0] in ("sizes", "write", "index") else "sizes"
    if command == "index":
        parser = argparse.ArgumentParser(prog="python -m benchmark.splits index")
        parser.add_argument("--dir", type=Path, default=Path("splits"))
        index = write_index(parser.parse_args(argv).dir)
        print(f"splits index: {len(index)} manifest(s)")
        return 0
    parser = argparse.ArgumentParser(prog=f"python -m benchmark.splits {command}", description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--labels", required=True, type=Path, help="the dataset's raw label file")
    parser.add_argument("--protocol", default="mgca")
    if command == "write":
        parser.add_argument("--out", required=True, type=Path)
    else:
        parser.add_argument("--json", action="store_true", help="print sizes as JSON")
    args = parser.parse_args(argv)
    splits, fractions = compute(args.dataset, args.labels, args.protocol)
    sizes = split_sizes(splits, fractions)
    if command == "write":
        write_csv(args.out, splits)
        print(f"splits {args.dataset}/{args.protocol}: {json.dumps(sizes)} -> {args.out}")
    elif args.json:
        print(json.dumps({"dataset": args.dataset, "protocol": args.protocol, **sizes}, sort_keys=True))
    else:
        print(f"{args.dataset} / {args.protocol}: train {sizes['train']}, valid {sizes['valid']}, test {sizes['test']}; "
              + ", ".join(f"{p}%: {n}" for p, n in sizes["fractions"].items()))
    return 0


if __name__ == "__main__":
    run_cli(main)
