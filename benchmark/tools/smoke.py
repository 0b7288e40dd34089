"""``python -m benchmark.smoke``: the ``smoke`` profile end to end, as CI runs it, against golden numbers.

Copies the pipeline (``dvc.yaml``, ``params.yaml`` and the code) into a scratch folder,
switches it to the ``smoke`` profile with three methods (M-FLAG and the two controls, whose
negative one runs the random encoder: the DAG is the same for every method, and each stage
is a process), runs ``dvc repro`` there and compares the results with ``results/reference/smoke.csv``.

The smoke profile computes in float64 (:mod:`benchmark.core.numerics`), so its cells move little
between x86-64 CPUs and thread counts; the tolerance below is derived from the spread measured
under other kernel levels and thread counts (see it). Cells at their trivial floor are reported
as such and do not count as evidence (``--min-evidence``).

``--mutations`` plants known defects, one at a time, as literal edits of the scratch copy's
code (nothing of the repository changes), re-runs only the stages DVC finds affected, and
reports whether the golden comparison caught each one; the honest run must pass.

Golden numbers change only through ``--write-golden``, which rewrites that file from the
run for review as a diff; nothing else writes it.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from benchmark.core.errors import DataError

REPO = Path(__file__).resolve().parents[2]
COPY = ("dvc.yaml", ".dvcignore", "params.yaml", "benchmark", "mflag", "baselines")
METHODS = ("mflag", "supervised", "shuffled")
GOLDEN = REPO / "results" / "reference" / "smoke.csv"
#: |ours - golden| allowed, in points. Measured spread of the 99 smoke cells, in float64, on an
#: Intel Xeon (AVX-512) against golden numbers made there with the default settings: 0.09 under
#: ATEN_CPU_CAPABILITY=default (one cell, the positive control's RSNA AUROC at 100 %, 70.79 ->
#: 70.70; the other 98 cells 0.00), 0.00 in earlier runs under avx2, one thread and oneDNN/MKL
#: capped at AVX2. 0.25 is about 3x the largest measured spread and below the smallest change a
#: planted defect made (0.42: detection-boxes-shifted). In float32 the same runs moved cells by up
#: to 5 points (RSNA Dice between an AVX2 and an AVX-512 machine).
TOLERANCE = 0.25
#: cells that must match the golden numbers while clear of their trivial floor
MIN_EVIDENCE = 12  # measured: 16 in the golden numbers of 2026-12-02 (99 cells, 3 methods)


@dataclass(frozen=True)
class Defect:
    """A known bug, planted as a literal edit of one file of the scratch copy."""

    name: str
    path: str
    old: str
    new: str
    what: str


DEFECTS = (
    Defect("orthogonality-sign", "mflag/model.py", 'return {"loss": align + ortho,', 'return {"loss": align - ortho,',
           "M-FLAG's total loss as alignment minus orthogonality"),
    Defect("probe-labels-shuffled", "benchmark/evaluation/probe.py",
           'y_train, y_valid = y_all[rows["train"]], y_all[rows["valid"]]',
           'y_train, y_valid = np.random.default_rng(0).permutation(y_all[rows["train"]]), y_all[rows["valid"]]',
           "the probe's training labels shuffled against their images"),
    Defect("detection-boxes-shifted", "benchmark/evaluation/yolo.py", 'out.append({"boxes": bx[keep], "scores": sc[keep]})',
           'out.append({"boxes": bx[keep] + torch.cat([bx[keep, 2:] - bx[keep, :2]] * 2, 1) / 2, "scores": sc[keep]})',
           "predicted boxes shifted right and down by half their size"),
    Defect("segmentation-masks-transposed", "benchmark/evaluation/segment.py", "    return torch.cat(out)\n",
           "    return torch.cat(out).transpose(1, 2)\n", "predicted masks transposed before scoring"),
)


def prepare(work: Path, methods: tuple[str, ...] = METHODS) -> Path:
    """A scratch copy of the pipeline on the smoke profile with ``methods``, under DVC."""
    work.mkdir(parents=True, exist_ok=True)
    for name in COPY:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, work / name, ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)
        else:
            shutil.copy(src, work / name)
    params = (work / "params.yaml").read_text()
    params = re.sub(r"(?m)^profile: .*$", "profile: smoke", params, count=1)
    params = re.sub(r"(?m)^methods: .*$", f"methods: [{', '.join(methods)}]", params, count=1)
    (work / "params.yaml").write_text(params)
    if not (work / ".dvc").is_dir():
        dvc(work, "init", "--no-scm", "-q")
    return work


def dvc(work: Path, *args: str) -> str:
    """Run the environment's ``dvc`` in ``work``; its output, or a RuntimeError with the tail of it."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run([str(Path(sys.executable).parent / "dvc"), *args], cwd=work, capture_output=True, text=True,
                          env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"dvc {' '.join(args)} failed in {work}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc.stdout


