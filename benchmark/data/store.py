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

from benchmark.core.atomic import atomic_dir
from benchmark.core.errors import DataError, read_json_object
from benchmark.data.imaging import Letterbox, letterbox
from benchmark.data.readers.base import Reader

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


def allocated_memmap(path: Path, shape: tuple[int, ...]) -> np.memmap:
    """A uint8 ``.npy`` memory map whose disk blocks are reserved up front: writing pages of a
    sparse memory map on a full disk kills the process with SIGBUS and no message, while a
    reservation that does not fit is an error naming the file."""
    array = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=shape)
    try:
        with open(path, "r+b") as fh:
            os.posix_fallocate(fh.fileno(), 0, os.path.getsize(path))
    except OSError as err:
        raise DataError(path, f"cannot reserve {os.path.getsize(path) / 2**20:.0f} MiB for the store "
                        f"({err.strerror})") from None
    return array


def _keep_rows(path: Path, kept: int, shape: tuple[int, ...]) -> None:
    """Cut ``path`` (an .npy of ``shape[0]`` rows) to its first ``kept`` rows (after skipped images)."""
    source = np.load(path, mmap_mode="r")
    smaller = path.with_name(path.stem + ".kept.npy")
    target = allocated_memmap(smaller, (kept, *shape[1:]))
    for start in range(0, kept, 4096):
        stop = min(start + 4096, kept)
        target[start:stop] = source[start:stop]
    target.flush()
    del target, source
    os.replace(smaller, path)


#: the label files recorded (with their SHA-256) in store.json: the dataset root's top-level tables
LABEL_SUFFIXES = (".csv", ".txt", ".gz", ".json")


def label_files(root: Path) -> dict[str, str]:
    """Name -> SHA-256 of the label files in a dataset root (its top-level tables), so that a store
    says which version of the labels it was built from."""
    return {p.name: sha256_file(p) for p in sorted(Path(root).iterdir())
            if p.is_file() and p.name.endswith(LABEL_SUFFIXES)}


def check_one_split_per_content(manifest: pd.DataFrame, root: Path) -> None:
    """The same pixels must not be in two official splits of a store (an image listed as training
    data under another name would leak a test image into training)."""
    if "official_split" not in manifest:
        return
    splits = manifest.groupby("pixel_sha256", sort=False)["official_split"].nunique()
    shared = splits[splits > 1].index
    if len(shared):
        rows = manifest[manifest["pixel_sha256"] == shared[0]].drop_duplicates("official_split")
        (a, b) = rows.iloc[0], rows.iloc[1]
        raise DataError(root, f"image {b['id']} ({b['official_split']}) has the same pixels as {a['id']} "
                        f"({a['official_split']}): one image in two splits")


def _prepare_one(reader: Reader, root: Path, size: int, decode: str, with_masks: bool, row: pd.Series) -> tuple:
    """One record: ``("skip", reason)``, or ``("ok", image, mask or None, manifest fields)`` with the
    image (and, ``with_masks``, its mask) letterboxed to ``size``. The whole per-image work, so that the serial and the
    parallel build run the same code and write the same bytes."""
    from benchmark.data.imaging import SkippedImage, degenerate

    try:
        if decode == "reduced":
            pixels, (h, w) = reader.load_image_reduced(root, row["path"], size)
        else:
            pixels = reader.load_image(root, row["path"])
            h, w = pixels.shape
        reason = degenerate(pixels)  # a reduced decode keeps both sides >= size >= MIN_SIDE, or is the full one
        if reason:
            raise SkippedImage(reason)
    except SkippedImage as why:
        return ("skip", why.reason)
    image = letterbox(pixels, size, full_shape=(h, w))
    mask = None
    if with_masks:
        mask = letterbox(reader.load_mask(root, row, h, w).astype(np.uint8), size, resample=Image.NEAREST)
    placed = reader.place_targets(row, h, w, Letterbox.fit(h, w, size), root)
    fields = {"orig_height": h, "orig_width": w, **placed, "pixel_sha256": hashlib.sha256(image.tobytes()).hexdigest()[:32]}
    return ("ok", image, mask, fields)


_WORKER: dict = {}  # a build worker's reader, root, size and records (set once per process)


def _worker_start(reader: Reader, root: Path, size: int, decode: str, with_masks: bool, records: pd.DataFrame) -> None:
    _WORKER.update(reader=reader, root=root, size=size, decode=decode, with_masks=with_masks, records=records)


