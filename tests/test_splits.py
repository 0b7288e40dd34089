"""Splits on the real RSNA label file shipped by torchxrayvision, and their properties."""

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest

from benchmark.data.phantom.sources import txv_data_file
from benchmark.data.readers.rsna import rsna_label_table
from benchmark.data.split_manifest import ids_for, read_splits
from benchmark.data.splits import compute, make_splits, protocol_spec, split_sizes
from benchmark.splits import main

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def real_rsna():
    path = txv_data_file("kaggle_stage_2_train_labels.csv.zip")
    splits, fractions = compute("rsna", path, "mgca")
    return path, splits, fractions


def test_real_rsna_sizes_match_published_table(real_rsna):
    _, splits, fractions = real_rsna
    sizes = split_sizes(splits, fractions)
    assert len(splits) == 26_684
    assert (sizes["train"], sizes["valid"], sizes["test"]) == (16_010, 5_337, 5_337)
    assert sizes["fractions"] == {"1": 160, "10": 1_601, "100": 16_010}


def test_fractions_are_nested(real_rsna):
    _, splits, _ = real_rsna
    f1, f10, f100 = (set(ids_for(splits, "train", f)) for f in (1, 10, 100))
    assert f1 < f10 < f100
    assert f100 == set(splits.loc[splits["split"] == "train", "id"])


def test_no_patient_in_two_splits(real_rsna):
    path, splits, _ = real_rsna
    table = rsna_label_table(path).merge(splits, on="id")
    assert table.groupby("group")["split"].nunique().max() == 1
    assert splits["split"].notna().all()


def test_order_independent_and_deterministic(real_rsna):
    path, splits, fractions = real_rsna
    table = rsna_label_table(path)
    spec, _ = protocol_spec("mgca", "rsna")
    shuffled = table.sample(frac=1.0, random_state=123).reset_index(drop=True)
    again = make_splits(shuffled, spec, fractions)
    pd.testing.assert_frame_equal(again, splits)


def test_groups_never_split_when_patients_have_several_images():
    table = pd.DataFrame({"id": [f"img{i}" for i in range(300)], "group": [f"p{i // 3}" for i in range(300)]})
    spec = {"unit": "group", "holdout": 0.4, "valid_of_holdout": 0.5, "salt": "t"}
    splits = make_splits(table, spec, [1, 10, 100]).merge(table, on="id")
    assert splits.groupby("group")["split"].nunique().max() == 1
    assert sorted(splits.groupby("split")["group"].nunique()) == [20, 20, 60]


def test_committed_manifest_matches_real_label_file(real_rsna):
    _, splits, _ = real_rsna
    committed = REPO / "splits" / "rsna" / "mgca.csv.gz"
    pd.testing.assert_frame_equal(read_splits(committed), splits)
    index = json.loads((REPO / "splits" / "index.json").read_text())
    assert index["rsna/mgca.csv.gz"]["sha256"] == hashlib.sha256(committed.read_bytes()).hexdigest()


