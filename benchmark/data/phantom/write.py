"""``python -m benchmark.phantom --out DIR [--profile NAME]``: write phantom raw datasets.

Each dataset goes to ``DIR/<name>`` in its real on-disk layout. Output is built in a
temporary folder and renamed into place, so an interrupted run leaves nothing that
looks complete. The same profile and seed give byte-identical label files and images.
"""

from __future__ import annotations

import argparse
import json
import time

from benchmark.core.atomic import atomic_dir
from benchmark.core.config import load_profile
from benchmark.core.errors import DataError
from benchmark.core.guards import check_output, has_file
from benchmark.data.datasets import WRITERS

#: written into every phantom dataset (hidden: no reader sees it), so that the stage replaces only
#: folders it wrote itself and never a real dataset given as --out by mistake
MARKER = ".phantom.json"


def run(args: argparse.Namespace) -> int:
    """What ``python -m benchmark.phantom`` does with its parsed arguments."""
    profile = load_profile(args.params, args.profile)
    spec = profile.get("phantom")
    if not spec:
        raise DataError(args.params, f"profile {profile['name']!r} has no 'phantom' section (it reads real data)")
    names = args.datasets or list(spec["datasets"])
    for name in names:
        if name not in WRITERS:
            raise DataError(args.params, f"no phantom writer for dataset {name!r} (have: {', '.join(WRITERS)})")
        settings = dict(spec["datasets"].get(name, {}))
        start = time.perf_counter()
        check_output(args.out / name, [], "phantom dataset", has_file(MARKER))
        with atomic_dir(args.out / name) as tmp:
            WRITERS[name](tmp, seed=int(spec["seed"]), image_size=int(spec["image_size"]),
                          workers=int(spec.get("workers", 1)), **settings)
            (tmp / MARKER).write_text(json.dumps({"dataset": name, "seed": int(spec["seed"]),
                                                  "image_size": int(spec["image_size"]), **settings}, sort_keys=True) + "\n")
        print(f"phantom {name}: wrote {args.out / name} in {time.perf_counter() - start:.1f}s")
    return 0
