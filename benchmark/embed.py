"""``python -m benchmark.embed``: frozen-LM embeddings of every pre-training report.

Writes ``OUT/embeddings.npy`` (row i = manifest row i of the store) and ``OUT/lm.json``
(which LM, from where). Uses the persistent cache in ``--cache`` so unchanged reports
are never encoded twice.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from benchmark.atomic import atomic_dir
from benchmark.config import add_profile_args, load_profile
from benchmark.errors import run_cli
from benchmark.store import Store
from benchmark.text import embed_with_cache, resolve_lm


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmark.embed", description=__doc__.splitlines()[0])
    parser.add_argument("--store", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--cache", type=Path, default=Path("data/cache/text"))
    add_profile_args(parser)
    args = parser.parse_args(argv)
    lm_cfg = load_profile(args.params, args.profile)["lm"]
    store = Store.open(args.store)
    choice = resolve_lm(str(lm_cfg["name"]))
    start = time.perf_counter()
    texts = store.manifest["text"].astype(str).tolist()
    vectors, fresh = embed_with_cache(texts, choice, args.cache, int(lm_cfg["max_length"]), int(lm_cfg["batch_size"]))
    with atomic_dir(args.out) as tmp:
        np.save(tmp / "embeddings.npy", vectors)
        (tmp / "lm.json").write_text(json.dumps({**choice.as_dict(), "max_length": int(lm_cfg["max_length"]),
                                                 "dim": int(vectors.shape[1]), "count": len(texts)},
                                                indent=2, sort_keys=True) + "\n")
    print(f"embed: {len(texts)} reports ({len(set(texts))} unique, {fresh} newly encoded) with {choice.name} "
          f"[{choice.source}] in {time.perf_counter() - start:.1f}s -> {args.out}")
    return 0


if __name__ == "__main__":
    run_cli(main)