def test_cli_json(real_rsna, capsys):
    path, _, _ = real_rsna
    main(["--dataset", "rsna", "--labels", str(path), "--protocol", "mgca", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert (out["train"], out["valid"], out["test"]) == (16_010, 5_337, 5_337)


def test_verify_identical_then_reports_differences(tmp_path, capsys):
    labels = pd.read_csv(txv_data_file("kaggle_stage_2_train_labels.csv.zip"))
    root = tmp_path / "rsna"
    root.mkdir()
    labels.to_csv(root / "stage_2_train_labels.csv", index=False)
    assert main(["verify", "--dataset", "rsna", "--root", str(root), "--manifests", str(REPO / "splits")]) == 0
    assert "identical" in capsys.readouterr().out
    dropped = labels["patientId"].iloc[0]
    labels[labels["patientId"] != dropped].to_csv(root / "stage_2_train_labels.csv", index=False)
    assert main(["verify", "--dataset", "rsna", "--root", str(root), "--manifests", str(REPO / "splits")]) == 1
    out = capsys.readouterr().out
    assert "only committed: 1 ids" in out and dropped in out


def test_clean_protocol_is_grouped_and_stratified(real_rsna):
    path, _, _ = real_rsna
    table = rsna_label_table(path)
    splits, fractions = compute("rsna", path, "clean")
    merged = table.merge(splits, on="id")
    rates = merged.groupby("split")["target"].mean()
    assert rates.max() - rates.min() < 0.002  # stratified: same positive rate in every split
    f1 = merged[merged["min_fraction"] <= 1]
    assert abs(f1["target"].mean() - table["target"].mean()) < 0.02
    assert split_sizes(splits, fractions)["train"] == 16_010


def test_gzipped_manifests_are_byte_identical_across_writes(tmp_path):
    from benchmark.data.split_manifest import write_manifest

    frame = pd.DataFrame({"id": ["a", "b"], "split": ["train", "test"], "min_fraction": [1, None]})
    write_manifest(tmp_path / "one" / "m.csv.gz", frame)
    write_manifest(tmp_path / "two" / "m.csv.gz", frame)
    assert (tmp_path / "one" / "m.csv.gz").read_bytes() == (tmp_path / "two" / "m.csv.gz").read_bytes()
    pd.testing.assert_frame_equal(read_splits(tmp_path / "one" / "m.csv.gz"), read_splits(tmp_path / "two" / "m.csv.gz"))


def test_publish_rewrites_every_committed_manifest_and_the_index_byte_for_byte(tmp_path):
    """``splits publish`` is how splits/ was made: from the label files torchxrayvision ships, the
    same bytes for every manifest and the same index.json."""
    from benchmark.data.splits import publish

    index = publish(tmp_path)
    committed = json.loads((REPO / "splits" / "index.json").read_text())
    assert index == committed
    assert json.loads((tmp_path / "index.json").read_text()) == committed
    for name in committed:
        assert (tmp_path / name).read_bytes() == (REPO / "splits" / name).read_bytes(), name


def test_write_all_writes_each_listed_manifest_with_its_checksum(phantom_root, tmp_path, capsys):
    import yaml

    from benchmark import splits as command
    from benchmark.data.split_manifest import checksum_path
    from benchmark.data.splits import find_label_file, is_manifest_folder

    params = tmp_path / "params.yaml"
    body = yaml.safe_load((REPO / "params.yaml").read_text())
    body["split_manifests"] = {"rsna-mgca": {"dataset": "rsna", "protocol": "mgca"},
                               "covidx-clean": {"dataset": "covidx", "protocol": "clean"}}
    params.write_text(yaml.safe_dump(body))
    out = tmp_path / "manifests"
    # the stage's own command, in this process: the root, the out folder and the params it names
    assert command.main(["write-all", "--root", str(phantom_root), "--out", str(out), "--params", str(params)]) == 0
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "covidx/clean.csv", "covidx/clean.csv.sha256", "rsna/mgca.csv", "rsna/mgca.csv.sha256"]
    for dataset, protocol in (("rsna", "mgca"), ("covidx", "clean")):
        want, _ = compute(dataset, find_label_file(dataset, phantom_root / dataset), protocol)
        path = out / dataset / f"{protocol}.csv"
        pd.testing.assert_frame_equal(read_splits(path), want)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert checksum_path(path).read_text().split()[0] == digest
    assert "splits rsna-mgca:" in capsys.readouterr().out
    assert is_manifest_folder(out)
    (out / "rsna" / "notes.txt").write_text("mine")
    assert not is_manifest_folder(out)  # a folder holding anything else is not ours to replace


def test_the_splits_stage_writes_every_pair_with_a_rule_unless_params_lists_some():
    from benchmark.data.splits import manifest_pairs

    pairs = manifest_pairs()
    assert list(pairs) == ["chexpert-mgca", "rsna-mgca", "covidx-mgca", "siim-mgca", "object_cxr-mgca",
                           "chexpert-clean", "rsna-clean", "covidx-clean", "siim-clean", "object_cxr-clean", "nih-clean"]
    assert pairs["object_cxr-clean"] == {"dataset": "object_cxr", "protocol": "clean"}
    listed = {"mine": {"dataset": "rsna", "protocol": "clean"}}
    assert manifest_pairs(listed) == listed and manifest_pairs({}) == pairs


def test_write_all_replaces_its_own_folder_and_refuses_any_other(phantom_root, tmp_path):
    import yaml

    from benchmark.core.errors import DataError
    from benchmark.data.splits import write_all

    params = tmp_path / "params.yaml"
    body = yaml.safe_load((REPO / "params.yaml").read_text())
    body["split_manifests"] = {"rsna-mgca": {"dataset": "rsna", "protocol": "mgca"}}
    params.write_text(yaml.safe_dump(body))
    out = tmp_path / "manifests"
    write_all(phantom_root, out, params)
    (out / ".dvcignore").write_text("")  # hidden entries (a tool's own files) do not make it foreign
    write_all(phantom_root, out, params)  # its own output: replaced
    assert (out / "rsna" / "mgca.csv").is_file()
    foreign = tmp_path / "foreign"
    (foreign / "rsna").mkdir(parents=True)
    (foreign / "rsna" / "notes.txt").write_text("mine")
    with pytest.raises(DataError, match="exists and is not a split-manifest folder written by this stage"):
        write_all(phantom_root, foreign, params)
    assert (foreign / "rsna" / "notes.txt").read_text() == "mine"


def test_compare_lists_ids_by_what_changed():
    from benchmark.data.splits import compare

    local = pd.DataFrame({"id": ["a", "b", "c", "d"], "split": ["train", "valid", "test", "train"],
                          "min_fraction": [1, None, None, 10]})
    committed = pd.DataFrame({"id": ["a", "b", "c", "e"], "split": ["train", "test", "test", "train"],
                              "min_fraction": [10, None, None, 1]})
    # a: fraction moved; b: split moved; c: the same; d only here; e only there
    assert compare(local, committed) == {"only_local": ["d"], "only_committed": ["e"], "changed": ["a", "b"]}


def test_verify_needs_the_index_and_its_checksum(tmp_path, capsys):
    import shutil

    from benchmark.core.errors import DataError

    labels = pd.read_csv(txv_data_file("kaggle_stage_2_train_labels.csv.zip"))
    root = tmp_path / "rsna"
    root.mkdir()
    labels.to_csv(root / "stage_2_train_labels.csv", index=False)
    manifests = tmp_path / "splits"
    (manifests / "rsna").mkdir(parents=True)
    shutil.copy(REPO / "splits" / "rsna" / "mgca.csv.gz", manifests / "rsna" / "mgca.csv.gz")
    args = ["verify", "--dataset", "rsna", "--root", str(root), "--manifests", str(manifests)]
    from benchmark.data.split_manifest import checksum_path

    sidecar = checksum_path(manifests / "rsna" / "mgca.csv.gz")
    digest = hashlib.sha256((manifests / "rsna" / "mgca.csv.gz").read_bytes()).hexdigest()
    sidecar.write_text(f"{digest}  mgca.csv.gz\n")  # readable on its own, but verify compares with the index
    with pytest.raises(DataError, match="does not match splits/index.json"):
        main(args)  # no index at all
    sidecar.unlink()
    index = json.loads((REPO / "splits" / "index.json").read_text())
    index["rsna/mgca.csv.gz"]["sha256"] = "0" * 64
    (manifests / "index.json").write_text(json.dumps(index))
    with pytest.raises(DataError, match="SHA-256 differs from the recorded one"):
        main(args)  # an index whose checksum is not the file's: refused when the manifest is read
    shutil.copy(REPO / "splits" / "index.json", manifests / "index.json")
    extra = labels.iloc[:1].assign(patientId="extra-patient")
    pd.concat([labels, extra]).to_csv(root / "stage_2_train_labels.csv", index=False)
    assert main(args) == 1
    out = capsys.readouterr().out
    assert "only local: 1 ids, e.g. extra-patient" in out and "compare the label files first" in out


def test_index_of_a_manifest_under_a_protocol_it_does_not_know_counts_the_usual_fractions(tmp_path, monkeypatch):
    """A manifest a user adds under a new protocol name is indexed with the 1/10/100 % fractions;
    a protocol naming a dataset no reader provides is skipped by publish, not a crash."""
    import shutil

    from benchmark.data import splits as lib

    (tmp_path / "rsna").mkdir()
    shutil.copy(REPO / "splits" / "rsna" / "mgca.csv.gz", tmp_path / "rsna" / "custom.csv.gz")
    monkeypatch.setattr(lib, "load_protocols", lambda: {"custom": {"fractions": [5, 50, 100], "datasets": {}}})
    committed = json.loads((REPO / "splits" / "index.json").read_text())["rsna/mgca.csv.gz"]
    entry = lib.write_index(tmp_path)["rsna/custom.csv.gz"]
    assert list(entry["fractions"]) == ["5", "50", "100"] and entry["fractions"]["100"] == committed["fractions"]["100"]
    assert entry["fractions"]["5"] < entry["fractions"]["50"] < entry["fractions"]["100"]
    monkeypatch.setattr(lib, "load_protocols", lambda: {"other": {"fractions": [5], "datasets": {}}})
    entry = lib.write_index(tmp_path)["rsna/custom.csv.gz"]
    assert entry["fractions"] == committed["fractions"] and entry["train"] == committed["train"]
    monkeypatch.setattr(lib, "load_protocols", lambda: {"mgca": {"fractions": [1, 10, 100], "datasets": {"not-a-dataset": {}}}})
    out = tmp_path / "published"
    assert lib.publish(out) == {} and json.loads((out / "index.json").read_text()) == {}


def test_a_plugin_datasets_rule_joins_the_protocol_it_names(monkeypatch):
    """A registered dataset that brings a rule for an existing protocol is listed under its own name
    there (a rule protocols.yaml already has for that name wins)."""
    from types import SimpleNamespace

    from benchmark.data import splits as lib

    rule = {"strategy": "random", "shares": {"train": 0.7, "valid": 0.15, "test": 0.15}}
    registered = dict(lib.DATASETS)
    toy = SimpleNamespace(protocols={"mgca": rule, "no-such-protocol": rule})
    monkeypatch.setattr(lib, "DATASETS", {**registered, "toy": toy})
    protocols = lib.load_protocols()
    assert protocols["mgca"]["datasets"]["toy"] == rule and "no-such-protocol" not in protocols
    monkeypatch.setattr(lib, "DATASETS", {**registered, "rsna": SimpleNamespace(protocols={"mgca": rule})})
    assert lib.load_protocols()["mgca"]["datasets"]["rsna"] != rule
