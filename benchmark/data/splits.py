"""Split manifests: train / valid / test and nested 1 / 10 / 100 % training fractions.

The mechanism is one function for every dataset and protocol; the protocol itself is
data (``benchmark/configs/protocols.yaml``). Units (patients) are ordered by a salted
SHA-256 of their id, so the split depends on the set of ids alone, never on row order;
sizes follow scikit-learn's ``train_test_split`` arithmetic (ceil of the held-out
share), which reproduces the published MGCA sizes exactly. Training fractions are
prefixes of a second salted order, hence nested (1 % is inside 10 % inside 100 %).

CLI::

    python -m benchmark.splits --dataset rsna --labels PATH --protocol mgca --json
    python -m benchmark.splits write --dataset rsna --labels PATH|--root DIR --protocol mgca --out FILE
    python -m benchmark.splits write-all --root data/raw/phantom --out data/splits   # params' split_manifests
    python -m benchmark.splits publish --out splits   # rebuild the committed manifests + index.json
    python -m benchmark.splits verify --dataset rsna --root DIR [--protocol mgca]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.resources
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from benchmark.core.atomic import atomic_dir, write_csv, write_json
from benchmark.core.errors import DataError
from benchmark.data.datasets import DATASETS, LABEL_TABLES
from benchmark.data.split_manifest import SPLITS, checksum_path, read_splits, write_manifest

MANIFEST_SUFFIX = ".csv.gz"  # committed manifests: splits/<dataset>/<protocol>.csv.gz
# How a share of n becomes a count. ``ceil`` is scikit-learn's rule for a float test_size;
# protocols whose published sizes were made otherwise name their rule in the config.
ROUNDING = {"ceil": math.ceil, "floor": math.floor, "round": lambda x: int(round(x))}

def load_protocols() -> dict:
    """``protocols.yaml``, with the rules plug-in datasets bring for protocols it has no rule for."""
    text = importlib.resources.files("benchmark").joinpath("configs/protocols.yaml").read_text()
    protocols = yaml.safe_load(text)
    for name, spec in DATASETS.items():
        for protocol, rule in spec.protocols.items():
            if protocol in protocols:
                protocols[protocol]["datasets"].setdefault(name, rule)
    return protocols


def protocol_spec(protocol: str, dataset: str) -> tuple[dict, list[int]]:
    protocols = load_protocols()
    if protocol not in protocols:
        raise DataError(None, f"unknown protocol {protocol!r} (have: {', '.join(protocols)})")
    datasets = protocols[protocol]["datasets"]
    if dataset not in datasets:
        raise DataError(None, f"protocol {protocol!r} has no rule for dataset {dataset!r}")
    return datasets[dataset], [int(f) for f in protocols[protocol]["fractions"]]


def salted_order(units: np.ndarray, salt: str) -> np.ndarray:
    """Units sorted by SHA-256(salt/unit): a seeded shuffle that ignores input order."""
    keys = [hashlib.sha256(f"{salt}/{u}".encode()).hexdigest() for u in units]
    return units[np.argsort(np.asarray(keys), kind="stable")]


def fraction_size(percent: int, n_train: int) -> int:
    """Rows in a training fraction: round(share * n) like pandas ``sample(frac=...)``, at least 1."""
    return n_train if percent >= 100 else max(1, int(round(percent / 100 * n_train)))


def _count(rule, n: int, rounding) -> int:
    """A split size from a rule: a share of ``n``, or ``{count: C, max_share: S}`` (C, capped at S * n)."""
    if isinstance(rule, dict):
        count = int(rule["count"])
        if "max_share" in rule:
            count = min(count, rounding(float(rule["max_share"]) * n))
        return min(count, n)
    return rounding(float(rule) * n)


def _allocate(total: int, sizes: dict[str, int]) -> dict[str, int]:
    """Split ``total`` over strata proportionally to ``sizes`` (largest remainder, ties by name)."""
    n = sum(sizes.values())
    if n == 0:
        return {k: 0 for k in sizes}
    exact = {k: total * v / n for k, v in sizes.items()}
    out = {k: int(np.floor(x)) for k, x in exact.items()}
    rest = total - sum(out.values())
    for k in sorted(exact, key=lambda k: (-(exact[k] - out[k]), k))[:rest]:
        out[k] += 1
    return out


def _unit_strata(table: pd.DataFrame, unit_col: str, strat_col: str | None) -> pd.Series:
    """Stratum of each unit: its most frequent ``strat`` key (ties: smallest key); one stratum if none."""
    units = table[unit_col].astype(str)
    if strat_col is None:
        return pd.Series("all", index=sorted(units.unique()))
    counts = pd.DataFrame({"unit": units, "strat": table[strat_col].astype(str)}).value_counts().reset_index()
    counts = counts.sort_values(["unit", "count", "strat"], ascending=[True, False, True])
    return counts.drop_duplicates("unit").set_index("unit")["strat"].sort_index()


def _assign(units_by_stratum: dict[str, np.ndarray], counts: dict[str, dict[str, int]]) -> dict[str, str]:
    """Walk each stratum's hash-ordered units: first the valid count, then test, the rest train."""
    out: dict[str, str] = {}
    for stratum, units in units_by_stratum.items():
        n_valid, n_test = counts["valid"].get(stratum, 0), counts["test"].get(stratum, 0)
        for i, u in enumerate(units):
            out[u] = "valid" if i < n_valid else "test" if i < n_valid + n_test else "train"
    return out


