"""PNG plots of the report: metric vs. training fraction per task, and singular-value spectra.

One folder per table group (profile, LM, backend: the same split as the tables, so
phantom and real results never share a plot). Curves are the mean over seeds with the
standard deviation as error bars; spectra are the singular values of each encoder's
pooled test features divided by the largest, on a log scale (a collapsed space falls off
after a few directions). Files are written into a temporary folder and moved into place.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from benchmark.core.atomic import atomic_dir  # noqa: E402
from benchmark.reporting.titles import METHOD_NAMES, group_slug, order, tables  # noqa: E402


def _title(method: str) -> str:

    return METHOD_NAMES.get(method, method)


def fraction_plot(sub: pd.DataFrame, column_title: str, path: Path) -> None:
    """Mean ± std over seeds against the training fraction (log axis), one line per method."""

    fig, ax = plt.subplots(figsize=(5, 3.6), dpi=120)
    for method in order(sub["method"].unique()):
        runs = sub[(sub["method"] == method) & (sub["seeds"] > 0)].sort_values("fraction")
        if len(runs):
            ax.errorbar(runs["fraction"], runs["mean"], yerr=runs["std"].fillna(0), marker="o", capsize=3,
                        label=_title(method))
    ax.set_xscale("log")
    ax.set_xticks([1, 10, 100], ["1%", "10%", "100%"])
    ax.set_xlabel("training data")
    ax.set_ylabel(f"{column_title} (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def spectrum_plot(geometry: pd.DataFrame, dataset: str, path: Path) -> None:
    """Normalised singular values of the pooled test features, one line per encoder."""

    fig, ax = plt.subplots(figsize=(5, 3.6), dpi=120)
    for method in order(geometry["method"].unique()):
        record = geometry[geometry["method"] == method].iloc[0]
        values = np.asarray(record["singular_values"], dtype=float)
        if len(values) and values[0] > 0:
            ax.plot(np.arange(1, len(values) + 1), values / values[0],
                    label=f"{_title(method)} (eff. rank {record['effective_rank']:.0f})")
    ax.set_yscale("log")
    ax.set_xlabel("singular value index")
    ax.set_ylabel("singular value / largest")
    ax.set_title(f"{dataset}: pooled test features", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_plots(groups: list, out: Path) -> list[Path]:
    """Every plot of the report's table groups into ``out`` (replaced as a whole)."""

    curves = {key: title for columns in list(tables().values())[:2] for key, title in columns.items()}
    written = []
    with atomic_dir(out) as tmp:
        for info, sub, geometry in groups:
            folder = tmp / group_slug(info)
            for (dataset, task, metric), title in curves.items():
                cells = sub[(sub["dataset"] == dataset) & (sub["task"] == task) & (sub["metric"] == metric)]
                for head in sorted(cells["head"].dropna().unique()) or [None]:
                    part = cells if head is None else cells[cells["head"] == head]
                    if (part["seeds"] > 0).any():
                        folder.mkdir(parents=True, exist_ok=True)
                        name = f"{task}-{dataset}-{metric}" + (f"-{head}" if head and info["backend"] != "native" else "")
                        fraction_plot(part, title, folder / f"{name}.png")
                        written.append(out / folder.name / f"{name}.png")
            if geometry is not None:
                folder.mkdir(parents=True, exist_ok=True)
                for dataset in sorted(geometry["dataset"].unique()):
                    spectrum_plot(geometry[geometry["dataset"] == dataset], dataset, folder / f"spectrum-{dataset}.png")
                    written.append(out / folder.name / f"spectrum-{dataset}.png")
    return written
