"""The paper's split table, reproduced from the real label files (and synthetic lists with the
published row counts where the files are not public), plus the reference code's split defects."""

import pandas as pd
import pytest

from benchmark.data.phantom.covidx import synthetic_covidx_lists, write_covidx_lists
from benchmark.data.phantom.object_cxr import synthetic_object_cxr_lists
from benchmark.data.phantom.sources import txv_data_file
from benchmark.data.readers.chexpert import chexpert_label_table
from benchmark.data.readers.siim import siim_label_table
from benchmark.data.splits import compute, make_splits, protocol_spec, split_sizes


def sizes(dataset, path, protocol="mgca"):
    splits, fractions = compute(dataset, path, protocol)
    s = split_sizes(splits, fractions)
    return (s["train"], s["valid"], s["test"]), splits


@pytest.fixture(scope="module")
def chexpert_root(module_dir):
    """torchxrayvision's real CheXpert train labels plus a valid.csv shaped like the release (234 rows, 202 frontal)."""
    root = module_dir("chexpert")
    train = pd.read_csv(txv_data_file("chexpert_train.csv.gz"))
    train.to_csv(root / "train.csv", index=False)
    valid = train.iloc[:234].copy()
    views = ["Frontal"] * 202 + ["Lateral"] * 32
    valid["Frontal/Lateral"] = views
    valid["Path"] = [f"CheXpert-v1.0-small/valid/patient{64541 + i // 2}/study1/view{1 + i % 2}_{v.lower()}.jpg"
                     for i, v in enumerate(views)]
    valid.to_csv(root / "valid.csv", index=False)
    return root


def test_chexpert(chexpert_root):
    (train, valid, test), splits = sizes("chexpert", chexpert_root / "train.csv")
    assert (train, valid, test) == (186_027, 5_000, 202)
    # the official valid.csv is the test set and none of it leaks into train/valid
    table = chexpert_label_table(chexpert_root / "train.csv")
    official_test = set(table.loc[table["official_split"] == "test", "id"])
    assert len(official_test) == 202
    assert set(splits.loc[splits["split"] == "test", "id"]) == official_test
    assert not official_test & set(splits.loc[splits["split"] != "test", "id"])


def test_rsna():
    assert sizes("rsna", txv_data_file("kaggle_stage_2_train_labels.csv.zip"))[0] == (16_010, 5_337, 5_337)


def test_siim_by_unique_image():
    path = txv_data_file("siim-pneumothorax-train-rle.csv.gz")
    (train, valid, test), splits = sizes("siim", path)
    assert (train, valid, test) == (8_433, 1_807, 1_807)
    # every CSV row of an image (624 images have several rows) lands in the same split
    raw = pd.read_csv(path)
    raw.columns = [c.strip() for c in raw.columns]
    per_image = raw.merge(splits, left_on="ImageId", right_on="id")
    assert len(per_image) == len(raw)
    assert per_image.groupby("ImageId")["split"].nunique().max() == 1
    assert (raw["ImageId"].value_counts() > 1).sum() == 624
    assert len(siim_label_table(path)) == 12_047


def test_covidx_published_counts(tmp_path):
    train, test = synthetic_covidx_lists(29_986, 400)
    train_path, _ = write_covidx_lists(tmp_path, train, test)
    assert sizes("covidx", train_path)[0] == (23_988, 5_998, 400)


def test_object_cxr_published_counts(tmp_path):
    train, dev = synthetic_object_cxr_lists(8_000, 1_000)
    train.to_csv(tmp_path / "train.csv", index=False)
    dev.to_csv(tmp_path / "dev.csv", index=False)
    assert sizes("object_cxr", tmp_path / "train.csv")[0] == (6_400, 1_600, 1_000)


def test_nih_clean_is_patient_grouped():
    from benchmark.data.readers.nih import nih_label_table

    path = txv_data_file("Data_Entry_2017_v2020.csv.gz")
    (train, valid, test), splits = sizes("nih", path, "clean")
    assert train + valid + test == 112_120
    merged = nih_label_table(path).merge(splits, on="id")
    assert merged.groupby("group")["split"].nunique().max() == 1


def test_official_test_rows_never_train_even_when_ids_collide_with_train_patients():
    # a patient with one official-test image and one train image: the whole patient goes to test under 'clean'
    table = pd.DataFrame({"id": ["a1", "a2", "b1", "c1", "d1"], "group": ["a", "a", "b", "c", "d"],
                          "official_split": ["test", "train", "train", "train", "train"], "strat": ["0"] * 5})
    spec, fractions = protocol_spec("clean", "covidx")
    out = make_splits(table, spec, fractions).set_index("id")
    assert out.loc["a1", "split"] == out.loc["a2", "split"] == "test"
