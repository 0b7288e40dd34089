"""What the tables call things: method titles and row order, tables and their columns, heads, datasets.

Shared by the report, the plots and the comparison (one place for each title); row titles
and order come from the method config (``benchmark/configs/methods.yaml``).
"""

from __future__ import annotations

import re

from benchmark.data.datasets import DATASETS, datasets_for
from benchmark.pretraining.method_specs import load_method_specs

# row titles and order come from the method config (benchmark/configs/methods.yaml)
METHOD_NAMES = {name: spec.title for name, spec in load_method_specs().items()}
# methods that appear only in the published tables
METHOD_NAMES.update({"gloria-mimic": "GLoRIA-MIMIC", "medklip": "MedKLIP"})
METHOD_ORDER = list(load_method_specs())
METHOD_ORDER[METHOD_ORDER.index("gloria") + 1:METHOD_ORDER.index("gloria") + 1] = ["gloria-mimic"]  # the row order
METHOD_ORDER[METHOD_ORDER.index("mgca") + 1:METHOD_ORDER.index("mgca") + 1] = ["medklip"]
#: table title -> the (task, metric) pairs it shows; its columns are every dataset with that task
#: (:func:`benchmark.data.datasets.datasets_for`, in the paper's column order), see :func:`tables`
TABLE_METRICS = {
    "Table 1. Linear-probe classification (frozen encoder, one linear layer): test AUROC (CheXpert: mean over the "
    "five competition labels), COVIDx accuracy": (("classification", None),),
    "Table 2. Segmentation (frozen encoder, U-Net unless a column names the head): mean per-image test Dice; detection "
    "(frozen encoder, YOLOv3 unless a column names the head): "
    "test mAP over IoU 0.40:0.05:0.75 on all test images": (("segmentation", "dice"), ("detection", "map")),
    "Metric variants: BenchX's mean Dice over foreground and background; the reference code's mAP, which "
    "skips test images without a prediction or without a box (`mgca_compat`)": (
        ("segmentation", "mean_dice_fg_bg"), ("detection", "map_mgca_compat")),
}
#: metric -> how a column title names it
METRIC_TITLES = {"auroc": "AUC", "accuracy": "ACC", "dice": "Dice", "map": "mAP", "mean_dice_fg_bg": "mDice fg/bg",
                 "map_mgca_compat": "mAP mgca_compat"}


def tables() -> dict[str, dict[tuple[str, str, str], str]]:
    """One table per entry: title -> {(dataset, task, metric): column title}, from the dataset specs
    (so a plug-in dataset gets its columns); a probe column's metric is its dataset's."""
    out = {}
    for title, metrics in TABLE_METRICS.items():
        columns = {}
        for task, metric in metrics:
            for dataset in datasets_for(task):
                metric_of = metric or DATASETS[dataset].probe.metric
                columns[dataset, task, metric_of] = f"{dataset_title(dataset)} {METRIC_TITLES.get(metric_of, metric_of)}"
        out[title] = columns
    return out


def dataset_title(dataset: str) -> str:
    return DATASETS[dataset].title if dataset in DATASETS else dataset


# result fields that hold a second metric of the same run (field -> task): rows of their own
# heads other than the ones the table titles name (OpenMMLab backend) are named in the column titles
HEAD_TITLES = {"upernet_fcn": "UperNet+FCN", "yolov3": "YOLOv3", "retinanet": "RetinaNet", "unet": "U-Net",
               "linear": "linear layer (AdamW)", "logistic": "logistic regression (L-BFGS, standardised, C on valid)"}


def title_of(method: str, summary=None) -> str:
    """A method's row title: its methods.yaml title, else the one its results carry (an encoder
    evaluated from a checkpoint), else its name."""
    if method in METHOD_NAMES:
        return METHOD_NAMES[method]
    if summary is not None and "title" in summary:
        titles = summary.loc[summary["method"] == method, "title"].dropna()
        if len(titles):
            return str(titles.iloc[0])
    return method


def order(methods) -> list[str]:
    return sorted(methods, key=lambda m: (METHOD_ORDER.index(m) if m in METHOD_ORDER else len(METHOD_ORDER), m))


def group_slug(info: dict) -> str:
    """File-name-safe name of a table group: profile, LM and backend."""
    lm = str(info["lm"]).rsplit("/", 1)[-1]
    return re.sub(r"[^A-Za-z0-9._-]+", "-", f"{info['profile']}-{lm}-{info['backend']}")