def _fraction_order(ids: pd.Series, strata: pd.Series | None, salt: str) -> np.ndarray:
    """Training rows in the order fractions are taken from.

    Unstratified: a salted hash order. Stratified: each row gets the key
    (rank in its stratum's hash order + 0.5) / stratum size, so every prefix holds the
    strata in proportion (largest strata first at equal keys), and the total of each
    prefix is exact.
    """
    ordered = salted_order(np.asarray(sorted(ids), dtype=object), salt)
    if strata is None:
        return ordered
    stratum_of = dict(zip(ids, strata))
    counts = strata.value_counts()
    seen: dict[str, int] = {}
    keys = []
    for i in ordered:
        st = stratum_of[i]
        rank = seen.get(st, 0)
        seen[st] = rank + 1
        keys.append(((rank + 0.5) / counts[st], -counts[st], st))
    return ordered[sorted(range(len(ordered)), key=keys.__getitem__)]


def make_splits(table: pd.DataFrame, spec: dict, fractions: list[int]) -> pd.DataFrame:
    """Assign every row of ``table`` to a split and a minimal training fraction.

    ``table`` needs ``id``, the unit column (``spec['unit']``: ``id`` for image-level
    protocols, ``group`` for patient-level ones), ``official_split`` when the spec says
    ``test: official``, and the ``stratify`` column when one is named. Sizes are counted
    in units. Returns a frame sorted by id with ``id``, ``split`` and ``min_fraction``
    (smallest training fraction containing the row; empty outside train).
    """
    if table["id"].duplicated().any():
        raise DataError(None, f"duplicate id {table['id'][table['id'].duplicated()].iloc[0]!r} in label table")
    unit_col = spec.get("unit", "group")
    strat_col = spec.get("stratify")
    rounding = ROUNDING[spec.get("rounding", "ceil")]
    salt = spec["salt"]
    units_of = table[unit_col].astype(str)
    official_test = spec.get("test") == "official"
    if official_test:
        if "official_split" not in table:
            raise DataError(None, "protocol takes the official test set but the label table has no official_split")
        test_units = set(units_of[table["official_split"].astype(str) == "test"])
        pool = table[~units_of.isin(test_units)]
    else:
        test_units, pool = set(), table
    strata = _unit_strata(pool, unit_col, strat_col)
    by_stratum = {k: salted_order(np.asarray(v.index, dtype=object), f"{salt}/split")
                  for k, v in strata.groupby(strata, sort=True)}
    sizes = {k: len(v) for k, v in by_stratum.items()}
    n = len(strata)
    if official_test:
        n_valid, n_test = _count(spec["valid"], n, rounding), 0
    else:
        n_hold = _count(spec["holdout"], n, rounding)
        n_valid = _count(spec["valid_of_holdout"], n_hold, rounding)
        n_test = n_hold - n_valid
    counts = {"valid": _allocate(n_valid, sizes), "test": _allocate(n_test, sizes)}
    unit_split = _assign(by_stratum, counts)
    unit_split.update({u: "test" for u in test_units})

    split = units_of.map(unit_split)
    train = table[split == "train"]
    order = _fraction_order(train["id"].astype(str), train[strat_col].astype(str) if strat_col else None,
                            f"{salt}/fraction")
    min_fraction: dict[str, int] = {}
    for pct in sorted(fractions, reverse=True):  # nested: every fraction is a prefix of one order
        for i in order[: fraction_size(pct, len(order))]:
            min_fraction[i] = pct
    out = pd.DataFrame({"id": table["id"].astype(str), "split": split})
    out["min_fraction"] = out["id"].map(min_fraction).astype("Int64")
    return out.sort_values("id", kind="stable").reset_index(drop=True)


