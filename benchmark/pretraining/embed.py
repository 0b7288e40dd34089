"""``python -m benchmark.embed``: frozen-LM embeddings of every pre-training report.

Writes ``OUT/embeddings.npy`` (row i = manifest row i of the store) and ``OUT/lm.json``
(which LM, from where; schema version, shape, dtype and SHA-256 of the array, and the
SHA-256 of the store manifest the rows follow). Uses the persistent cache in ``--cache``
so unchanged reports are never encoded twice.

:func:`load_embeddings` is how a consumer reads them: it checks all of the above (the
array is small, N x dim float32, so its full SHA-256 is checked on every load) and
rejects a truncated, edited, older or foreign file with a DataError naming it.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from benchmark.core.atomic import atomic_dir
from benchmark.core.config import load_profile
from benchmark.core.errors import DataError, read_json_object
from benchmark.core.guards import check_output, has_file
from benchmark.core.numerics import configure, np_dtype
from benchmark.data.store import Store, check_described_array, describe_array
from benchmark.pretraining.text import embed_with_cache, resolve_lm

EMBED_SCHEMA = 1
LM_KEYS = ("name", "source", "max_length", "dim", "count", "shape", "dtype", "sha256", "store_manifest_sha256")


def read_lm_info(text_dir: Path) -> dict:
    """``lm.json`` of an embeddings folder, checked for schema and completeness."""
    path = Path(text_dir) / "lm.json"
    if not path.is_file():
        raise DataError(path, "report embeddings missing; run `python -m benchmark.embed`")
    info = read_json_object(path, "embeddings description", "; run `python -m benchmark.embed` again")
    found = info.get("schema")
    if found != EMBED_SCHEMA:
        raise DataError(path, f"embeddings schema {found!r}, expected {EMBED_SCHEMA} (written by another version); "
                        "run `python -m benchmark.embed` again")
    missing = [k for k in LM_KEYS if k not in info]
    if missing:
        raise DataError(path, f"embeddings description lacks {', '.join(missing)}; run `python -m benchmark.embed` again")
    return info


def load_embeddings(text_dir: Path, store: Store, lm_name: str | None = None) -> tuple[np.ndarray, dict]:
    """The report embeddings of ``store`` (row i = manifest row i) and their ``lm.json``, after
    checking schema, shape, size and SHA-256, that they follow this store's manifest and,
    with ``lm_name``, that they were made with that LM."""
    text_dir = Path(text_dir)
    info = read_lm_info(text_dir)
    path = text_dir / "embeddings.npy"
    if not path.is_file():
        raise DataError(path, "report embeddings missing; run `python -m benchmark.embed`")
    shape = check_described_array(path, info, "lm.json")
    if info["store_manifest_sha256"] != store.info["manifest_sha256"] or shape[0] != len(store.manifest):
        raise DataError(path, f"embeddings follow another store or version of it ({shape[0]} rows), not {store.path}")
    if lm_name is not None and info["name"] != lm_name:
        raise DataError(text_dir / "lm.json", f"embeddings were made with {info['name']}, the profile now resolves to {lm_name}")
    return np.load(path), info


def write_embeddings(out: Path, vectors: np.ndarray, lm: dict, store: Store) -> dict:
    """Write ``embeddings.npy`` and ``lm.json`` (``lm``: name, source, max_length) as one folder."""
    vectors = np.ascontiguousarray(vectors, dtype=np_dtype())
    if vectors.ndim != 2 or len(vectors) != len(store.manifest):
        raise ValueError(f"need one vector per store row ({len(store.manifest)}), got shape {vectors.shape}")
    with atomic_dir(out) as tmp:
        np.save(tmp / "embeddings.npy", vectors)
        info = {**lm, "schema": EMBED_SCHEMA, "dim": int(vectors.shape[1]), "count": len(vectors),
                **describe_array(tmp / "embeddings.npy"), "store_manifest_sha256": store.info["manifest_sha256"]}
        (tmp / "lm.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    return info


def run(args: argparse.Namespace) -> int:
    """What ``python -m benchmark.embed`` does with its parsed arguments."""
    profile = load_profile(args.params, args.profile)
    lm_cfg = profile["lm"]
    precision = configure(profile)
    check_output(args.out, [args.store, args.cache], "report-embedding folder", has_file("lm.json"))
    store = Store.open(args.store)
    choice = resolve_lm(str(lm_cfg["name"]))
    start = time.perf_counter()
    texts = store.manifest["text"].astype(str).tolist()
    vectors, fresh = embed_with_cache(texts, choice, args.cache, int(lm_cfg["max_length"]), int(lm_cfg["batch_size"]))
    write_embeddings(args.out, vectors, {**choice.as_dict(), "max_length": int(lm_cfg["max_length"]), "precision": precision}, store)
    print(f"embed: {len(texts)} reports ({len(set(texts))} unique, {fresh} newly encoded) with {choice.name} "
          f"[{choice.source}] in {time.perf_counter() - start:.1f}s -> {args.out}")
    return 0
