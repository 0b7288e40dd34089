"""MIMIC-CXR-JPG-shaped phantom: real IU reports, images rendered from their MeSH tags.

Layout written (as in MIMIC-CXR-JPG 2.0.0 plus the MIMIC-CXR report files)::

    files/pXX/pXXXXXXXX/sXXXXXXXX/<dicom_id>.jpg
    files/pXX/pXXXXXXXX/sXXXXXXXX.txt
    mimic-cxr-2.0.0-metadata.csv.gz
    mimic-cxr-2.0.0-split.csv.gz
    mimic-cxr-2.0.0-chexpert.csv.gz   one row per study, the 14 CheXpert labels (1 / empty)
    phantom-finding-masks/<dicom_id>.png   phantom only: where the frontal film's focal findings are

The label file says what the renderer drew (a finding kind maps to its CheXpert label; a
study with nothing drawn is "No Finding"), so it is exact where the real file is the
CheXpert labeller's reading of the report. The finding masks (0 / 255, one per frontal image,
empty for a film without focal findings) have no counterpart in the real dataset. Only the
positive control trains on labels and masks.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from benchmark.data.phantom.anatomy import Finding, render_frontal_with_region, render_lateral
from benchmark.data.phantom.parallel import parallel_map
from benchmark.data.phantom.sources import IUReport, findings_from_mesh, load_iu_reports
from benchmark.data.readers.mimic import CHEXPERT_FILE, CHEXPERT_LABELS, FINDING_MASKS, finding_mask

# gzip with a fixed mtime, so that the same seed gives byte-identical files
GZIP = {"method": "gzip", "mtime": 0}
METADATA_COLUMNS = [
    "dicom_id", "subject_id", "study_id", "PerformedProcedureStepDescription", "ViewPosition",
    "Rows", "Columns", "StudyDate", "StudyTime", "ProcedureCodeSequence_CodeMeaning",
    "ViewCodeSequence_CodeMeaning", "PatientOrientationCodeSequence_CodeMeaning",
]


# finding kind the renderer draws -> the CheXpert label that names it (kinds without one, such as
# hyperinflation or scoliosis, set no label but still rule out "No Finding")
KIND_TO_LABEL = {"cardiomegaly": "Cardiomegaly", "effusion": "Pleural Effusion", "opacity": "Lung Opacity",
                 "nodule": "Lung Lesion", "mass": "Lung Lesion", "granuloma": "Lung Lesion",
                 "pneumothorax": "Pneumothorax", "edema": "Edema", "atelectasis": "Atelectasis",
                 "device": "Support Devices", "catheter": "Support Devices"}


def chexpert_row(findings: list[Finding]) -> dict:
    """The 14 labels of a study as the real file writes them: 1.0 for a present label, NaN otherwise."""
    present = {KIND_TO_LABEL[f.kind] for f in findings if f.kind in KIND_TO_LABEL}
    if not findings:
        present.add("No Finding")
    return {label: 1.0 if label in present else np.nan for label in CHEXPERT_LABELS}


def _dicom_id(rng: np.random.Generator) -> str:
    return "-".join(f"{int(v):08x}" for v in rng.integers(0, 2**32, size=5, dtype=np.uint64))


def format_report(report: IUReport) -> str:
    """A report file in the MIMIC-CXR style: a header, then upper-case sections."""
    def section(title: str, body: str) -> str:
        wrapped = textwrap.fill(body, width=76, initial_indent=" ", subsequent_indent=" ") if body else ""
        return f" {title}:\n{wrapped}\n"

    parts = ["                                 FINAL REPORT", " EXAMINATION:  CHEST (PA AND LAT)", ""]
    if report.indication:
        parts += [f" INDICATION:  {report.indication}", ""]
    if report.comparison:
        parts += [f" COMPARISON:  {report.comparison}", ""]
    if report.findings:
        parts += [section("FINDINGS", report.findings)]
    if report.impression:
        parts += [section("IMPRESSION", report.impression)]
    return "\n".join(parts) + "\n"


def _write_study(task: tuple) -> tuple[list[dict], dict]:
    """Render and write one study (report + frontal view, maybe a lateral); returns its metadata
    rows and its label row."""
    out, seed, k, report_index, subject, study, image_size, lateral_share = task
    report = load_iu_reports()[report_index]
    study_dir = out / "files" / f"p{str(subject)[:2]}" / f"p{subject}"
    image_dir = study_dir / f"s{study}"
    image_dir.mkdir(parents=True, exist_ok=True)
    (study_dir / f"s{study}.txt").write_text(format_report(report))
    findings = findings_from_mesh(report.mesh)
    img_rng = np.random.default_rng([seed, k])
    views = ["PA" if img_rng.uniform() < 0.6 else "AP"]
    if img_rng.uniform() < lateral_share:
        views.append("LATERAL")
    date = 21000101 + int(img_rng.integers(0, 80)) * 10000 + int(img_rng.integers(0, 12))
    rows = []
    for view in views:
        dicom_id = _dicom_id(img_rng)
        if view == "LATERAL":
            pixels = render_lateral(img_rng, image_size, findings)
        else:
            pixels, region = render_frontal_with_region(img_rng, image_size, findings)
            Image.fromarray(region.astype(np.uint8) * 255).save(out / finding_mask(dicom_id))
        Image.fromarray(pixels).save(image_dir / f"{dicom_id}.jpg", quality=95)
        rows.append({
            "dicom_id": dicom_id, "subject_id": subject, "study_id": study,
            "PerformedProcedureStepDescription": "CHEST (PA AND LAT)", "ViewPosition": view,
            "Rows": image_size, "Columns": image_size, "StudyDate": date, "StudyTime": 120000.0,
            "ProcedureCodeSequence_CodeMeaning": "CHEST (PA AND LAT)",
            "ViewCodeSequence_CodeMeaning": {"LATERAL": "lateral", "AP": "antero-posterior"}.get(view, "postero-anterior"),
            "PatientOrientationCodeSequence_CodeMeaning": "Erect",
        })
    return rows, {"subject_id": subject, "study_id": study, **chexpert_row(findings)}


def write_mimic(out: Path, *, studies: int, seed: int, image_size: int, lateral_share: float = 0.3,
                studies_per_subject: float = 2.0, workers: int = 1) -> pd.DataFrame:
    """Write ``studies`` studies; returns the metadata table."""
    rng = np.random.default_rng(seed)
    reports = load_iu_reports()
    picks = rng.choice(len(reports), size=studies, replace=studies > len(reports))
    n_subjects = max(1, int(round(studies / studies_per_subject)))
    subjects = rng.choice(np.arange(10_000_000, 20_000_000), size=n_subjects, replace=False)
    study_ids = rng.choice(np.arange(50_000_000, 60_000_000), size=studies, replace=False)
    subject_of = subjects[rng.integers(0, n_subjects, size=studies)]
    split_of_subject = {int(s): ("test" if u < 0.02 else "validate" if u < 0.03 else "train")
                        for s, u in zip(subjects, rng.uniform(size=n_subjects))}
    (out / FINDING_MASKS).mkdir(parents=True, exist_ok=True)
    tasks = [(out, seed, k, int(picks[k]), int(subject_of[k]), int(study_ids[k]), image_size, lateral_share)
             for k in range(studies)]
    written = parallel_map(_write_study, tasks, workers, "phantom mimic")
    meta = pd.DataFrame([row for rows, _ in written for row in rows], columns=METADATA_COLUMNS)
    labels = pd.DataFrame([label for _, label in written], columns=["subject_id", "study_id", *CHEXPERT_LABELS])
    labels.sort_values("study_id").to_csv(out / CHEXPERT_FILE, index=False, compression=GZIP)
    meta.to_csv(out / "mimic-cxr-2.0.0-metadata.csv.gz", index=False, compression=GZIP)
    split = meta[["dicom_id", "study_id", "subject_id"]].copy()
    split["split"] = split["subject_id"].map(split_of_subject)
    split.to_csv(out / "mimic-cxr-2.0.0-split.csv.gz", index=False, compression=GZIP)
    return meta
