"""Readers on phantom copies, and clear one-line errors on malformed input."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from support import data_error

from benchmark.data.datasets import get_reader
from benchmark.data.dicom_io import read_dicom_uint8, write_dicom
from benchmark.data.imaging import Letterbox, letterbox
from benchmark.data.phantom.anatomy import Finding, render_frontal, render_frontal_with_region
from benchmark.data.phantom.sources import findings_from_mesh, load_iu_reports
from benchmark.data.readers.mimic import FINDING_MASKS, finding_mask, report_text
from benchmark.data.store import Store, build_store


def test_rsna_reader_on_phantom(phantom_root, smoke_profile):
    frame = get_reader("rsna").records(phantom_root / "rsna")
    raw = pd.read_csv(phantom_root / "rsna" / "stage_2_train_labels.csv")
    assert len(frame) == raw["patientId"].nunique() == smoke_profile["phantom"]["datasets"]["rsna"]["patients"]
    positives = raw.groupby("patientId")["Target"].max()
    assert frame.set_index("id")["target"].sort_index().tolist() == positives.sort_index().tolist()
    n_boxes = frame["boxes"].map(lambda b: len(json.loads(b))).sum()
    assert n_boxes == int((raw["Target"] == 1).sum())


def test_rsna_boxes_are_corners_of_the_raw_x_y_width_height(phantom_root):
    """The label file gives a corner plus width and height; the store holds x1, y1, x2, y2 of the same box."""
    frame = get_reader("rsna").records(phantom_root / "rsna").set_index("id")
    raw = pd.read_csv(phantom_root / "rsna" / "stage_2_train_labels.csv")
    positive = raw[raw["Target"] == 1]
    assert positive["width"].ne(positive["height"]).any()  # a square-only file could not tell x2 from y2
    for pid, rows in positive.groupby("patientId"):
        want = sorted([r.x, r.y, r.x + r.width, r.y + r.height] for r in rows.itertuples())
        got = sorted(json.loads(frame.loc[pid, "boxes"]))
        np.testing.assert_allclose(got, want, atol=1e-9, err_msg=pid)


def test_mimic_reader_keeps_frontal_with_text(phantom_root):
    root = phantom_root / "mimic"
    frame = get_reader("mimic").records(root)
    meta = pd.read_csv(root / "mimic-cxr-2.0.0-metadata.csv.gz")
    frontal = meta["ViewPosition"].isin(["PA", "AP"]).sum()
    skipped = frame.attrs["skipped"]
    assert skipped["non-frontal view"] == (~meta["ViewPosition"].isin(["PA", "AP"])).sum()
    assert len(frame) + skipped.get("report without findings/impression", 0) == frontal
    assert (frame["text"].str.len() > 0).all()
    assert frame["path"].str.match(r"files/p1\d/p1\d{7}/s5\d{7}/[0-9a-f-]{44}\.jpg").all()


def test_phantom_finding_region_is_where_the_finding_was_drawn():
    """The region costs no random draw (the film is byte-identical to render_frontal's); a film
    without focal findings has none; an opacity in the patient's right lung lies in the image's
    left half (radiological convention) and covers a blob, not the film."""
    opacity = [Finding("opacity", "right", "middle")]
    plain, none = render_frontal_with_region(np.random.default_rng(7), 96, [Finding("cardiomegaly")])
    assert not none.any() and np.array_equal(plain, render_frontal(np.random.default_rng(7), 96, [Finding("cardiomegaly")]))
    film, region = render_frontal_with_region(np.random.default_rng(7), 96, opacity)
    assert np.array_equal(film, render_frontal(np.random.default_rng(7), 96, opacity))
    cols = np.flatnonzero(region.any(axis=0))
    assert 20 < region.sum() < 0.25 * 96 * 96 and cols.max() < 48, (region.sum(), cols)


def test_mimic_phantom_finding_masks_reach_the_store(mimic_copy, tmp_path):
    """The phantom's masks (one per frontal image) become the store's masks.npy: empty exactly for
    the studies whose labels say nothing focal was drawn; a missing or misshapen mask file is a
    one-line error naming it; a root without the folder (the real dataset) gives a store without masks,
    also from a reader that built a phantom store before (the answer is the root's, not the reader's)."""
    reader = get_reader("mimic")
    assert reader.masks_at(mimic_copy)
    info = build_store(reader, mimic_copy, tmp_path / "store", 32)
    store = Store.open(tmp_path / "store")
    assert info["has_masks"] and store.masks.shape == store.images.shape
    drawn = store.manifest[["Lung Opacity", "Lung Lesion", "Pleural Effusion", "Pneumothorax", "Atelectasis"]].sum(axis=1) > 0
    has_region = store.masks.reshape(len(store.masks), -1).max(axis=1) > 0
    assert has_region.sum() > 0 and not (has_region & ~drawn.to_numpy()).any()

    first = get_reader("mimic").records(mimic_copy)["id"].iloc[0]
    mask_file = mimic_copy / finding_mask(first)
    Image.fromarray(np.zeros((10, 12), np.uint8)).save(mask_file)
    msg = data_error(build_store, get_reader("mimic"), mimic_copy, tmp_path / "bad", 32)
    assert str(mask_file) in msg and "12x10 px" in msg and not (tmp_path / "bad").exists()
    mask_file.unlink()
    msg = data_error(get_reader("mimic").records, mimic_copy)
    assert str(mask_file) in msg and "finding mask missing (1 of" in msg
    shutil.rmtree(mimic_copy / FINDING_MASKS)
    assert not reader.masks_at(mimic_copy)
    info = build_store(reader, mimic_copy, tmp_path / "real", 32)
    assert not info["has_masks"] and Store.open(tmp_path / "real").masks is None


def test_mimic_reader_with_mgcas_section_splitter(phantom_root):
    """``sections: mgca`` (the paper profile): the phantom's reports are in MIMIC's layout, so both
    splitters find the same IMPRESSION and FINDINGS and the texts agree."""
    root = phantom_root / "mimic"
    ours = get_reader("mimic").records(root)
    mgca = get_reader("mimic", {"sections": "mgca"}).records(root)
    assert len(mgca) == len(ours) and (mgca["text"] == ours["text"]).mean() == 1.0
    with pytest.raises(Exception, match="reader option sections 'x' is not one of ours, mgca"):
        get_reader("mimic", {"sections": "x"})


def test_report_text_is_impression_then_findings():
    text = " FINAL REPORT\n INDICATION: cough\n FINDINGS:\n Lungs are clear.\n\n IMPRESSION:\n No acute process.\n"
    assert report_text(text) == "No acute process. Lungs are clear."


def test_mesh_tags_become_findings():
    found = findings_from_mesh(("Opacity/lung/base/left/mild", "Cardiomegaly/borderline", "normal"))
    assert [(f.kind, f.side, f.zone) for f in found] == [("opacity", "left", "lower"), ("cardiomegaly", "any", "any")]
    assert len(load_iu_reports()) == 3955


def test_store_boxes_follow_letterbox(rsna_copy, tmp_path):
    info = build_store(get_reader("rsna"), rsna_copy, tmp_path / "store", 64)
    store = Store.open(tmp_path / "store")
    assert store.images.shape == (info["count"], 64, 64) and store.images.dtype == np.uint8
    row = store.manifest[store.manifest["target"] == 1].iloc[0]
    orig, placed = json.loads(row["boxes_original"]), json.loads(row["boxes"])
    scale = 64 / row["orig_width"]
    assert placed[0] == pytest.approx([v * scale for v in orig[0]], abs=0.01)
    boxes = [v for text in store.manifest["boxes"] for box in json.loads(text) for v in box]
    assert boxes and all(v == round(v, 2) for v in boxes)  # stored at 0.01 px: what the manifest's CSV holds
    assert any(v != round(v, 1) for v in boxes)
    assert get_reader("rsna").records(rsna_copy).attrs["skipped"] == {}  # nothing left out of the phantom


def test_letterbox_pads_long_images():
    img = np.full((100, 50), 200, np.uint8)
    out = letterbox(img, 40)
    assert out.shape == (40, 40)
    assert out[:, :9].max() == 0 and out[:, 11:29].min() == 200  # 20 px wide band centred
    lb = Letterbox.fit(100, 50, 40)
    assert lb.box(0, 0, 50, 100) == pytest.approx((10, 0, 30, 40))


def test_dicom_monochrome1_and_16bit(tmp_path):
    ramp = (np.arange(16, dtype=np.uint16).reshape(4, 4) * 256)  # 12-bit style values up to 3840
    write_dicom(tmp_path / "a.dcm", ramp, patient_id="x")
    out = read_dicom_uint8(tmp_path / "a.dcm")
    assert out.dtype == np.uint8 and out.max() == 255 and out.min() == 0
    write_dicom(tmp_path / "b.dcm", ramp, patient_id="x", monochrome1=True)
    inverted = read_dicom_uint8(tmp_path / "b.dcm")
    assert (inverted == 255 - out).all()




def test_rsna_missing_column(rsna_copy):
    path = rsna_copy / "stage_2_train_labels.csv"
    pd.read_csv(path).drop(columns=["Target"]).to_csv(path, index=False)
    msg = data_error(get_reader("rsna").records, rsna_copy)
    assert "stage_2_train_labels.csv" in msg and "Target" in msg


def test_rsna_bad_target_names_row(rsna_copy):
    path = rsna_copy / "stage_2_train_labels.csv"
    frame = pd.read_csv(path)
    frame["Target"] = frame["Target"].astype(object)
    frame.loc[3, "Target"] = "maybe"
    frame.to_csv(path, index=False)
    assert "row 5" in data_error(get_reader("rsna").records, rsna_copy)


def test_rsna_missing_image_names_file_and_row(rsna_copy):
    frame = pd.read_csv(rsna_copy / "stage_2_train_labels.csv")
    victim = frame["patientId"].iloc[0]
    (rsna_copy / "stage_2_train_images" / f"{victim}.dcm").unlink()
    msg = data_error(get_reader("rsna").records, rsna_copy)
    assert victim in msg and "missing" in msg and "row 2" in msg


def test_rsna_box_outside_image(rsna_copy, tmp_path):
    path = rsna_copy / "stage_2_train_labels.csv"
    frame = pd.read_csv(path)
    i = frame.index[frame["Target"] == 1][0]
    frame.loc[i, "width"] = 10_000
    frame.to_csv(path, index=False)
    msg = data_error(build_store, get_reader("rsna"), rsna_copy, tmp_path / "store", 32)
    assert "outside" in msg and f"row {i + 2}" in msg
    assert not (tmp_path / "store").exists()


def test_corrupt_jpeg_is_a_clear_error(mimic_copy, tmp_path):
    frame = get_reader("mimic").records(mimic_copy)
    (mimic_copy / frame["path"].iloc[0]).write_bytes(b"\xff\xd8\xff\xe0 truncated")
    msg = data_error(build_store, get_reader("mimic"), mimic_copy, tmp_path / "store", 32)
    assert frame["path"].iloc[0] in msg and "decode" in msg
    assert not (tmp_path / "store").exists()


def test_cli_missing_root_one_line_nonzero(tmp_path):
    out = tmp_path / "store"
    proc = subprocess.run([sys.executable, "-m", "benchmark.prepare", "--dataset", "rsna", "--root",
                           str(tmp_path / "nope"), "--out", str(out), "--size", "32"], capture_output=True, text=True)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "nope" in lines[0] and "not found" in lines[0]
    assert not out.exists()


def test_rsna_mask_is_the_union_of_its_boxes_in_original_pixels():
    """RSNA's segmentation target (MGCA): every box filled, as booleans, clipped at the top-left edge."""
    row = pd.Series({"boxes": json.dumps([[2.0, 1.0, 5.0, 3.0], [4.0, 2.0, 6.4, 4.0], [-1.0, -2.0, 1.0, 1.0]])})
    mask = get_reader("rsna").load_mask(None, row, 6, 8)
    assert mask.dtype == bool and mask.shape == (6, 8)
    want = np.zeros((6, 8), dtype=bool)
    want[1:3, 2:5] = want[2:4, 4:6] = want[0:1, 0:1] = True
    assert (mask == want).all() and int(mask.sum()) == 6 + 4 - 1 + 1


def test_rsna_patient_ids_are_read_as_text(tmp_path):
    """A patientId that looks like a number keeps its leading zeros (pandas would read 0012 as 12)."""
    from benchmark.data.readers.rsna import rsna_label_table

    path = tmp_path / "stage_2_train_labels.csv"
    path.write_text("patientId,x,y,width,height,Target\n0012,,,,,0\n00345,10,20,30,40,1\n")
    table = rsna_label_table(path)
    assert sorted(table["id"]) == ["0012", "00345"]


def test_rsna_label_table_columns_from_a_hand_written_file(tmp_path):
    """One row per patient, sorted by id: target, corner boxes, the rows they came from, the official
    split (RSNA's stage-2 train file is all "train") and the stratum as text."""
    from benchmark.data.readers.rsna import rsna_label_table

    path = tmp_path / "stage_2_train_labels.csv"
    path.write_text("patientId,x,y,width,height,Target\nb,1,2,3,4,1\na,,,,,0\nb,10,20,5,6,1\n")
    table = rsna_label_table(path)
    assert table["id"].tolist() == ["a", "b"] and table["group"].tolist() == ["a", "b"]
    assert table["target"].tolist() == [0, 1] and table["strat"].tolist() == ["0", "1"]
    assert table["official_split"].tolist() == ["train", "train"]
    assert [json.loads(b) for b in table["boxes"]] == [[], [[1.0, 2.0, 4.0, 6.0], [10.0, 20.0, 15.0, 26.0]]]
    assert table["label_row"].tolist() == [3, 2] and [json.loads(r) for r in table["box_rows"]] == [[], [2, 4]]


@pytest.mark.parametrize("rows, message", [
    # a repeated box names both rows (CSV rows: the header is row 1)
    (["p1,1,1,2,2,1", "p2,,,,,0", "p1,3,3,2,2,1", "p1,1,1,2,2,1"], "row 5: patient p1: row repeats row 2"),
    (["p2,,,,,0", "p1,1,1,2,2,1", "p2,,,,,0"], "row 4: patient p2: row repeats row 2"),
    # a negative patient with another row lists every row of that patient, the error at the last
    (["p1,1,1,2,2,1", "p2,,,,,0", "p3,1,1,2,2,1", "p2,5,5,2,2,1"],
     "row 5: patient p2 has a Target 0 row and another row (rows 3, 5)"),
])
def test_rsna_repeated_and_mixed_rows_name_the_rows_exactly(tmp_path, rows, message):
    from benchmark.data.readers.rsna import rsna_label_table

    path = tmp_path / "stage_2_train_labels.csv"
    path.write_text("patientId,x,y,width,height,Target\n" + "\n".join(rows) + "\n")
    assert message in data_error(rsna_label_table, path)


@pytest.mark.parametrize("row, problem", [
    (",,,,,0", "empty patientId"),
    ("p1,-1,5,10,10,1", "row 3"),            # a box starting left of the image (row 2 starts at 0: fine)
    ("p1,5,-1,10,10,1", "row 3"),            # ... or above it
    ("p1,5,5,0,10,1", "row 3"),              # a box without width
    ("p1,5,5,10,0,1", "row 3"),              # ... or height
    ("p1,5,5,ten,10,1", "row 3"),            # a coordinate that is not a number
    ("p1,5,5,inf,10,1", "row 3"),            # ... or not finite
])
def test_rsna_label_rows_that_cannot_be_a_box_are_refused_by_row(tmp_path, row, problem):
    """The label table's own checks (the reader's are in the bad-input corpus): each bad row is a
    one-line error naming the file and the row; a box at x = 0 or y = 0 is fine."""
    from benchmark.data.readers.rsna import rsna_label_table

    path = tmp_path / "stage_2_train_labels.csv"
    path.write_text(f"patientId,x,y,width,height,Target\np2,0,0,3,4,1\n{row}\n")
    message = data_error(rsna_label_table, path)
    assert "stage_2_train_labels.csv" in message and problem in message
    path.write_text("patientId,x,y,width,height,Target\np2,0,0,3,4,1\n")
    assert json.loads(rsna_label_table(path)["boxes"].iloc[0]) == [[0.0, 0.0, 3.0, 4.0]]