def compare_with_golden(work: Path, quiet: bool = False) -> int:
    """``benchmark.compare`` of ``work``'s results against the golden numbers (exit code)."""
    import contextlib
    import io

    from benchmark import compare

    args = ["--results", str(work / "results" / "runs"), "--profile", "smoke", "--reference", str(GOLDEN),
            "--tolerance", str(TOLERANCE), "--min-evidence", str(MIN_EVIDENCE)]
    if not quiet:
        return compare.main(args)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = compare.main(args)
    compare_with_golden.last_output = out.getvalue()
    return code


def plant(work: Path, defect: Defect) -> None:
    """Apply ``defect`` to the scratch copy ``work``; the original text must occur exactly once."""
    path = work / defect.path
    text = path.read_text()
    if text.count(defect.old) != 1:
        raise DataError(REPO / defect.path, f"planted defect {defect.name!r} no longer applies (its line occurs "
                        f"{text.count(defect.old)} times); update benchmark/tools/smoke.py:DEFECTS")
    path.write_text(text.replace(defect.old, defect.new))


def run_mutations(work: Path) -> int:
    """The honest run, then each planted defect in its own copy of it; a table of what was caught."""
    honest = work / "honest"
    prepare(honest)
    dvc(honest, "repro")
    rows = [("(none: the honest run)", "-", compare_with_golden(honest, quiet=True) == 0)]
    outputs = {"honest": compare_with_golden.last_output}
    for defect in DEFECTS:
        copy = work / defect.name
        if copy.exists():
            shutil.rmtree(copy)
        shutil.copytree(honest, copy, symlinks=True)
        plant(copy, defect)
        reran = [line.split("'")[1] for line in dvc(copy, "repro").splitlines() if line.startswith("Running stage")]
        caught = compare_with_golden(copy, quiet=True) != 0
        outputs[defect.name] = compare_with_golden.last_output
        rows.append((f"{defect.name}: {defect.what}", ", ".join(reran) or "none", caught))
    from tabulate import tabulate

    for name, text in outputs.items():
        failing = [line for line in text.splitlines() if "| outside" in line or "| nan" in line or "CONTROL" in line]
        summary = next((line for line in text.splitlines() if line.startswith("compare: ") and "cells within" in line), "")
        print(f"{name}: {summary.removeprefix('compare: ')}" + "".join(f"\n    {line}" for line in failing[:6]))
    print(tabulate([(n, r, "passes" if i == 0 and ok else "CAUGHT" if ok else "NOT CAUGHT" if i else "FAILS")
                    for i, (n, r, ok) in enumerate(rows)], headers=["planted defect", "stages re-run", "comparison"],
                   tablefmt="github"))
    honest_ok = rows[0][2]
    all_caught = all(ok for _, _, ok in rows[1:])
    return 0 if honest_ok and all_caught else 1


def run(args: argparse.Namespace) -> int:
    """What ``python -m benchmark.smoke`` does with its parsed arguments."""
    from benchmark import compare  # the command, run as CI runs it

    if args.work.resolve() == REPO:
        raise DataError(args.work, "the scratch folder must not be the repository itself")
    if args.mutations:
        return run_mutations(args.work)
    work = prepare(args.work)
    print(dvc(work, "repro")[-2000:])
    if args.write_golden:
        return compare.main(["--results", str(work / "results" / "runs"), "--profile", "smoke",
                             "--write-reference", str(GOLDEN)])
    return compare_with_golden(work)