def _worker_one(i: int) -> tuple:
    w = _WORKER
    return _prepare_one(w["reader"], w["root"], w["size"], w["decode"], w["with_masks"], w["records"].iloc[i])


#: records a worker takes at a time; a window of ``workers * WINDOW_PER_WORKER`` records is decoded
#: before it is written, so a build's memory does not grow with the number of images
CHUNK, WINDOW_PER_WORKER = 8, 64
#: fewer records than this are decoded in this process: starting workers costs more than it saves,
#: and the test suite's small stores are built in a process that has torch's threads running, which
#: a fork should not copy (the ``prepare`` command imports no torch)
MIN_PARALLEL = 1000


def available_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _prepared(reader: Reader, root: Path, size: int, decode: str, with_masks: bool, records: pd.DataFrame,
              workers: int):
    """``_prepare_one`` of every record, in record order: in this process, or in ``workers``
    processes window by window (a DataError in a worker reaches the caller as it is)."""
    n = len(records)
    workers = max(1, min(int(workers), n // CHUNK or 1)) if n >= MIN_PARALLEL else 1
    if workers == 1:
        for i in range(n):
            yield _prepare_one(reader, root, size, decode, with_masks, records.iloc[i])
        return
    import multiprocessing

    window = workers * WINDOW_PER_WORKER
    with multiprocessing.get_context("fork").Pool(workers, _worker_start, (reader, root, size, decode, with_masks, records)) as pool:
        for start in range(0, n, window):
            yield from pool.map(_worker_one, range(start, min(n, start + window)), chunksize=CHUNK)


#: how the store decodes images: ``full`` resolution, or ``reduced`` where the codec can (JPEG's
#: DCT scaling, :func:`benchmark.data.imaging.read_image_reduced`; DICOM and PNG decode in full)
DECODE_MODES = ("full", "reduced")


def build_store(reader: Reader, root: Path, out: Path, size: int, workers: int = 1, decode: str = "full") -> dict:
    """Read every record of ``root`` with ``reader`` and write the store to ``out``, decoding in
    ``workers`` processes (the same bytes as one process: results are written in record order).
    ``decode`` is one of :data:`DECODE_MODES` and is recorded in store.json.

    Images that cannot serve (beyond the pixel limit, smaller than ``MIN_SIDE``, a single
    grey value) are left out and counted by reason, never dropped silently."""
    if decode not in DECODE_MODES:
        raise DataError(None, f"store decode {decode!r} is not one of {', '.join(DECODE_MODES)}")
    records = reader.records(root)
    with_masks = reader.masks_at(root)
    skipped = dict(records.attrs.get("skipped", {}))
    n = len(records)
    with atomic_dir(out) as tmp:
        images = allocated_memmap(tmp / "images.npy", (n, size, size))
        masks = allocated_memmap(tmp / "masks.npy", (n, size, size)) if with_masks else None
        extra_rows, kept = [], []
        done = _prepared(reader, root, size, decode, with_masks, records, workers)
        for i, result in enumerate(tqdm(done, total=n, desc=f"prepare {reader.name}", unit="img", leave=False)):
            if result[0] == "skip":
                skipped[result[1]] = skipped.get(result[1], 0) + 1
                continue
            _, image, mask, fields = result
            k = len(kept)
            images[k] = image
            if masks is not None:
                masks[k] = mask
            extra_rows.append(fields)
            kept.append(i)
        if not kept:
            raise DataError(root, f"no usable image (skipped: {skipped})")
        images.flush()
        del images
        if masks is not None:
            masks.flush()
            del masks
        if len(kept) < n:
            for name in ("images.npy", "masks.npy") if with_masks else ("images.npy",):
                _keep_rows(tmp / name, len(kept), (n, size, size))
        manifest = records.iloc[kept].reset_index(drop=True).copy()
        for key, values in pd.DataFrame(extra_rows, index=manifest.index).items():
            manifest[key] = values
        check_one_split_per_content(manifest, root)
        manifest.insert(0, "index", np.arange(len(kept)))
        manifest.to_csv(tmp / "manifest.csv", index=False)
        info = {
            "schema": STORE_SCHEMA,
            "dataset": reader.name,
            "image_size": size,
            "decode": decode,
            "count": len(kept),
            "skipped": skipped,
            "label_files": label_files(root),
            "manifest_sha256": sha256_file(tmp / "manifest.csv"),
            "images_sha256": sha256_file(tmp / "images.npy"),
            "has_masks": with_masks,
            **({"reader_options": reader.options} if getattr(reader, "options", None) else {}),
        }
        if with_masks:
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
