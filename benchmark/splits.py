"""Split manifests: train / valid / test and nested 1 / 10 / 100 % training fractions.

The work, and why it is done this way: :mod:`benchmark.data.splits`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmark.core.errors import run_cli

#: the sub-commands; without one, ``sizes``
SUBCOMMANDS = ("sizes", "write", "write-all", "publish", "verify", "import-mgca")
#: one line each, shown by every sub-command's --help
WHAT = {"sizes": "print the split sizes of one dataset and protocol (the default)",
        "write": "write one dataset's manifest (CSV with a .sha256 beside it)",
        "write-all": "write the manifests params.yaml lists for every dataset (the DVC stage)",
        "publish": "write the committed manifests of the real label files torchxrayvision ships, and splits/index.json",
        "verify": "recompute a dataset's manifest from its label file and compare it with the committed one",
        "import-mgca": "turn MGCA's own split files (its preprocessing output) into a manifest, checked against our ids"}
EPILOG = "sub-commands:\n" + "\n".join(f"  {name:<10} {WHAT[name]}" for name in SUBCOMMANDS) + \
    "\n`python -m benchmark.splits <sub-command> --help` shows each one's flags."


def build_parser(command: str = "sizes") -> argparse.ArgumentParser:
    """The parser of one sub-command."""
    if command == "write-all":
        parser = argparse.ArgumentParser(prog="python -m benchmark.splits write-all", description=WHAT["write-all"],
                                         epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
        parser.add_argument("--root", required=True, type=Path, help="folder holding one raw dataset root per dataset")
        parser.add_argument("--out", required=True, type=Path, help="folder of manifests to write (OUT/<dataset>/<protocol>.csv)")
        parser.add_argument("--params", type=Path, default=Path("params.yaml"),
                            help="params file (its split_manifests, if listed, restrict the manifests written; default: params.yaml)")
        return parser
    if command == "publish":
        parser = argparse.ArgumentParser(prog="python -m benchmark.splits publish", description=WHAT["publish"],
                                         epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
        parser.add_argument("--out", type=Path, default=Path("splits"),
                            help="folder of the committed manifests and index.json (default: splits)")
        return parser
    if command == "import-mgca":
        parser = argparse.ArgumentParser(prog="python -m benchmark.splits import-mgca", description=WHAT["import-mgca"],
                                         epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
        parser.add_argument("--dataset", required=True,
                            help="chexpert, rsna, rsna-detection, covidx, siim or object_cxr (MGCA's file layout of it)")
        parser.add_argument("--mgca-data", required=True, type=Path, help="MGCA's data folder (its DATA_BASE_DIR)")
        parser.add_argument("--out", required=True, type=Path, help="manifest to write (e.g. splits/rsna/mgca-imported.csv)")
        parser.add_argument("--root", type=Path, help="our raw dataset root: every imported id must be in its label file")
        return parser
    if command == "verify":
        parser = argparse.ArgumentParser(prog="python -m benchmark.splits verify", description=WHAT["verify"],
                                         epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
        parser.add_argument("--dataset", required=True, help="the dataset whose committed manifest is checked")
        parser.add_argument("--root", required=True, type=Path, help="the dataset root (its label file is found by name)")
        parser.add_argument("--protocol", default="mgca", help="split protocol (default: mgca)")
        parser.add_argument("--manifests", type=Path, default=Path("splits"),
                            help="folder of the committed manifests (default: splits)")
        return parser
    parser = argparse.ArgumentParser(prog=f"python -m benchmark.splits {command}", description=WHAT[command],
                                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, help="the dataset to split")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--labels", type=Path, help="the dataset's raw label file")
    source.add_argument("--root", type=Path, help="the dataset root (its label file is found by name)")
    parser.add_argument("--protocol", default="mgca", help="split protocol of benchmark/configs/protocols.yaml (default: mgca)")
    if command == "write":
        parser.add_argument("--out", required=True, type=Path, help="the manifest to write (CSV)")
    else:
        parser.add_argument("--json", action="store_true", help="print sizes as JSON")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv.pop(0) if argv and argv[0] in SUBCOMMANDS else "sizes"
    args = build_parser(command).parse_args(argv)
    if command == "import-mgca":
        from benchmark.data.mgca_splits import import_mgca_command

        return import_mgca_command(args)
    from benchmark.data.splits import run

    return run(command, args)


if __name__ == "__main__":
    run_cli(main)
