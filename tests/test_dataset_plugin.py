"""A dataset is a plug-in: one DatasetSpec, registered from this module, reaches splits, the probe
and the report with no edit of the harness (reader, label table and phantom writer live here)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from benchmark.data.datasets import DATASETS, ProbeSpec, datasets_for, register_dataset
from benchmark.data.imaging import read_image_uint8
from benchmark.data.readers.base import Reader

HERE = Path(__file__).stem  # tests/ is on sys.path under pytest: this module is importable by name
IMAGES = 160


def write_toy(out: Path, *, seed: int, image_size: int, images: int = IMAGES) -> pd.DataFrame:
    """Toy raw layout: ``labels.csv`` (image, patient, finding) and ``images/<id>.png``. A finding
    is a bright disc, so a random frozen encoder's features separate the two classes."""
    rng = np.random.default_rng(seed)
    (out / "images").mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[:image_size, :image_size]
    rows = []
    for i in range(images):
        finding = int(i % 2)
        pixels = rng.integers(40, 90, (image_size, image_size)).astype(np.uint8)
        if finding:
            cy, cx = rng.integers(image_size // 4, 3 * image_size // 4, 2)
            pixels[(yy - cy) ** 2 + (xx - cx) ** 2 < (image_size // 5) ** 2] = 230
        Image.fromarray(pixels).save(out / "images" / f"toy{i:04d}.png")
        rows.append({"image": f"toy{i:04d}", "patient": f"p{i // 2:04d}", "finding": finding})
    table = pd.DataFrame(rows)
    table.to_csv(out / "labels.csv", index=False)
    return table


def toy_label_table(path: Path) -> pd.DataFrame:
    labels = pd.read_csv(path, dtype={"image": str, "patient": str})
    return pd.DataFrame({"id": labels["image"], "group": labels["patient"], "target": labels["finding"].astype(int)})


class ToyReader(Reader):
    name = "toy"
    task_columns = ("target",)

    def records(self, root: Path) -> pd.DataFrame:
        table = toy_label_table(self.check_root(root) / "labels.csv")
        table["path"] = "images/" + table["id"] + ".png"
        return table

    def load_image(self, root: Path, rel_path: str) -> np.ndarray:
        return read_image_uint8(Path(root) / rel_path)


SPEC_FIELDS = dict(title="Toy-CXR", reader=f"{HERE}:ToyReader", phantom=f"{HERE}:write_toy", label_file="labels.csv",
                   label_table=f"{HERE}:toy_label_table", split_deps=("labels.csv",),
                   probe=ProbeSpec(("target",), "binary", "auroc"), column_order=25,
                   protocols={"mgca": {"unit": "id", "holdout": 0.4, "valid_of_holdout": 0.5, "salt": "mgca-toy"}})


@pytest.fixture
def toy_dataset():
    from benchmark.data.datasets import DatasetSpec

    spec = register_dataset(DatasetSpec("toy", **SPEC_FIELDS))
    yield spec
    DATASETS.unregister("toy")


def test_a_registered_dataset_runs_through_splits_probe_and_report(toy_dataset, tmp_path):
    import torch

    from benchmark import features, prepare, probe, report, splits
    from benchmark.data.datasets import WRITERS
    from benchmark.pretraining.encoders import ImageEncoder, save_encoder
    from benchmark.reporting.results import load_results

    assert datasets_for("classification") == ("chexpert", "rsna", "toy", "covidx")  # its column_order places it
    raw, work = tmp_path / "raw" / "toy", tmp_path / "work"
    WRITERS["toy"](raw, seed=0, image_size=64)
    common = ["--profile", "smoke"]
    assert prepare.main(["--dataset", "toy", "--root", str(raw), "--out", str(work / "stores" / "toy")] + common) == 0
    assert splits.main(["write", "--dataset", "toy", "--protocol", "mgca", "--root", str(raw),
                        "--out", str(work / "splits" / "toy" / "mgca.csv")]) == 0
    manifest = pd.read_csv(work / "splits" / "toy" / "mgca.csv")
    assert manifest["split"].value_counts().to_dict() == {"train": 96, "valid": 32, "test": 32}  # 0.6 / 0.2 / 0.2 of 160
    torch.manual_seed(0)
    save_encoder(ImageEncoder("resnet18"), work / "encoder", {"method": "random"})
    assert features.main(["--encoder", str(work / "encoder"), "--stores", str(work / "stores"), "--datasets", "toy",
                          "--out", str(work / "features")] + common) == 0
    assert probe.main(["--method", "random", "--datasets", "toy", "--features", str(work / "features"),
                       "--stores", str(work / "stores"), "--splits", str(work / "splits"),
                       "--out", str(work / "results" / "random" / "classification")] + common) == 0
    results = load_results(work / "results")
    assert set(results["dataset"]) == {"toy"} and sorted(results["fraction"]) == [1, 10, 100]
    best = results.loc[results["fraction"] == 100, "value"].iloc[0]
    assert best > 0.9  # a bright disc is easy even for random features: the labels reached the probe intact
    assert report.main(["--results", str(work / "results"), "--out", str(work / "report")]) == 0
    board = (work / "report" / "leaderboard.md").read_text()
    assert "Toy-CXR AUC" in board and f"{100 * best:.1f}" in board


def test_a_spec_names_only_known_head_tasks():
    from benchmark.data.datasets import DatasetSpec

    with pytest.raises(ValueError, match="unknown head task"):
        DatasetSpec("bad", "Bad", reader=f"{HERE}:ToyReader", heads=("classification",))


def test_dvc_yaml_dataset_lists_follow_the_registry(toy_dataset):
    """With the toy dataset registered, stage_deps would add it to every list that names datasets;
    without it, the committed dvc.yaml is what it generates (test_code_dependencies)."""
    import yaml

    from benchmark.tools.code_deps import updated_yaml

    current, generated = updated_yaml()
    stages = yaml.safe_load(generated)["stages"]
    assert "toy" not in yaml.safe_load(current)["stages"]["prepare"]["foreach"]
    assert stages["prepare"]["foreach"][-1] == "toy" and stages["phantom"]["foreach"][-1] == "toy"
    probe = stages["probe"]["do"]
    assert "--datasets chexpert rsna toy covidx " in probe["cmd"]
    assert "data/splits/toy/mgca.csv" in probe["deps"] and "data/store/toy" in stages["features"]["do"]["deps"]
    assert "${raw}/toy/labels.csv" in stages["splits"]["deps"]
    assert "toy" not in stages["segment"]["do"]["cmd"]  # no head task
