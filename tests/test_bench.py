"""The bench's plumbing (the bench itself takes minutes and is not run here)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from benchmark.bench import main
from benchmark.tools import bench


def test_interleaved_warms_up_then_alternates_and_reports_medians():
    calls = []
    times = bench.interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, rounds=3)
    assert calls == ["a", "b"] * 4  # one warm-up round, then three timed rounds taking turns
    assert set(times) == {"a", "b"} and all(t >= 0 for t in times.values())


def test_balanced_rows_are_disjoint_and_hold_both_classes():
    labels = np.array([1] * 30 + [0] * 70)
    parts = bench.balanced_rows(labels, (20, 10, 10), seed=0)
    assert [len(p) for p in parts] == [20, 10, 10]
    assert len(np.unique(np.concatenate(parts))) == 40
    assert all(labels[p].sum() == len(p) // 2 for p in parts)


def test_markdown_marks_missed_goals_and_reads_the_repro_figures(tmp_path):
    machine = {"date": "2026-11-29 00:00 UTC", "cpu": "test cpu", "cores": 2, "python": "3.11", "torch": "2", "threads": 2}
    result = {
        "config": {**bench.BenchConfig().__dict__}, "quick": False, "machine": machine, "wall_s": 1.0, "peak_rss_gib": 1.0,
        "pretrain_step": {"batch_size": 4, "tokens": 512, "lm": {"name": "lm"}, "met": False, "cached_over_floor": 1.5,
                          "lm_every_step_over_cached": 2.0, "bert_base_every_step_over_cached": 4.0,
                          "step_s": {"cached": 3.0, "encoder_only": 2.0, "lm_every_step": 6.0, "bert_base_every_step": 12.0}},
        "probe": {"speedup": 12.0, "auroc_gap": 0.0, "met": True, "cached": {"seconds": 1.0, "epochs_run": 20},
                  "backbone_every_epoch": {"seconds": 12.0}},
        "loading": {"ratio": 5.0, "loader_images_per_s": 10.0, "model_images_per_s": 2.0, "met": True},
        "heads": {"epochs": 3, **{t: {"speedup": 1.2, "recomputed": {"seconds": 1.2}, "cached": {"seconds": 1.0}}
                                  for t in ("segmentation", "detection")}},
        "repro": {"workspace_commit": "abc", "measured": machine, "repro_s": 1900.0, "repro_cpu_s": 3000.0,
                  "peak_rss_gib": 2.0, "noop_s": 9.0, "noop_met": True, "profile": "phantom",
                  "stage_groups_s": {"probe": 120.0, "segment": 600.0}},
        "input_pipeline": {"workers": 1, "images_per_s_per_worker": 150.4, "goal_per_core": 190, "met": False},
        "store_build": {"cores": 2, "films": 8, "film_shape": [3000, 2500], "store_size": 256, "reduced_over_full": 1.8,
                        "workers_speedup": 1.6, "images_per_s": {"full_1": 30.0, "reduced_1": 54.0, "reduced_2": 86.4},
                        "peak_rss_gib": {"1000": 0.08, "10000": 0.09}, "memory_ratio": 1.125, "met": True},
    }
    json.dumps(result)  # what main writes to bench.json
    table = bench.to_markdown(result)
    assert "| 1.50x (3.00 s / 2.00 s) | <= 1.1x | no |" in table
    assert "12.0x (12.0 s / 1.0 s, 20 epochs; AUROC gap 0.0000) | >= 10x, gap <= 0.005 | yes |" in table
    assert "31.7 min wall" in table and "| 30 min (issue 7) | no |" in table
    assert "| no-op `dvc repro` | 9.0 s | <= 10 s | yes |" in table
    assert "| ... where the wall time went (profile `phantom`), minutes per stage | segment 10.0, probe 2.0 |" in table
    assert "not measured" in bench.to_markdown({**result, "repro": None})
    # --table: the stored figures with the latest --repro run, nothing measured
    (tmp_path / "bench.json").write_text(json.dumps({**result, "repro": None}))
    (tmp_path / bench.REPRO_FILE).write_text(json.dumps(result["repro"]))
    assert main(["--table", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "bench.md").read_text() == table
    assert json.loads((tmp_path / "bench.json").read_text())["repro"]["repro_s"] == 1900.0
    assert "| 150 images/s per core | >= 190 | no |" in table and "M-FLAG's augmentations, 224 px)" in table
    assert "| ... reduced decoding, 2 workers / 1 worker | 1.60x (86.4 images/s) | close to 2x | - |" in table
    assert "| 1.12x (0.09 GiB / 0.08 GiB) | <= 1.2x | yes |" in table


def test_input_pipeline_figure_runs_the_engines_pipeline_on_one_worker(tmp_path):
    from benchmark.data.datasets import WRITERS, get_reader
    from benchmark.data.store import build_store

    cfg = bench.BenchConfig.quick()
    WRITERS["mimic"](tmp_path / "raw", seed=0, image_size=cfg.store_size, workers=1, studies=12, lateral_share=0.0)
    build_store(get_reader("mimic"), tmp_path / "raw", tmp_path / "store", cfg.store_size)
    figure = bench.bench_pipeline_per_core(tmp_path / "store", cfg)
    assert figure["workers"] == 1 and figure["images_per_s"] > 0 and "RandomRotation" in figure["augment"][1]


def test_store_build_figures_on_quick_sizes(tmp_path):
    """Figure 6 end to end on tiny sizes: the three builds are timed and the memory figure comes
    from two fresh processes (values are not judged here, only that they are measured)."""
    from benchmark.tools.bench_store import bench_store_build

    c = bench.BenchConfig.quick()
    out = bench_store_build(tmp_path, c.films, c.film_shape, c.store_size, c.memory_images, c.rounds, c.seed)
    cores = out["cores"]
    assert set(out["seconds"]) == {"full_1", "reduced_1", f"reduced_{cores}"} and all(v > 0 for v in out["seconds"].values())
    assert set(out["peak_rss_gib"]) == {"40", "80"} and all(0.05 < v < 4 for v in out["peak_rss_gib"].values())
    assert out["memory_ratio"] == out["peak_rss_gib"]["80"] / out["peak_rss_gib"]["40"]
    assert not list(tmp_path.glob("store-*")) and not list(tmp_path.glob("small-*/"))


def test_device_bench_runs_quick_on_cpu_and_refuses_a_missing_gpu(tmp_path):
    """The prepared GPU check (`--device cuda`) is the same code as `--device cpu --quick`, which
    runs here: every figure is measured and written; without CUDA the command stops in one line."""
    from benchmark import bench as command
    from benchmark.core.errors import DataError

    assert command.main(["--device", "cpu", "--quick", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "bench_gpu.json").read_text())
    assert result["quick"] and result["device"] == "cpu" and result["gpu"] is None
    step = result["pretrain"]
    assert set(step["step_s"]) == {"cached", "lm_every_step", "encoder_only"} and all(v > 0 for v in step["step_s"].values())
    assert step["amp"] == "none" and step["channels_last"]
    pipe = result["input_pipeline"]
    assert pipe["workers"] == 2 and pipe["images_per_s"] > 0 and pipe["goal_per_core"] == 190
    assert pipe["augment"][0] == {"RandomCrop": {"size": "input_size"}}  # M-FLAG's recipe, as configured
    heads = result["heads"]
    assert all(heads[t]["images_per_s_recomputed"] > 0 and heads[t]["speedup"] > 0 for t in ("segmentation", "detection"))
    if not torch.cuda.is_available():
        with pytest.raises(DataError, match="no CUDA device"):
            command.main(["--device", "cuda", "--out", str(tmp_path / "gpu")])
        assert not (tmp_path / "gpu").exists()


def test_paper_estimate_counts_the_matrix_and_takes_measured_rates(tmp_path):
    """The paper matrix's work, counted by hand for segmentation (SIIM balanced to 2 x 22 % of 8,433
    training images; RSNA 16,010; 1/10/100 %, 3 seeds, 50 epochs over train + valid, then test), and
    the rates: the published GPU figure until bench_gpu.json holds a GPU measurement."""
    from benchmark.tools import paper_estimate

    work = paper_estimate.workload(Path("params.yaml"))
    siim = sum(3 * (50 * (n + 1807) + 1807) for n in (37, 371, 3710))
    rsna = sum(3 * (50 * (n + 5337) + 5337) for n in (160, 1601, 16010))
    assert work["segment"] == siim + rsna
    assert work["pretrain"]["mflag"] == {"passes": 51 * 217_000, "pixels": 1.0, "trainable_lm": False}
    assert work["pretrain"]["mgca"]["trainable_lm"] and work["pretrain"]["mgca"]["pixels"] == (299 / 224) ** 2
    assert "random" not in work["pretrain"] and "random" in work["methods"]
    rates = paper_estimate.load_rates(tmp_path)  # nothing measured: the published figure and its factors
    assert (rates.train_gpu, rates.forward_gpu, rates.segment_gpu) == (2500.0, 3750.0, 1250.0) and "published" in rates.source
    quick = {"gpu": None, "quick": True}
    (tmp_path / "bench_gpu.json").write_text(json.dumps(quick))
    assert paper_estimate.load_rates(tmp_path).train_gpu == 2500.0  # a CPU --quick run is no measurement
    gpu = {"gpu": "NVIDIA H200", "quick": False, "machine": {"date": "today"},
           "pretrain": {"images_per_s": {"cached": 4000.0}},
           "heads": {"segmentation": {"images_per_s_recomputed": 900.0}, "detection": {"images_per_s_recomputed": 700.0}}}
    (tmp_path / "bench_gpu.json").write_text(json.dumps(gpu))
    measured = paper_estimate.load_rates(tmp_path)
    assert (measured.train_gpu, measured.segment_gpu, measured.detect_gpu) == (4000.0, 900.0, 700.0)
    assert "measured on NVIDIA H200" in measured.source
    result = paper_estimate.estimate(Path("params.yaml"), tmp_path)
    mflag = next(r for r in result["rows"] if r["stage"] == "pretrain mflag")
    assert mflag["hours"] == 51 * 217_000 / 4000.0 / 3600
    assert "| **total** |" in paper_estimate.to_markdown(result)


def test_stage_seconds_run_from_one_running_line_to_the_next():
    events = [(0.0, "Verifying data sources\n"), (1.0, "Running stage 'prepare@rsna':\n"), (3.5, "> python -m ...\n"),
              (4.0, "Running stage 'segment@mflag':\n"), (10.0, "Stage 'report' didn't change, skipping\n"),
              (11.0, "Running stage 'segment@random':\n")]
    assert bench.stage_seconds(events, 20.0) == {"prepare": 3.0, "segment": 16.0}
    assert bench.stage_seconds([(0.0, "Stage 'x' didn't change, skipping\n")], 5.0) == {}


def test_repro_times_the_stages_of_a_real_dvc_run(tmp_path):
    """A two-stage DVC project: the wall time of each stage comes from DVC's own output."""
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "params.yaml").write_text("profile: tiny\n")
    (tmp_path / "slow.py").write_text("import time\ntime.sleep(1.0)\nopen('a', 'w').close()\n")
    (tmp_path / "fast.py").write_text("open('b', 'w').close()\n")
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"stages": {
        "slow": {"cmd": f"{sys.executable} slow.py", "deps": ["slow.py"], "outs": ["a"]},
        "fast": {"cmd": f"{sys.executable} fast.py", "deps": ["fast.py", "a"], "outs": ["b"]}}}))
    figures = bench.run_repro(tmp_path, noop_runs=1)
    assert figures["profile"] == "tiny" and figures["stages_to_run"] == 2
    assert set(figures["stage_groups_s"]) == {"slow", "fast"}
    assert figures["stage_groups_s"]["slow"] >= 1.0 and figures["stage_groups_s"]["slow"] > figures["stage_groups_s"]["fast"]
