"""Preprocessed store: one uint8 array per dataset plus a manifest table.

Layout of a store folder::

    images.npy      uint8 (N, S, S), letterboxed; memory-mapped at training time
    masks.npy       uint8 (N, S, S) 0/1 segmentation masks, same letterbox (only for datasets with masks)
    manifest.csv    row i describes images[i]: id, group, path, targets (boxes in store pixels)
    store.json      dataset, size, count, skipped rows by reason, checksums, schema version

Training never decodes JPEG or DICOM again; a store is written in a temporary folder
and renamed into place only when complete.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from tqdm import tqdm

from benchmark.atomic import atomic_dir
from benchmark.errors import DataError
from benchmark.imaging import Letterbox, letterbox
from benchmark.readers.base import Reader

STORE_SCHEMA = 1


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


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
    def open(cls, path: str | Path) -> "Store":
        path = Path(path)
        info_path = path / "store.json"
        if not info_path.is_file():
            raise DataError(path, "not a prepared store (store.json missing); run `python -m benchmark.prepare`")
        info = json.loads(info_path.read_text())
        if info.get("schema") != STORE_SCHEMA:
            raise DataError(info_path, f"store schema {info.get('schema')} != {STORE_SCHEMA}; prepare it again")
        images = np.load(path / "images.npy", mmap_mode="r")
        manifest = pd.read_csv(path / "manifest.csv", dtype={"id": str, "group": str}, keep_default_na=False)
        if len(manifest) != images.shape[0] or images.shape[0] != info["count"]:
            raise DataError(path, f"manifest ({len(manifest)} rows) and images ({images.shape[0]}) disagree")
        masks = np.load(path / "masks.npy", mmap_mode="r") if info.get("has_masks") else None
        if masks is not None and masks.shape != images.shape:
            raise DataError(path / "masks.npy", f"shape {masks.shape} differs from images {images.shape}")
        return cls(path=path, images=images, manifest=manifest, info=info, masks=masks)

    def rows_for_ids(self, ids: list[str] | pd.Index) -> np.ndarray:
        """Store row indices of ``ids``, in the given order; unknown ids are an error."""
        position = pd.Series(np.arange(len(self.manifest)), index=self.manifest["id"].astype(str))
        missing = pd.Index(ids).difference(position.index)
        if len(missing):
            raise DataError(self.path / "manifest.csv", f"{len(missing)} split ids not in store, e.g. {missing[0]!r}")
        return position.loc[list(ids)].to_numpy()
