"""``python -m benchmark.roots``: point the pipeline at the real datasets (``paper`` profile).

The DVC stages read raw layouts under ``raw`` (``params.yaml``): ``data/raw/phantom``,
written by the phantom stage, or ``data/raw/real``, where this command makes one link per
dataset (``data/raw/real/<dataset>`` -> its root). A dataset's root is the environment
variable ``MEDVLP_ROOT_<DATASET>`` (e.g. ``MEDVLP_ROOT_CHEXPERT=/data/CheXpert-v1.0``) or
else the profile's ``datasets.<dataset>.root``. Each root is checked for its dataset's
label file before any link is made.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from benchmark.core.config import load_profile
from benchmark.core.errors import DataError
from benchmark.data.datasets import DATASETS
from benchmark.data.splits import find_label_file


def env_name(dataset: str) -> str:
    return f"MEDVLP_ROOT_{dataset.upper()}"


def dataset_roots(profile: dict, environ: dict | None = None) -> dict[str, Path]:
    """Each dataset's root: the environment variable if set, else the profile's entry."""
    environ = os.environ if environ is None else environ
    entries = profile.get("datasets") or {}
    if not entries:
        raise DataError(None, f"profile {profile['name']!r} lists no dataset roots ('datasets: {{name: {{root: ...}}}}')")
    return {name: Path(environ.get(env_name(name)) or entry["root"]) for name, entry in entries.items()}


def link_roots(roots: dict[str, Path], out: Path) -> dict[str, Path]:
    """Check every root, then make ``out/<dataset>`` a link to it (replacing an older link)."""
    for name, root in roots.items():
        if not root.is_dir():
            raise DataError(root, f"{name} root not found (set {env_name(name)} or datasets.{name}.root)")
        if name in DATASETS and DATASETS[name].label_file:
            find_label_file(name, root)
    out.mkdir(parents=True, exist_ok=True)
    links = {}
    for name, root in roots.items():
        link = out / name
        if link.is_symlink():
            link.unlink()
        elif link.exists():
            raise DataError(link, "exists and is not a link; move it away first")
        link.symlink_to(root.resolve(), target_is_directory=True)
        links[name] = link
    return links


def run(args: argparse.Namespace) -> int:
    """What ``python -m benchmark.roots`` does with its parsed arguments."""
    for name, link in link_roots(dataset_roots(load_profile(args.params, args.profile)), args.out).items():
        print(f"roots: {link} -> {link.resolve()}")
    print(f"roots: now set `raw: {args.out}` in params.yaml and run `dvc repro`")
    return 0
