"""MGCA's own split files as our manifests: ``python -m benchmark.splits import-mgca``.

MGCA's preprocessing (HKU-MedAI/MGCA@680fe4a ``mgca/preprocess/*.py``) writes one file per split
into its data folder; its dataset classes then draw the 1 % / 10 % training subsets at run time.
Our salted order cannot reproduce that membership, so a user who has MGCA's files imports them:
train / valid / test come from the files exactly; the subsets are re-drawn as MGCA draws them
where that is deterministic given the file (``DataFrame.sample(frac, random_state=42)`` of the
classification datasets, nested because pandas takes the first rows of one permutation), and
from NumPy's global generator seeded with 42 where MGCA calls ``np.random.choice`` (RSNA and
Object-CXR detection: exact only if that draw is the first after ``seed_everything(42)``, which
the importer says). Where MGCA's own files are inconsistent, the manifest cannot be: an id in two
splits (MGCA's CheXpert valid rows stay in its train file, ``chexpert.py:52-53``) is kept in the
evaluation split and dropped from train, and the importer prints how many.
"""

from __future__ import annotations

import argparse
import json
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.core.errors import DataError

SPLITS = ("train", "valid", "test")
FRACTIONS = (1, 10)


@dataclass(frozen=True)
class MgcaLayout:
    """Where MGCA writes one dataset's splits and how its ids become ours."""

    files: dict[str, str]  # split -> file, relative to MGCA's data folder
    column: str | None  # the CSV's id column; None: a pickle [filenames, boxes]
    prefix: dict[str, str] = field(default_factory=dict)  # split -> folder our ids start with
    drop_first_part: bool = False  # CheXpert's "CheXpert-v1.0-small/train/..." -> "train/..."
    strip_suffix: str = ""  # RSNA's "<patientId>.dcm" -> "<patientId>"
    subsets: str = "sample"  # sample: pandas sample(frac, 42); choice: np.random.seed(42) + choice; ours: our salted order
    frontal_only: bool = False  # CheXpert: the loader keeps Frontal rows before drawing the subset
    source: str = ""


LAYOUTS: dict[str, MgcaLayout] = {
    "chexpert": MgcaLayout({"train": "CheXpert-v1.0/train_split.csv", "valid": "CheXpert-v1.0/valid_split.csv",
                            "test": "CheXpert-v1.0/valid.csv"}, "Path", drop_first_part=True, frontal_only=True,
                           source="mgca/preprocess/chexpert.py:59-61, classification_dataset.py:48-59"),
    "rsna": MgcaLayout({"train": "RSNA_Pneumonia/train.csv", "valid": "RSNA_Pneumonia/val.csv", "test": "RSNA_Pneumonia/test.csv"},
                       "patientId", source="mgca/preprocess/rsna.py:62-64, classification_dataset.py:162-166"),
    "rsna-detection": MgcaLayout({"train": "RSNA_Pneumonia/train.pkl", "valid": "RSNA_Pneumonia/val.pkl",
                                  "test": "RSNA_Pneumonia/test.pkl"}, None, strip_suffix=".dcm", subsets="choice",
                                 source="mgca/preprocess/rsna.py:110-126, detection_dataset.py:53-57"),
    "covidx": MgcaLayout({"train": "COVIDx/train.csv", "valid": "COVIDx/valid.csv", "test": "COVIDx/test.csv"}, "filename",
                         prefix={"train": "train/", "valid": "train/", "test": "test/"},
                         source="mgca/preprocess/covidx.py:35-46, classification_dataset.py:195-209"),
    "siim": MgcaLayout({"train": "SIIM_Pneumothorax/train.csv", "valid": "SIIM_Pneumothorax/valid.csv",
                        "test": "SIIM_Pneumothorax/test.csv"}, "ImageId", subsets="ours",
                       source="mgca/preprocess/siim.py:37-51 (the subset follows a random cut of negatives: not reproducible)"),
    "object_cxr": MgcaLayout({"train": "object-CXR/train.pkl", "valid": "object-CXR/valid.pkl", "test": "object-CXR/test.pkl"},
                             None, prefix={"train": "train/", "valid": "train/", "test": "dev/"}, subsets="choice",
                             source="mgca/preprocess/object_cxr.py:96-105, detection_dataset.py:132-135"),
}


def _read_ids(path: Path, layout: MgcaLayout, split: str) -> pd.DataFrame:
    """One MGCA split file as rows of (id, frontal) in file order, ids in our form."""
    if not path.is_file():
        raise DataError(path, "MGCA split file missing (run MGCA's preprocessing, or give its data folder)")
    try:
        if layout.column is None:
            with path.open("rb") as f:
                names = list(pickle.load(f)[0])
            frame = pd.DataFrame({"raw": [str(n) for n in names]})
        else:
            frame = pd.read_csv(path)
            if layout.column not in frame:
                raise DataError(path, f"no {layout.column!r} column (has: {', '.join(map(str, frame.columns[:8]))})")
            frame = frame.rename(columns={layout.column: "raw"})
    except (OSError, pickle.UnpicklingError, pd.errors.ParserError, IndexError, TypeError, ValueError, EOFError) as err:
        raise DataError(path, f"cannot read MGCA split file ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})") from None
    ids = frame["raw"].astype(str)
    if layout.drop_first_part:
        ids = ids.str.split("/", n=1).str[1]
    if layout.strip_suffix:
        ids = ids.str.removesuffix(layout.strip_suffix)
    ids = layout.prefix.get(split, "") + ids
    frontal = frame["Frontal/Lateral"].eq("Frontal") if layout.frontal_only and "Frontal/Lateral" in frame else True
    return pd.DataFrame({"id": ids, "frontal": frontal})


