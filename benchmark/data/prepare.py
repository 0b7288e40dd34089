"""``python -m benchmark.prepare --dataset NAME --root RAW --out STORE``: raw layout -> store."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from benchmark.config import add_profile_args, load_profile
from benchmark.errors import DataError, run_cli
from benchmark.guards import check_output, has_file
from benchmark.imaging import MIN_SIDE
from benchmark.readers import READERS, get_reader
from benchmark.store import build_store


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmark.prepare", description=__doc__)
    parser.add_argument("--dataset", required=True, choices=sorted(READERS))
    parser.add_argument("--root", required=True, type=Path, help="dataset root in its raw layout")
    parser.add_argument("--out", required=True, type=Path, help="store folder to write")
    parser.add_argument("--size", type=int, default=None, help="image size (default: profile store.image_size)")
    add_profile_args(parser)
    args = parser.parse_args(argv)
    if args.size is not None and args.size < MIN_SIDE:
        raise DataError(None, f"--size {args.size}: the store's images need at least {MIN_SIDE} px")
    size = args.size if args.size is not None else int(load_profile(args.params, args.profile)["store"]["image_size"])
    check_output(args.out, [args.root], "store", has_file("store.json"))
    start = time.perf_counter()
    info = build_store(get_reader(args.dataset), args.root, args.out, size)
    skipped = ", ".join(f"{v} {k}" for k, v in info["skipped"].items()) or "none"
    print(f"prepare {args.dataset}: {info['count']} images at {size}px -> {args.out} "
          f"({time.perf_counter() - start:.1f}s; skipped: {skipped})")
    return 0


if __name__ == "__main__":
    run_cli(main)
