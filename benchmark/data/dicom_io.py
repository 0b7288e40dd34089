"""DICOM in and out: the one place that turns a DICOM into a uint8 image.

Reading follows the reference preprocessing of the field: pixel data scaled by
255 / max into uint8 (any bit depth), MONOCHROME1 inverted so that bone is bright.
Writing exists for the phantom datasets, which must look like the real files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import (
    ExplicitVRLittleEndian,
    SecondaryCaptureImageStorage,
    generate_uid,
)

from benchmark.core.errors import DataError
from benchmark.data.imaging import MAX_PIXELS, SkippedImage, scale_to_uint8


def read_dicom_uint8(path: str | Path) -> np.ndarray:
    """Decode one DICOM to a 2-D uint8 array, or raise DataError naming the file."""
    path = Path(path)
    try:
        ds = pydicom.dcmread(path)
    except FileNotFoundError:
        raise DataError(path, "image file missing") from None
    except Exception as err:  # pydicom raises many types for corrupt files
        raise DataError(path, f"not a readable DICOM ({type(err).__name__}: {err})") from None
    if "PixelData" not in ds:
        raise DataError(path, "DICOM has no pixel data")
    if int(ds.get("Rows", 0) or 0) * int(ds.get("Columns", 0) or 0) > MAX_PIXELS:
        raise SkippedImage(f"image larger than {MAX_PIXELS:,} pixels")
    try:
        pixels = ds.pixel_array
    except Exception as err:
        raise DataError(path, f"cannot decode DICOM pixel data ({type(err).__name__}: {err})") from None
    if pixels.ndim != 2:
        raise DataError(path, f"expected a single grayscale frame, got pixel array of shape {pixels.shape}")
    out = scale_to_uint8(pixels)  # signed data is shifted to non-negative first
    if str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper() == "MONOCHROME1":
        out = 255 - out
    return out


def write_dicom(path: str | Path, pixels: np.ndarray, *, patient_id: str, view: str = "PA",
                modality: str = "CR", monochrome1: bool = False) -> None:
    """Write a grayscale uint8/uint16 image as a Secondary Capture DICOM file."""
    path = Path(path)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=[patient_id, str(path.name)])
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid(entropy_srcs=[patient_id, "study"])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=[patient_id, "series"])
    ds.PatientID = patient_id
    ds.PatientName = patient_id
    ds.Modality = modality
    ds.BodyPartExamined = "CHEST"
    ds.ViewPosition = view
    ds.ConversionType = "WSD"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME1" if monochrome1 else "MONOCHROME2"
    ds.Rows, ds.Columns = int(pixels.shape[0]), int(pixels.shape[1])
    bits = 8 if pixels.dtype == np.uint8 else 16
    ds.BitsAllocated = bits
    ds.BitsStored = bits if bits == 8 else int(max(1, int(pixels.max())).bit_length())
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 0
    ds.PixelData = np.ascontiguousarray(pixels).tobytes()
    ds.save_as(path, enforce_file_format=True)
