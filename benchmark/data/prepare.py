"""``python -m benchmark.prepare --dataset NAME --root RAW --out STORE``: raw layout -> store."""

from __future__ import annotations

import argparse
import time

from benchmark.core.config import load_profile
from benchmark.core.errors import DataError
from benchmark.core.guards import check_output, has_file
from benchmark.data.datasets import get_reader
from benchmark.data.imaging import MIN_SIDE
from benchmark.data.store import available_cores, build_store


def run(args: argparse.Namespace) -> int:
    """What ``python -m benchmark.prepare`` does with its parsed arguments."""
    if args.size is not None and args.size < MIN_SIDE:
        raise DataError(None, f"--size {args.size}: the store's images need at least {MIN_SIDE} px")
    store_cfg = load_profile(args.params, args.profile)["store"]
    size = args.size if args.size is not None else int(store_cfg["image_size"])
    check_output(args.out, [args.root], "store", has_file("store.json"))
    start = time.perf_counter()
    workers = available_cores() if args.workers is None else args.workers
    if workers < 1:
        raise DataError(None, f"--workers {args.workers}: give at least 1")
    reader = get_reader(args.dataset, (store_cfg.get("reader_options") or {}).get(args.dataset))
    decode = args.decode or store_cfg.get("decode", "full")
    info = build_store(reader, args.root, args.out, size, workers, decode)
    skipped = ", ".join(f"{v} {k}" for k, v in info["skipped"].items()) or "none"
    print(f"prepare {args.dataset}: {info['count']} images at {size}px -> {args.out} "
          f"({time.perf_counter() - start:.1f}s, {workers} worker(s), {decode} decoding; skipped: {skipped})")
    return 0