def split_sizes(splits: pd.DataFrame, fractions: list[int]) -> dict:
    counts = {s: int((splits["split"] == s).sum()) for s in SPLITS}
    counts["fractions"] = {str(p): int((splits["min_fraction"] <= p).sum()) for p in fractions}
    return counts


def compute(dataset: str, labels: Path, protocol: str) -> tuple[pd.DataFrame, list[int]]:
    if dataset not in LABEL_TABLES:
        raise DataError(labels, f"no split rule for dataset {dataset!r} (have: {', '.join(LABEL_TABLES)})")
    spec, fractions = protocol_spec(protocol, dataset)
    return make_splits(LABEL_TABLES[dataset](labels), spec, fractions), fractions


def write_index(folder: Path) -> dict:
    """``index.json`` beside committed manifests: sha256 and sizes of every ``<dataset>/<protocol>.csv``."""
    index = {}
    for path in sorted(folder.glob(f"*/*{MANIFEST_SUFFIX}")):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        frame = read_splits(path, sha256=digest)  # the index is being written: the digest is the file's own
        protocol = path.name.removesuffix(MANIFEST_SUFFIX)
        fractions = load_protocols()[protocol]["fractions"] if protocol in load_protocols() else [1, 10, 100]
        index[f"{path.parent.name}/{path.name}"] = {"sha256": digest, **split_sizes(frame, fractions)}
    write_json(folder / "index.json", index)
    return index


def find_label_file(dataset: str, root: Path) -> Path:
    pattern = DATASETS[dataset].label_file if dataset in DATASETS else None
    if pattern is None:
        raise DataError(root, f"no label-file rule for dataset {dataset!r}")
    hits = sorted(Path(root).glob(pattern))
    if len(hits) != 1:
        raise DataError(root, f"expected one {pattern} in the dataset root, found {len(hits)}")
    return hits[0]


def compare(local: pd.DataFrame, committed: pd.DataFrame) -> dict:
    """Differences between two manifests, by id."""
    a, b = local.set_index("id"), committed.set_index("id")
    common = a.index.intersection(b.index)
    changed = common[(a.loc[common, "split"] != b.loc[common, "split"]).to_numpy()
                     | (a.loc[common, "min_fraction"].fillna(0) != b.loc[common, "min_fraction"].fillna(0)).to_numpy()]
    return {"only_local": sorted(a.index.difference(b.index)), "only_committed": sorted(b.index.difference(a.index)),
            "changed": sorted(changed)}


def verify(dataset: str, root: Path, protocol: str, manifests: Path) -> int:
    """Check a local copy against the committed manifest; print what differs; 0 if identical."""
    committed_path = manifests / dataset / f"{protocol}{MANIFEST_SUFFIX}"
    committed = read_splits(committed_path)
    index = json.loads((manifests / "index.json").read_text()) if (manifests / "index.json").is_file() else {}
    entry = index.get(f"{dataset}/{protocol}{MANIFEST_SUFFIX}")
    digest = hashlib.sha256(committed_path.read_bytes()).hexdigest()
    if entry is None or entry["sha256"] != digest:
        raise DataError(committed_path, "committed manifest does not match splits/index.json (edited by hand?)")
    local, _ = compute(dataset, find_label_file(dataset, root), protocol)
    diff = compare(local, committed)
    if not any(diff.values()):
        print(f"verify {dataset}/{protocol}: identical to {committed_path} ({len(local)} ids, sha256 {digest[:12]})")
        return 0
    print(f"verify {dataset}/{protocol}: local copy differs from {committed_path}")
    for key, ids in diff.items():
        if ids:
            print(f"  {key.replace('_', ' ')}: {len(ids)} ids, e.g. {', '.join(ids[:3])}")
    if diff["only_local"] or diff["only_committed"]:
        print("  (a different set of ids changes which ids land where; compare the label files first)")
    return 1