def _subset_rank(train: pd.DataFrame, layout: MgcaLayout, dataset: str) -> pd.Series:
    """The smallest MGCA training fraction (1, 10 or 100) of each training row, drawn as MGCA draws it."""
    rank = pd.Series(100, index=train.index, dtype="Int64")
    if layout.subsets == "ours":
        from benchmark.data.splits import fraction_size, salted_order

        ids = train["id"].to_numpy()
        order = pd.Index(ids).get_indexer(salted_order(ids, f"{dataset}-mgca-import"))  # row positions, nested
        for pct in sorted(FRACTIONS, reverse=True):
            rank.iloc[order[: fraction_size(pct, len(train))]] = pct
        return rank
    pool = train[train["frontal"]] if layout.frontal_only else train
    for pct in sorted(FRACTIONS, reverse=True):  # 10 first, then 1 overwrites its subset of it
        if layout.subsets == "sample":
            chosen = pool.sample(frac=pct / 100, random_state=42).index
        else:
            np.random.seed(42)
            chosen = pool.index[np.random.choice(len(pool), int(pct / 100 * len(pool)), replace=False)]
        rank.loc[chosen] = pct
    if layout.frontal_only:
        rank[~train["frontal"]] = pd.NA  # the loader drops them from every split
    return rank


def import_mgca(dataset: str, mgca_dir: Path) -> tuple[pd.DataFrame, list[str]]:
    """The manifest (id, split, min_fraction) of MGCA's files for ``dataset``, and what to tell the user."""
    if dataset not in LAYOUTS:
        raise DataError(mgca_dir, f"no MGCA split layout for {dataset!r} (have: {', '.join(LAYOUTS)})")
    layout = LAYOUTS[dataset]
    parts = {split: _read_ids(mgca_dir / layout.files[split], layout, split) for split in SPLITS}
    notes = [f"MGCA's files: {', '.join(f'{s} {len(p)}' for s, p in parts.items())} ({layout.source})"]
    for split, frame in parts.items():
        repeated = int(frame["id"].duplicated().sum())
        if repeated:
            notes.append(f"{split}: {repeated} repeated id(s) (one row per mask or box in MGCA's file) counted once")
            parts[split] = frame.drop_duplicates("id")
    evaluation = set(parts["valid"]["id"]) | set(parts["test"]["id"])
    both = set(parts["valid"]["id"]) & set(parts["test"]["id"])
    if both:
        raise DataError(mgca_dir / layout.files["test"], f"{len(both)} id(s) in both MGCA's valid and test files "
                        f"(e.g. {sorted(both)[0]}): cannot import")
    leaked = parts["train"]["id"].isin(evaluation)
    if leaked.any():
        notes.append(f"{int(leaked.sum())} id(s) of MGCA's train file are also in valid or test: kept there, "
                     "dropped from train (nothing evaluated may train)")
    train = parts["train"].reset_index(drop=True)
    train["min_fraction"] = _subset_rank(train, layout, dataset)
    train = train[~leaked.to_numpy()]
    if layout.frontal_only:
        dropped = int(train["min_fraction"].isna().sum())
        if dropped:
            notes.append(f"{dropped} lateral training row(s) left out (MGCA's loader keeps frontal views)")
        train = train[train["min_fraction"].notna()]
    if layout.subsets == "choice":
        notes.append("1 % / 10 % drawn with np.random.seed(42) + np.random.choice: MGCA's own draw is this one only if "
                     "it is the first from NumPy's global generator after seed_everything(42)")
    elif layout.subsets == "ours":
        notes.append("1 % / 10 %: our nested salted order within MGCA's training split (MGCA's draw is not reproducible)")
    rows = [train.assign(split="train")[["id", "split", "min_fraction"]]]
    for split in ("valid", "test"):
        rows.append(parts[split].assign(split=split, min_fraction=pd.NA)[["id", "split", "min_fraction"]])
    out = pd.concat(rows, ignore_index=True)
    out["min_fraction"] = out["min_fraction"].astype("Int64")
    return out.sort_values("id", kind="stable").reset_index(drop=True), notes


def check_ids_exist(manifest: pd.DataFrame, ours: pd.Series, where: Path) -> None:
    """Every imported id is an id of our label table (else the two releases differ: refuse)."""
    missing = ~manifest["id"].isin(set(ours.astype(str)))
    if missing.any():
        raise DataError(where, f"{int(missing.sum())} of {len(manifest)} MGCA id(s) are not in this dataset's label file "
                        f"(e.g. {manifest.loc[missing, 'id'].iloc[0]!r}): another release or layout")


def import_mgca_command(args: argparse.Namespace) -> int:
    """``import-mgca``: MGCA's split files of one dataset as a manifest (see :mod:`benchmark.data.mgca_splits`)."""
    from benchmark.core.guards import check_no_overlap
    from benchmark.data.datasets import LABEL_TABLES
    from benchmark.data.split_manifest import checksum_path, write_manifest
    from benchmark.data.splits import find_label_file, split_sizes

    check_no_overlap(args.out, [args.mgca_data, args.root])
    if args.out.exists() and not checksum_path(args.out).is_file():
        raise DataError(args.out, "exists and is not a split manifest (no checksum beside it); give a new file")
    manifest, notes = import_mgca(args.dataset, args.mgca_data)
    ours = args.dataset.removesuffix("-detection")
    if args.root is not None:
        labels = find_label_file(ours, args.root)
        check_ids_exist(manifest, LABEL_TABLES[ours](labels)["id"], labels)
    else:
        notes.append("ids not checked against our label file (give --root)")
    write_manifest(args.out, manifest)
    for note in notes:
        print(f"import-mgca {args.dataset}: {note}")
    print(f"import-mgca {args.dataset}: {json.dumps(split_sizes(manifest, [1, 10, 100]))} -> {args.out}")
    return 0
