"""Preprocessed store: one uint8 array per dataset plus a manifest table.

Layout of a store folder::

    images.npy      uint8 (N, S, S), letterboxed; memory-mapped at training time
    masks.npy       uint8 (N, S, S) 0/1 segmentation masks, same letterbox (only for datasets with masks)
    manifest.csv    row i describes images[i]: id, group, path, targets (boxes in store pixels)
    store.json      dataset, size, count, skipped rows by reason, checksums, schema version

Training never decodes JPEG or DICOM again; a store is written in a temporary folder
and renamed into place only when complete.

Checks on :meth:`Store.open` (a store that fails one is rejected with a DataError naming
the file, never half-opened): ``store.json`` readable, of this schema and complete; the
manifest's SHA-256 equal to the one recorded (the manifest is small, so this is checked
on every open: an edited or swapped manifest is caught); ``images.npy`` and ``masks.npy``
with a valid header of the recorded dtype and shape and exactly the file size that
shape needs (a truncated or padded array is caught). The full SHA-256 of the image
arrays (recorded in ``store.json``) is not recomputed on every open: for a real store
that is gigabytes read before training starts; ``Store.open(path, verify_arrays=True)``
checks it.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from tqdm import tqdm

from benchmark.atomic import atomic_dir
from benchmark.errors import DataError, read_json_object
from benchmark.imaging import Letterbox, letterbox
from benchmark.readers.base import Reader

STORE_SCHEMA = 1
#: what store.json must hold
STORE_KEYS = ("dataset", "image_size", "count", "manifest_sha256", "images_sha256", "has_masks")


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def read_npy_header(path: str | Path) -> tuple[tuple[int, ...], np.dtype, int]:
    """Shape, dtype and data offset of a ``.npy`` file, checking that the file is exactly as
    long as its header says (a truncated or padded array is a DataError naming the file)."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
            offset = fh.tell()
    except (OSError, ValueError, EOFError) as err:
        raise DataError(path, f"not a readable .npy array ({err})") from None
    if dtype.hasobject or fortran:
        raise DataError(path, "unexpected array layout (object or Fortran order)")
    expected = offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    actual = os.path.getsize(path)
    if actual != expected:
        raise DataError(path, f"{actual} bytes, but its header ({dtype} {list(shape)}) needs {expected}: "
                        f"{'truncated' if actual < expected else 'trailing data'}")
    return tuple(shape), dtype, offset


def describe_array(path: Path) -> dict:
    """Shape, dtype and SHA-256 of a written ``.npy``: what :func:`check_described_array` checks
    it against when it is read back."""
    shape, dtype, _ = read_npy_header(path)
    return {"shape": list(shape), "dtype": str(dtype), "sha256": sha256_file(path)}


def check_described_array(path: Path, info: dict, description: str) -> tuple[int, ...]:
    """Check a cached ``.npy`` against the shape, dtype and SHA-256 its description file
    (``description``, e.g. "features.json") records; returns its shape."""
    shape, dtype, _ = read_npy_header(path)
    if list(shape) != list(info["shape"]) or str(dtype) != info["dtype"]:
        raise DataError(path, f"array is {dtype} {list(shape)}, {description} says {info['dtype']} {info['shape']}")
    if sha256_file(path) != info["sha256"]:
        raise DataError(path, f"corrupt: SHA-256 differs from {description}")
    return shape


def _open_array(path: Path, shape: tuple[int, ...], dtype=np.uint8) -> np.ndarray:
    if not path.is_file():
        raise DataError(path, "missing from the store; prepare it again")
    found_shape, found_dtype, _ = read_npy_header(path)
    if found_shape != shape or found_dtype != np.dtype(dtype):
        raise DataError(path, f"array is {found_dtype} {list(found_shape)}, store.json says {np.dtype(dtype)} {list(shape)}")
    return np.load(path, mmap_mode="r")