def is_manifest_folder(folder: Path) -> bool:
    """A folder written by ``write-all``: per-dataset folders of manifests and their checksums only."""
    return all(child.is_dir() and all(f.name.endswith((".csv", ".csv.sha256")) for f in child.iterdir())
               for child in folder.iterdir() if not child.name.startswith("."))


def manifest_pairs(listed: dict | None = None) -> dict[str, dict]:
    """The manifests the splits stage writes: the params file's ``split_manifests`` if it lists
    them, else every (dataset, protocol) pair with a rule in the protocols, for every registered
    dataset with a label table (so a new dataset's manifests need no params edit)."""
    if listed:
        return dict(listed)
    return {f"{dataset}-{protocol}": {"dataset": dataset, "protocol": protocol}
            for protocol, body in load_protocols().items() for dataset in body["datasets"]
            if dataset in DATASETS and DATASETS[dataset].label_table}


def write_all(root: Path, out: Path, params: Path) -> None:
    """Every manifest of :func:`manifest_pairs`, from dataset roots under ``root``."""
    from benchmark.core.config import load_params
    from benchmark.core.guards import check_output

    check_output(out, [root], "split-manifest folder", is_manifest_folder)
    with atomic_dir(out) as tmp:
        for name, item in manifest_pairs(load_params(params).get("split_manifests")).items():
            dataset, protocol = item["dataset"], item["protocol"]
            splits, fractions = compute(dataset, find_label_file(dataset, root / dataset), protocol)
            write_manifest(tmp / dataset / f"{protocol}.csv", splits)
            print(f"splits {name}: {json.dumps(split_sizes(splits, fractions))}")


def publish(out: Path) -> dict:
    """Write ``out/<dataset>/<protocol>.csv.gz`` for every public label file and protocol, then the index."""
    from benchmark.data.phantom.sources import txv_data_file

    for protocol, body in load_protocols().items():
        for dataset in body["datasets"]:
            public = DATASETS[dataset].public_label_file if dataset in DATASETS else None
            if public:  # a real label file shipped inside torchxrayvision: its manifest is committed
                splits, fractions = compute(dataset, txv_data_file(public), protocol)
                write_csv(out / dataset / f"{protocol}{MANIFEST_SUFFIX}", splits)  # index.json records their SHA-256
                print(f"publish {dataset}/{protocol}: {json.dumps(split_sizes(splits, fractions))}")
    return write_index(out)


def run(command: str, args: argparse.Namespace) -> int:
    """What ``python -m benchmark.splits COMMAND`` does with its parsed arguments."""
    if command == "write-all":
        write_all(args.root, args.out, args.params)
        return 0
    if command == "publish":
        index = publish(args.out)
        print(f"publish: {len(index)} manifest(s) and index.json in {args.out}")
        return 0
    if command == "verify":
        return verify(args.dataset, args.root, args.protocol, args.manifests)
    labels = args.labels or find_label_file(args.dataset, args.root)
    splits, fractions = compute(args.dataset, labels, args.protocol)
    sizes = split_sizes(splits, fractions)
    if command == "write":
        from benchmark.core.guards import check_no_overlap

        # a file: it must not be (or be inside) the dataset, nor replace a file that is no manifest
        check_no_overlap(args.out, [labels, args.root])
        if args.out.exists() and not checksum_path(args.out).is_file():
            raise DataError(args.out, "exists and is not a split manifest (no checksum beside it); give a new file")
        write_manifest(args.out, splits)
        print(f"splits {args.dataset}/{args.protocol}: {json.dumps(sizes)} -> {args.out}")
    elif args.json:
        print(json.dumps({"dataset": args.dataset, "protocol": args.protocol, **sizes}, sort_keys=True))
    else:
        print(f"{args.dataset} / {args.protocol}: train {sizes['train']}, valid {sizes['valid']}, test {sizes['test']}; "
              + ", ".join(f"{p}%: {n}" for p, n in sizes["fractions"].items()))
    return 0
