"""MGCA's split files imported as manifests: membership from the files, the 1 % / 10 % subsets
drawn as MGCA's loaders draw them (checked against pandas and NumPy directly), leaks resolved
toward the evaluation splits, ids checked against our label file."""

import pickle

import numpy as np
import pandas as pd
import pytest
from support import data_error

from benchmark import splits
from benchmark.data.datasets import LABEL_TABLES
from benchmark.data.split_manifest import read_splits
from benchmark.data.splits import find_label_file


@pytest.fixture
def rsna_ids(phantom_root):
    return LABEL_TABLES["rsna"](find_label_file("rsna", phantom_root / "rsna"))["id"].drop_duplicates().tolist()


def _write_rsna(folder, ids, leak: int = 0):
    (folder / "RSNA_Pneumonia").mkdir(parents=True)
    train, valid, test = ids[:300], ids[300:350], ids[350:400]
    valid = valid + train[:leak]  # MGCA-style inconsistency: a training id also in valid
    for name, part in (("train", train), ("val", valid), ("test", test)):
        pd.DataFrame({"patientId": part, "Target": 0}).to_csv(folder / "RSNA_Pneumonia" / f"{name}.csv")
    return train, valid, test


def test_rsna_csvs_become_a_manifest_with_mgcas_subsets(rsna_ids, phantom_root, tmp_path, capsys):
    train, valid, test = _write_rsna(tmp_path / "mgca", rsna_ids, leak=3)
    out = tmp_path / "imported.csv"
    assert splits.main(["import-mgca", "--dataset", "rsna", "--mgca-data", str(tmp_path / "mgca"), "--out", str(out),
                        "--root", str(phantom_root / "rsna")]) == 0
    manifest = read_splits(out)
    frame = pd.DataFrame({"patientId": train})
    one = set(frame.sample(frac=0.01, random_state=42)["patientId"])  # MGCA classification_dataset.py:165-166
    ten = set(frame.sample(frac=0.10, random_state=42)["patientId"])
    assert one <= ten and len(one) == 3 and len(ten) == 30  # pandas draws the first rows of one permutation: nested
    leaked = set(train[:3])
    by_split = {s: set(manifest.loc[manifest["split"] == s, "id"]) for s in ("train", "valid", "test")}
    assert by_split["train"] == set(train) - leaked and by_split["valid"] == set(valid) and by_split["test"] == set(test)
    got_one = set(manifest.loc[manifest["min_fraction"] == 1, "id"])
    got_ten = set(manifest.loc[manifest["min_fraction"] <= 10, "id"])
    assert got_one == one - leaked and got_ten == ten - leaked
    out_text = capsys.readouterr().out
    assert "3 id(s) of MGCA's train file are also in valid or test: kept there, dropped from train" in out_text


def test_object_cxr_pickles_and_numpy_draw(tmp_path):
    folder = tmp_path / "mgca" / "object-CXR"
    folder.mkdir(parents=True)
    names = {"train": [f"{i:05d}.jpg" for i in range(200)], "valid": [f"{i:05d}.jpg" for i in range(200, 230)],
             "test": [f"{i:05d}.jpg" for i in range(8000, 8040)]}
    for split, part in names.items():
        with (folder / f"{split}.pkl").open("wb") as f:
            pickle.dump([np.array(part), [np.zeros((1, 4))] * len(part)], f)
    out = tmp_path / "imported.csv"
    assert splits.main(["import-mgca", "--dataset", "object_cxr", "--mgca-data", str(tmp_path / "mgca"), "--out", str(out)]) == 0
    manifest = read_splits(out)
    assert set(manifest.loc[manifest["split"] == "test", "id"]) == {f"dev/{n}" for n in names["test"]}
    np.random.seed(42)  # MGCA detection_dataset.py:132-135 after seed_everything(42)
    ten = {f"train/{names['train'][i]}" for i in np.random.choice(200, 20, replace=False)}
    assert set(manifest.loc[manifest["min_fraction"] <= 10, "id"]) == ten


def test_foreign_ids_and_missing_files_are_one_line_errors(rsna_ids, phantom_root, tmp_path):
    _write_rsna(tmp_path / "mgca", rsna_ids[:399] + ["not-a-patient"])
    args = ["import-mgca", "--dataset", "rsna", "--mgca-data", str(tmp_path / "mgca"), "--out", str(tmp_path / "x.csv"),
            "--root", str(phantom_root / "rsna")]
    message = data_error(splits.main, args)
    assert "1 of 400 MGCA id(s) are not in this dataset's label file" in message and "'not-a-patient'" in message
    assert not (tmp_path / "x.csv").exists()
    (tmp_path / "mgca" / "RSNA_Pneumonia" / "val.csv").unlink()
    assert "val.csv: MGCA split file missing" in data_error(splits.main, args)