def build_store(reader: Reader, root: Path, out: Path, size: int) -> dict:
    """Read every record of ``root`` with ``reader`` and write the store to ``out``."""
    records = reader.records(root)
    skipped = dict(records.attrs.get("skipped", {}))
    n = len(records)
    with atomic_dir(out) as tmp:
        images = np.lib.format.open_memmap(tmp / "images.npy", mode="w+", dtype=np.uint8, shape=(n, size, size))
        masks = (np.lib.format.open_memmap(tmp / "masks.npy", mode="w+", dtype=np.uint8, shape=(n, size, size))
                 if reader.has_masks else None)
        extra_rows = []
        for i, (_, row) in enumerate(tqdm(records.iterrows(), total=n, desc=f"prepare {reader.name}",
                                          unit="img", leave=False)):
            pixels = reader.load_image(root, row["path"])
            h, w = pixels.shape
            images[i] = letterbox(pixels, size)
            if masks is not None:
                mask = reader.load_mask(root, row, h, w).astype(np.uint8)
                masks[i] = letterbox(mask, size, resample=Image.NEAREST)
            placed = reader.place_targets(row, h, w, Letterbox.fit(h, w, size), root)
            extra_rows.append({"orig_height": h, "orig_width": w, **placed})
        images.flush()
        del images
        if masks is not None:
            masks.flush()
            del masks
        manifest = records.reset_index(drop=True).copy()
        for key, values in pd.DataFrame(extra_rows, index=manifest.index).items():
            manifest[key] = values
        manifest.insert(0, "index", np.arange(n))
        manifest.to_csv(tmp / "manifest.csv", index=False)
        info = {
            "schema": STORE_SCHEMA,
            "dataset": reader.name,
            "image_size": size,
            "count": n,
            "skipped": skipped,
            "manifest_sha256": sha256_file(tmp / "manifest.csv"),
            "images_sha256": sha256_file(tmp / "images.npy"),
            "has_masks": reader.has_masks,
        }
        if reader.has_masks:
            info["masks_sha256"] = sha256_file(tmp / "masks.npy")
        (tmp / "store.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    return info


@dataclass
class Store:
    """An opened store: memory-mapped images and the manifest."""

    path: Path
    images: np.ndarray
    manifest: pd.DataFrame
    info: dict
    masks: np.ndarray | None = None

    @classmethod
    def open(cls, path: str | Path, verify_arrays: bool = False) -> "Store":
        """Open a prepared store after the checks in the module docstring; ``verify_arrays``
        also recomputes the SHA-256 of ``images.npy`` (and ``masks.npy``)."""
        path = Path(path)
        info_path = path / "store.json"
        if not info_path.is_file():
            raise DataError(path, "not a prepared store (store.json missing); run `python -m benchmark.prepare`")
        info = read_json_object(info_path, "store description", "; prepare it again")
        if info.get("schema") != STORE_SCHEMA:
            found = info.get("schema")
            raise DataError(info_path, f"store schema {found} != {STORE_SCHEMA}; prepare it again")
        missing = [k for k in STORE_KEYS if k not in info]
        if missing:
            raise DataError(info_path, f"store description lacks {', '.join(missing)}; prepare it again")
        manifest_path = path / "manifest.csv"
        if not manifest_path.is_file():
            raise DataError(manifest_path, "missing from the store; prepare it again")
        if sha256_file(manifest_path) != info["manifest_sha256"]:
            raise DataError(manifest_path, "SHA-256 differs from store.json (edited, or from another store); prepare it again")
        n, size = int(info["count"]), int(info["image_size"])
        images = _open_array(path / "images.npy", (n, size, size))
        masks = _open_array(path / "masks.npy", (n, size, size)) if info["has_masks"] else None
        if verify_arrays:
            for name, key in (("images.npy", "images_sha256"), ("masks.npy", "masks_sha256")):
                if key in info and sha256_file(path / name) != info[key]:
                    raise DataError(path / name, "SHA-256 differs from store.json (corrupt); prepare it again")
        manifest = pd.read_csv(manifest_path, dtype={"id": str, "group": str}, keep_default_na=False)
        if len(manifest) != n:
            raise DataError(path, f"manifest ({len(manifest)} rows) and images ({n}) disagree")
        return cls(path=path, images=images, manifest=manifest, info=info, masks=masks)

    def rows_for_ids(self, ids: list[str] | pd.Index) -> np.ndarray:
        """Store row indices of ``ids``, in the given order; unknown ids are an error."""
        position = pd.Series(np.arange(len(self.manifest)), index=self.manifest["id"].astype(str))
        missing = pd.Index(ids).difference(position.index)
        if len(missing):
            raise DataError(self.path / "manifest.csv", f"{len(missing)} split ids not in store, e.g. {missing[0]!r}")
        return position.loc[list(ids)].to_numpy()
