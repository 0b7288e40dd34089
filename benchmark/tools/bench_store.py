"""Figure 6 of ``python -m benchmark.bench``: the store build on films of real size.

Kept apart from the rest of the bench because it imports no torch: the peak-memory figure runs a
store build in a fresh process that imports this module, and torch's ~0.5 GiB would hide how the
build's own memory grows with the number of images.
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from benchmark.core.errors import DataError
from benchmark.tools.timing import interleaved


def write_films(folder: Path, count: int, shape: tuple[int, int], seed: int) -> None:
    """``count`` grey JPEGs (quality 95) with film-like content: smooth anatomy plus grain, which
    is what makes a real film expensive to decode (a flat image would decode in no time). The
    grain is set so that a 3,000 x 2,500 film is ~1.5 MB, about the average MIMIC-CXR-JPG file
    (roughly 0.5 TB over 377k images); decoding time grows with the file size (measured: 23 ms
    at 1.5 MB, 43 ms at 3.9 MB, on one AMD EPYC core)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = 120 + 60 * np.sin(xx / 180.0) * np.cos(yy / 240.0)
    for i in range(count):
        noise = rng.normal(0, 2, size=(h, w)).astype(np.float32)
        Image.fromarray(np.clip(base + noise + i, 0, 255).astype(np.uint8)).save(folder / f"{i:06d}.jpg", quality=95)


def folder_reader():
    """A reader of a flat folder of JPEGs (the bench's own dataset: the store code path of any
    JPEG reader, without a label file)."""
    import pandas as pd

    from benchmark.data.readers.base import ImageFileReader

    class FolderReader(ImageFileReader):
        name = "bench-folder"

        def records(self, root: Path) -> pd.DataFrame:
            names = sorted(p.name for p in Path(root).glob("*.jpg"))
            return pd.DataFrame({"id": names, "group": names, "path": names})

    return FolderReader()


def peak_rss_kib() -> int:
    """This process's peak resident memory in KiB: the kernel's VmHWM, which a new program starts
    afresh (``getrusage``'s ru_maxrss keeps the high-water mark of the parent that forked it)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def peak_build_memory_gib(folder: Path, out: Path, size: int) -> float:
    """Peak RSS of a store build of ``folder`` in a fresh process (so nothing else is counted)."""
    code = ("import sys; from pathlib import Path; from benchmark.tools.bench_store import folder_reader, peak_rss_kib; "
            "from benchmark.data.store import build_store; "
            "build_store(folder_reader(), Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])); "
            "print(peak_rss_kib())")
    proc = subprocess.run([sys.executable, "-c", code, str(folder), str(out), str(size)], capture_output=True, text=True)
    if proc.returncode:
        raise DataError(folder, f"store build for the memory figure failed: {proc.stderr.strip().splitlines()[-1:]}")
    return int(proc.stdout.split()[-1]) / 2**20


def bench_store_build(root: Path, films: int, film_shape: tuple[int, int], store_size: int,
                      memory_images: tuple[int, int], rounds: int, seed: int) -> dict:
    """Reduced vs full JPEG decoding and all cores vs one worker on ``films`` JPEGs of
    ``film_shape``, and the peak memory of builds of ``memory_images`` small images."""
    from benchmark.data import store
    from benchmark.data.store import available_cores, build_store

    folder = root / "films"
    write_films(folder, films, film_shape, seed)
    reader, cores = folder_reader(), available_cores()
    runs = itertools.count()

    def build(workers: int, decode: str):
        return lambda: build_store(reader, folder, root / f"store-{next(runs)}", store_size, workers, decode)

    parallel_floor, store.MIN_PARALLEL = store.MIN_PARALLEL, 0  # the films are few but each is large
    try:
        times = interleaved({"full_1": build(1, "full"), "reduced_1": build(1, "reduced"),
                             f"reduced_{cores}": build(cores, "reduced")}, rounds=rounds)
    finally:
        store.MIN_PARALLEL = parallel_floor
    for old in root.glob("store-*"):
        shutil.rmtree(old)
    memory = {}
    for count in memory_images:
        small = root / f"small-{count}"
        write_films(small, count, (96, 80), seed)
        memory[str(count)] = peak_build_memory_gib(small, root / f"small-store-{count}", 64)
        shutil.rmtree(small)
        shutil.rmtree(root / f"small-store-{count}")
    low, high = (memory[str(c)] for c in memory_images)
    return {"films": films, "film_shape": list(film_shape), "store_size": store_size, "cores": cores,
            "seconds": times, "images_per_s": {k: films / v for k, v in times.items()},
            "reduced_over_full": times["full_1"] / times["reduced_1"],
            "workers_speedup": times["reduced_1"] / times[f"reduced_{cores}"],
            "peak_rss_gib": memory, "memory_ratio": high / low,
            "goal": "workers: close to the core count; memory: flat in the number of images (ratio <= 1.2)",
            "met": high / low <= 1.2}
