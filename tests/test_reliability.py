"""Reliability: atomic outputs under SIGKILL, byte-identical reruns, and rejection of truncated,
edited or foreign checkpoints and caches (each with a DataError naming the file)."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from support import data_error, head_inputs

from benchmark import features, prepare, probe, report
from benchmark.core.atomic import KILL_BEFORE_RENAME_ENV, write_json
from benchmark.core.errors import run_cli
from benchmark.data.datasets import WRITERS
from benchmark.data.store import Store
from benchmark.evaluation.features import load_features
from benchmark.pretraining.checkpoint import TrainState, load_checkpoint, save_checkpoint
from benchmark.pretraining.embed import load_embeddings, write_embeddings
from benchmark.pretraining.encoders import ENCODER_FILE, ImageEncoder, load_encoder, save_encoder
from benchmark.pretraining.text import EmbeddingCache, LMChoice
from benchmark.reporting.results import TIMING_FIELDS, TIMINGS_FILE, load_results, load_timings, write_result

REPO = Path(__file__).resolve().parents[1]
DATASET = "covidx"  # the smallest smoke phantom set with a probe target (140 images)


@pytest.fixture(scope="module")
def work(smoke_profile, module_dir) -> Path:
    """A smoke COVIDx raw copy, its store, split manifest, a seeded random encoder and its features."""
    work = module_dir("reliability")
    spec = smoke_profile["phantom"]
    (work / "raw" / DATASET).mkdir(parents=True)
    WRITERS[DATASET](work / "raw" / DATASET, seed=spec["seed"], image_size=spec["image_size"], **spec["datasets"][DATASET])
    head_inputs(work / "raw", work, DATASET)
    (work / "encoder" / "meta.json").write_text(json.dumps({"method": "random", "arch": "resnet18"}))
    assert features.main(["--encoder", str(work / "encoder"), "--stores", str(work / "stores"), "--datasets", DATASET,
                          "--out", str(work / "features"), "--profile", "smoke"]) == 0
    return work


def _probe_args(work: Path, out: Path, *extra: str) -> list[str]:
    return ["--method", "random", "--datasets", DATASET, "--features", str(work / "features"), "--stores",
            str(work / "stores"), "--splits", str(work / "splits"), "--encoder-meta", str(work / "encoder" / "meta.json"),
            "--out", str(out), "--profile", "smoke", *extra]


def _killed(module: str, args: list[str], target: str) -> subprocess.CompletedProcess:
    """``python -m benchmark.<module> args`` SIGKILLed right before it renames ``target`` into place."""
    env = {**os.environ, KILL_BEFORE_RENAME_ENV: target, "TQDM_DISABLE": "1"}
    proc = subprocess.run([sys.executable, "-m", f"benchmark.{module}", *args], cwd=REPO, env=env, capture_output=True,
                          text=True)
    assert proc.returncode == -9, proc.stderr[-2000:]  # killed, not failed
    return proc


def _siblings(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f".{path.name}.*"))


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# -- 1. atomic outputs ------------------------------------------------------------------------------------------------

def test_prepare_killed_before_its_rename_leaves_no_store_and_a_rerun_cleans_up(work, tmp_path):
    out = tmp_path / "stores" / DATASET
    args = ["--dataset", DATASET, "--root", str(work / "raw" / DATASET), "--out", str(out), "--profile", "smoke"]
    _killed("prepare", args, DATASET)
    assert not out.exists()  # nothing DVC or the next stage could take as the store
    [stale] = _siblings(out)  # every byte was written, under a hidden name
    assert stale.name.endswith(".tmp") and (stale / "store.json").is_file() and (stale / "images.npy").is_file()
    assert "store.json missing" in data_error(Store.open, out)
    assert prepare.main(args) == 0
    assert Store.open(out).info["count"] == Store.open(work / "stores" / DATASET).info["count"]
    assert _siblings(out) == []  # the killed run's folder is gone


def test_probe_killed_before_its_rename_keeps_the_previous_results(work, tmp_path):
    runs = tmp_path / "runs"
    out = runs / "random" / "classification"
    assert probe.main(_probe_args(work, out)) == 0
    before = _snapshot(out)
    assert len(load_results(runs)) == 3  # fractions x one smoke seed
    _killed("probe", _probe_args(work, out, "--fractions", "100"), "classification")
    assert _snapshot(out) == before  # the previous complete version, untouched
    [stale] = _siblings(out)
    assert len(list(stale.glob("*__f100__s0.json"))) == 1  # the new results, complete but never renamed
    # readers skip the hidden folder: no "same run written twice", no stale geometry
    assert sorted(load_results(runs)["fraction"]) == [1, 10, 100]
    assert report.main(["--results", str(runs), "--out", str(tmp_path / "report")]) == 0
    assert (tmp_path / "report" / "leaderboard.md").is_file() and _siblings(tmp_path / "report" / "leaderboard.md") == []
    assert probe.main(_probe_args(work, out, "--fractions", "100")) == 0
    assert _siblings(out) == [] and sorted(load_results(runs)["fraction"]) == [100]  # the folder holds the last run


def test_stale_temporaries_of_dead_processes_are_removed_and_live_ones_kept(tmp_path):
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(done.stdout)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        target = tmp_path / "x.json"
        names = {"dead": f".x.json.{dead}.abc123.tmp", "old_format": ".x.json.k2j4h5g6.tmp",
                 "old_dir": f".x.json.{dead}.q1w2e3.old.tmp", "live": f".x.json.{live.pid}.zzz.tmp",
                 "other_target": ".x.json.bak.1.abc.tmp"}
        for key, name in names.items():
            (tmp_path / name).write_text("{}") if key != "old_dir" else (tmp_path / name).mkdir()
        write_json(target, {"a": 1})
        left = {p.name for p in tmp_path.iterdir()}
        assert left == {"x.json", names["live"], names["other_target"]}
    finally:
        live.kill()
        live.wait()


def test_a_results_folder_with_other_content_is_not_replaced(work, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    message = data_error(probe.main, _probe_args(work, tmp_path))
    assert "not a results folder" in message and "holds notes.txt" in message
    assert (tmp_path / "notes.txt").read_text() == "mine" and _siblings(tmp_path) == []


# -- 2. same seed, same data: same bytes ------------------------------------------------------------------------------

def test_probe_twice_gives_byte_identical_result_files(work, tmp_path):
    for name in ("first", "second"):
        assert probe.main(_probe_args(work, tmp_path / name)) == 0
    first, second = _snapshot(tmp_path / "first"), _snapshot(tmp_path / "second")
    assert first.keys() == second.keys()
    results = [n for n in first if n != TIMINGS_FILE]
    assert len(results) == 3 + 1  # fractions x one seed, and the geometry record
    for name in results:
        assert first[name] == second[name], name  # every byte: no field is exempt
        assert not set(TIMING_FIELDS) & set(json.loads(first[name]))
    # run timings are kept, in the one file allowed to differ
    timings = load_timings(tmp_path / "first")
    assert sorted(Path(r).name for r in timings["result"]) == sorted(n for n in results if not n.startswith("geometry__"))
    assert (timings["wall_time_s"] >= 0).all()


def test_timings_go_to_timings_csv(tmp_path):
    record = {"method": "m", "dataset": "rsna", "task": "segmentation", "fraction": 1, "seed": 0, "metric": "dice",
              "value": 0.5, "data_kind": "phantom", "profile": "smoke", "lm": None, "backend": "native",
              "wall_time_s": 1.5, "feature_cache_s": 0.25}
    path = write_result(tmp_path, record)
    write_result(tmp_path, {**record, "seed": 1, "wall_time_s": 2.0})
    path = write_result(tmp_path, {**record, "wall_time_s": 3.0})  # the same run again: its row is replaced
    assert "wall_time_s" not in json.loads(path.read_text())
    timings = load_timings(tmp_path)
    assert timings["result"].tolist() == [str(path), str(path).replace("__s0", "__s1")]
    assert timings["wall_time_s"].tolist() == [3.0, 2.0] and timings["feature_cache_s"].tolist() == [0.25, 0.25]
    assert len(load_results(tmp_path)) == 2


# -- 3. truncated, edited or foreign files are rejected -------------------------------------------------------------

def _truncate(path: Path, keep: int | None = None) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:keep if keep is not None else len(data) // 2])


def _flip_last_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


def test_store_open_rejects_truncated_edited_or_foreign_stores(work, tmp_path):
    def copy() -> Path:
        dst = tmp_path / f"store{len(list(tmp_path.iterdir()))}"
        shutil.copytree(work / "stores" / DATASET, dst)
        return dst

    store = copy()
    _truncate(store / "images.npy", -100)
    message = data_error(Store.open, store)
    assert "images.npy" in message and "truncated" in message
    store = copy()
    (store / "images.npy").write_bytes(b"not an array at all")
    assert "images.npy" in data_error(Store.open, store)
    store = copy()
    manifest = store / "manifest.csv"
    manifest.write_text(manifest.read_text().replace(",0,", ",1,", 1))
    message = data_error(Store.open, store)
    assert "manifest.csv" in message and "SHA-256" in message
    store = copy()
    info = json.loads((store / "store.json").read_text())
    (store / "store.json").write_text(json.dumps({**info, "schema": 99}))
    assert "schema 99" in data_error(Store.open, store)
    (store / "store.json").write_text(json.dumps({**info, "count": info["count"] - 1}))
    assert "images.npy" in data_error(Store.open, store)
    _truncate(store / "store.json")
    assert "store.json" in data_error(Store.open, store)
    # same size, edited pixels: caught by the full hash, on request (documented in Store.open)
    store = copy()
    _flip_last_byte(store / "images.npy")
    Store.open(store)
    assert "images.npy" in data_error(Store.open, store, verify_arrays=True)


def test_checkpoint_rejects_truncated_edited_and_foreign_files(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    state = TrainState(7, {"lr": 1.0}, {}, [], {}, torch.get_rng_state())
    save_checkpoint(tmp_path / "good", model, state, "fp")
    assert load_checkpoint(tmp_path / "good", torch.nn.Linear(4, 3), "fp").step == 7

    def case(name: str) -> Path:
        shutil.copytree(tmp_path / "good", tmp_path / name)
        return tmp_path / name

    _truncate(case("truncated") / "weights.safetensors")
    assert "weights.safetensors" in data_error(load_checkpoint, tmp_path / "truncated", model, "fp")
    _flip_last_byte(case("edited") / "state.pt")
    message = data_error(load_checkpoint, tmp_path / "edited", model, "fp")
    assert "state.pt" in message and "SHA-256" in message
    info = json.loads((tmp_path / "good" / "checkpoint.json").read_text())
    (case("schema") / "checkpoint.json").write_text(json.dumps({**info, "schema": 0}))
    assert "schema 0" in data_error(load_checkpoint, tmp_path / "schema", model, "fp")
    assert "different run configuration" in data_error(load_checkpoint, tmp_path / "good", model, "other")
    (case("unlisted") / "checkpoint.json").write_text(json.dumps({**info, "sha256": {}}))
    assert "records no SHA-256" in data_error(load_checkpoint, tmp_path / "unlisted", model, "fp")
    _truncate(case("description") / "checkpoint.json")
    assert "checkpoint.json" in data_error(load_checkpoint, tmp_path / "description", model, "fp")
    other = torch.nn.Linear(5, 3)  # another model: rejected before a single weight is copied
    before = {k: v.clone() for k, v in other.state_dict().items()}
    assert "shapes do not match" in data_error(load_checkpoint, tmp_path / "good", other, "fp")
    assert all(torch.equal(before[k], v) for k, v in other.state_dict().items())


def test_encoder_rejects_truncated_edited_older_and_foreign_files(tmp_path):
    torch.manual_seed(0)
    encoder = ImageEncoder("resnet18")
    save_encoder(encoder, tmp_path / "good", {"method": "random"})
    loaded, meta = load_encoder(tmp_path / "good")
    assert meta == {"method": "random"} and torch.equal(loaded.stem[0].weight, encoder.stem[0].weight)

    def case(name: str) -> Path:
        shutil.copytree(tmp_path / "good", tmp_path / name)
        return tmp_path / name / ENCODER_FILE

    _truncate(case("truncated"))
    assert "unreadable safetensors" in data_error(load_encoder, tmp_path / "truncated")
    _flip_last_byte(case("edited"))
    message = data_error(load_encoder, tmp_path / "edited")
    assert ENCODER_FILE in message and "SHA-256" in message
    tensors = {k: v.contiguous() for k, v in encoder.state_dict().items()}
    (tmp_path / "older").mkdir()  # as written before the schema and checksum were recorded
    save_file(tensors, str(tmp_path / "older" / ENCODER_FILE), metadata={"arch": "resnet18", "meta": "{}"})
    assert "schema None" in data_error(load_encoder, tmp_path / "older")
    from benchmark.pretraining.encoders import ENCODER_SCHEMA, tensors_sha256

    (tmp_path / "foreign").mkdir()  # intact, but not the architecture it claims
    save_file(tensors, str(tmp_path / "foreign" / ENCODER_FILE), metadata={"medvlp_encoder": json.dumps({
        "arch": "resnet50", "meta": {}, "schema": ENCODER_SCHEMA, "tensors_sha256": tensors_sha256(tensors)})})
    assert "do not match resnet50" in data_error(load_encoder, tmp_path / "foreign")
    # the same weights give the same bytes, whatever order safetensors keeps a metadata map in
    save_encoder(encoder, tmp_path / "again", {"method": "random"})
    assert (tmp_path / "again" / ENCODER_FILE).read_bytes() == (tmp_path / "good" / ENCODER_FILE).read_bytes()


def test_features_must_be_intact_and_from_this_store_and_encoder(work, tmp_path, capsys):
    store = Store.open(work / "stores" / DATASET)
    feats, info = load_features(work / "features" / DATASET, store, 48, encoder_meta={"method": "random"})
    assert feats.shape == (len(store.manifest), 512) and info["schema"] == 1

    def case(name: str) -> Path:
        shutil.copytree(work / "features" / DATASET, tmp_path / name / DATASET)
        return tmp_path / name / DATASET

    folder = case("truncated")
    _truncate(folder / "features.npy", -8)
    message = data_error(load_features, folder, store)
    assert "features.npy" in message and "truncated" in message
    folder = case("edited")
    _flip_last_byte(folder / "features.npy")
    assert "SHA-256" in data_error(load_features, folder, store)
    folder = case("older")
    (folder / "features.json").write_text(json.dumps({**info, "schema": None}))
    assert "features schema None" in data_error(load_features, folder, store)
    other_store = dataclasses.replace(store, info={**store.info, "manifest_sha256": "0" * 64})
    assert "another store" in data_error(load_features, work / "features" / DATASET, other_store)
    assert "another encoder" in data_error(load_features, work / "features" / DATASET, store, encoder_sha256="0" * 64)
    assert "method 'random' != 'mflag'" in data_error(load_features, work / "features" / DATASET, store,
                                                      encoder_meta={"method": "mflag"})
    assert "48 px" in data_error(load_features, work / "features" / DATASET, store, input_size=64)
    # through the CLI: another encoder beside --encoder-meta -> one line on stderr, exit code 2, no results
    torch.manual_seed(1)
    save_encoder(ImageEncoder("resnet18"), tmp_path / "other", {"method": "random"})
    (tmp_path / "other" / "meta.json").write_text(json.dumps({"method": "random"}))
    args = _probe_args(work, tmp_path / "out")
    args[args.index("--encoder-meta") + 1] = str(tmp_path / "other" / "meta.json")
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        run_cli(probe.main, args)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1 and err.startswith("error: ")
    assert "features.npy" in err and "another encoder" in err
    assert not (tmp_path / "out").exists()


def test_embedding_cache_rejects_truncated_edited_older_and_foreign_shards(tmp_path):
    choice = LMChoice("lm-a", "lm-a", "test")
    cache = EmbeddingCache(tmp_path, choice, 16)
    vectors = np.arange(12, dtype=np.float32).reshape(3, 4)
    cache.save(["k1", "k2", "k3"], vectors)
    [shard] = cache.dir.glob("shard-*.npz")
    assert np.array_equal(cache.load()["k2"], vectors[1])
    good = shard.read_bytes()

    def rejected(expected: str) -> None:
        message = data_error(cache.load)
        assert shard.name in message and expected in message

    _truncate(shard)
    rejected("BadZipFile")
    shard.write_bytes(good)
    with zipfile.ZipFile(shard) as zf:
        offset = zf.getinfo("vectors.npy").header_offset
    data = bytearray(good)
    data[offset + 200] ^= 0xFF  # inside the stored vectors: the member's CRC-32 no longer matches
    shard.write_bytes(bytes(data))
    rejected("corrupt")
    with open(shard, "wb") as fh:  # as written before the schema was recorded
        np.savez(fh, keys=np.asarray(["k1"]), vectors=vectors[:1])
    rejected("schema None")
    shard.unlink()
    EmbeddingCache(tmp_path / "elsewhere", LMChoice("lm-b", "lm-b", "test"), 16).save(["k1"], vectors[:1])
    [foreign] = (tmp_path / "elsewhere").rglob("shard-*.npz")
    shutil.copy(foreign, shard)
    rejected("lm-b")
    shard.unlink()
    cache.save(["k1"], vectors[:1])
    cache.save(["k9"], np.zeros((1, 5), np.float32))  # another dimension in the same cache
    assert "dimension" in data_error(cache.load)


def test_report_embeddings_must_be_intact_and_follow_the_store(work, tmp_path):
    store = Store.open(work / "stores" / DATASET)
    vectors = np.random.default_rng(0).normal(size=(len(store.manifest), 8)).astype(np.float32)
    lm = {"name": "lm-a", "source": "test", "max_length": 16}
    write_embeddings(tmp_path / "text", vectors, lm, store)
    loaded, info = load_embeddings(tmp_path / "text", store, "lm-a")
    assert np.array_equal(loaded, vectors) and info["dim"] == 8

    def case(name: str) -> Path:
        shutil.copytree(tmp_path / "text", tmp_path / name)
        return tmp_path / name

    _truncate(case("truncated") / "embeddings.npy", -4)
    assert "truncated" in data_error(load_embeddings, tmp_path / "truncated", store)
    _flip_last_byte(case("edited") / "embeddings.npy")
    message = data_error(load_embeddings, tmp_path / "edited", store)
    assert "embeddings.npy" in message and "SHA-256" in message
    older = case("older") / "lm.json"
    older.write_text(json.dumps({k: v for k, v in info.items() if k != "schema"}))
    assert "lm.json" in data_error(load_embeddings, tmp_path / "older", store)
    other_store = dataclasses.replace(store, info={**store.info, "manifest_sha256": "0" * 64})
    assert "another store" in data_error(load_embeddings, tmp_path / "text", other_store)
    assert "made with lm-a" in data_error(load_embeddings, tmp_path / "text", store, "lm-b")
