"""The bad-input corpus beyond the readers: split manifests, outputs that would overwrite inputs,
profile settings, training that fails, damaged intermediate files and results.

Each case prepares what one stage reads (from a shared smoke workspace: RSNA and COVIDx stores,
their split manifests, a random encoder and its features), breaks it in one way, runs the
stage's ``main`` through :func:`benchmark.core.errors.run_cli` and checks the documented outcome:
``Error(pattern)`` -- exit code 2 and exactly one line ``error: ...`` matching ``pattern``, no
traceback, nothing of the inputs changed -- or ``Handled(check)``. ``docs/bad_inputs.md`` lists
these cases after the reader cases (a test keeps it equal to ``doc_table``).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml
from support import head_inputs

from benchmark import code_cards, detect, embed, features, prepare, pretrain, probe, report, segment, splits
from benchmark.core.errors import run_cli
from benchmark.data.readers.mimic import FINDING_MASKS
from benchmark.data.split_manifest import checksum_path
from benchmark.phantom import main as phantom_main
from benchmark.reporting.results import write_result

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Error:
    pattern: str  # regex searched in the error line; <name> is replaced by the escaped fact `name`


@dataclass(frozen=True)
class Handled:
    check: Callable[[Path, dict], None]
    doc: str


@dataclass(frozen=True)
class Case:
    id: str
    stage: str
    what: str
    setup: Callable[[Path, Path], tuple[Callable, list[str], dict]]  # (workspace, tmp) -> (main, argv, facts)
    outcome: Error | Handled


# ---------------------------------------------------------------- workspace and helpers


@pytest.fixture(scope="module")
def ws(phantom_root, module_dir) -> Path:
    work = module_dir("stages")
    for dataset in ("rsna", "covidx"):
        head_inputs(phantom_root, work, dataset)
    assert features.main(["--encoder", str(work / "encoder"), "--stores", str(work / "stores"), "--datasets", "covidx",
                          "--out", str(work / "features"), "--profile", "smoke"]) == 0
    (work / "raw").symlink_to(phantom_root, target_is_directory=True)
    return work


def _tree_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + path.read_bytes())
    return digest.hexdigest()


def _probe(ws: Path, tmp: Path, *extra: str, splits_dir: Path | None = None, out: Path | None = None):
    argv = ["--method", "random", "--datasets", "covidx", "--features", str(ws / "features"), "--stores",
            str(ws / "stores"), "--splits", str(splits_dir or ws / "splits"), "--out", str(out or tmp / "out"),
            "--profile", "smoke", *extra]
    return probe.main, argv


def _manifest(ws: Path, tmp: Path, edit: Callable[[str], str], checksum: str = "recompute") -> tuple[Path, Path]:
    """A copy of COVIDx's manifest folder with the manifest's text edited; its checksum recomputed
    (a tool that wrote a wrong manifest), kept from before (a hand edit) or dropped."""
    folder = tmp / "splits"
    shutil.copytree(ws / "splits", folder)
    path = folder / "covidx" / "mgca.csv"
    path.write_text(edit(path.read_text()))
    if checksum == "recompute":
        checksum_path(path).write_text(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.name}\n")
    elif checksum == "drop":
        checksum_path(path).unlink()
    return folder, path


def _edit_rows(text: str, edit: Callable[[pd.DataFrame], pd.DataFrame]) -> str:
    import io

    frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    return edit(frame).to_csv(index=False)


def _probe_with_manifest(edit: Callable[[pd.DataFrame], pd.DataFrame], checksum: str = "recompute"):
    def setup(ws: Path, tmp: Path):
        folder, path = _manifest(ws, tmp, lambda text: _edit_rows(text, edit), checksum)
        return (*_probe(ws, tmp, splits_dir=folder), {})
    return setup


def _first(frame: pd.DataFrame, split: str) -> int:
    return int(frame.index[frame["split"] == split][0])


def _test_id_also_train(frame: pd.DataFrame) -> pd.DataFrame:
    row = frame.loc[_first(frame, "test")].copy()
    row["split"], row["min_fraction"] = "train", "100"
    return pd.concat([frame, row.to_frame().T], ignore_index=True)


def _set(split: str, column: str, value: str):
    def edit(frame: pd.DataFrame) -> pd.DataFrame:
        frame.loc[_first(frame, split), column] = value
        return frame
    return edit


def _params(tmp: Path, section: str, key: str, value) -> Path:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    target = params["profiles"]["smoke"] if section == "" else params["profiles"]["smoke"][section]
    target[key] = value
    path = tmp / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def _probe_with_params(section: str, key: str, value):
    def setup(ws: Path, tmp: Path):
        main, argv = _probe(ws, tmp, "--params", str(_params(tmp, section, key, value)))
        return main, argv, {}
    return setup


def _prepare(ws: Path, root: Path, out: Path, *extra: str):
    return prepare.main, ["--dataset", "rsna", "--root", str(root), "--out", str(out), "--profile", "smoke", *extra]


def _raw_copy(ws: Path, tmp: Path, dataset: str = "rsna") -> Path:
    root = tmp / "raw" / dataset
    shutil.copytree(ws / "raw" / dataset, root)
    return root


def _head(main, ws: Path, dataset: str, out: Path, encoder: Path | None = None):
    return main, ["--method", "random", "--datasets", dataset, "--encoder", str(encoder or ws / "encoder"), "--stores",
                  str(ws / "stores"), "--splits", str(ws / "splits"), "--out", str(out), "--profile", "smoke"]


# ---------------------------------------------------------------- setups


def prepare_out_is_root(ws, tmp):
    root = _raw_copy(ws, tmp)
    return (*_prepare(ws, root, root), {"root": root})


def prepare_out_is_another_dataset(ws, tmp):
    root, other = _raw_copy(ws, tmp), _raw_copy(ws, tmp, "covidx")
    return (*_prepare(ws, root, other), {})


def prepare_out_inside_root(ws, tmp):
    root = _raw_copy(ws, tmp)
    return (*_prepare(ws, root, root / "store"), {"root": root})


def prepare_size(value: str):
    def setup(ws, tmp):
        return (*_prepare(ws, _raw_copy(ws, tmp), tmp / "store", "--size", value), {})
    return setup


def _no_space(fd, offset, length):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def prepare_full_disk(ws, tmp):
    os.posix_fallocate = _no_space  # the test's monkeypatch puts the real one back
    return (*_prepare(ws, _raw_copy(ws, tmp), tmp / "store"), {})


def features_out_is_stores(ws, tmp):
    return features.main, ["--encoder", str(ws / "encoder"), "--stores", str(ws / "stores"), "--datasets", "covidx",
                           "--out", str(ws / "stores"), "--profile", "smoke"], {}


def embed_out_is_store(ws, tmp):
    return embed.main, ["--store", str(ws / "stores" / "rsna"), "--out", str(ws / "stores" / "rsna"), "--profile",
                        "smoke"], {}


def pretrain_out_is_store(ws, tmp):
    return pretrain.main, ["--method", "mflag", "--store", str(ws / "stores" / "rsna"), "--text", str(tmp / "text"),
                           "--out", str(ws / "stores" / "rsna" / "model"), "--profile", "smoke"], {}


def probe_out_is_features(ws, tmp):
    return (*_probe(ws, tmp, out=ws / "features"), {})


def segment_out_is_splits(ws, tmp):
    return (*_head(segment.main, ws, "rsna", ws / "splits"), {})


def detect_out_is_encoder(ws, tmp):
    return (*_head(detect.main, ws, "rsna", ws / "encoder"), {})


def phantom_over_a_real_dataset(ws, tmp):
    real = tmp / "raw" / "rsna"
    shutil.copytree(ws / "raw" / "rsna", real)  # a dataset the phantom stage did not write (no marker)
    return phantom_main, ["--out", str(tmp / "raw"), "--datasets", "rsna", "--profile", "smoke"], {}


def splits_out_is_root(ws, tmp):
    root = tmp / "raw"
    _raw_copy(ws, tmp)
    return splits.main, ["write-all", "--root", str(root), "--out", str(root)], {}


def splits_over_label_file(ws, tmp):
    root = _raw_copy(ws, tmp)
    label = root / "stage_2_train_labels.csv"
    return splits.main, ["write", "--dataset", "rsna", "--root", str(root), "--out", str(label)], {}


def report_plots_over_results(ws, tmp):
    runs = tmp / "plots"
    write_result(runs, {"method": "random", "dataset": "rsna", "task": "classification", "fraction": 100, "seed": 0,
                        "metric": "auroc", "value": 0.7, "data_kind": "phantom", "profile": "smoke", "lm": None,
                        "backend": "native", "status": "ok"})
    return report.main, ["--results", str(runs), "--out", str(tmp)], {}


def code_cards_over_a_store(ws, tmp):
    return code_cards.main, ["--out", str(ws / "stores" / "rsna")], {}


def probe_diverging(ws, tmp):
    path = _params(tmp, "probe", "solver", "adamw")
    params = yaml.safe_load(path.read_text())
    params["profiles"]["smoke"]["probe"]["lr"] = 1.0e308  # float64 overflows: the logits become inf, the loss NaN
    path.write_text(yaml.safe_dump(params))
    return (*_probe(ws, tmp, "--params", str(path)), {})


def truncated_features_json(ws, tmp):
    shutil.copytree(ws / "features", tmp / "features")
    info = tmp / "features" / "covidx" / "features.json"
    info.write_text(info.read_text()[:40])
    main, argv = _probe(ws, tmp)
    argv[argv.index("--features") + 1] = str(tmp / "features")
    return main, argv, {"file": info}


def truncated_encoder_meta(ws, tmp):
    shutil.copytree(ws / "encoder", tmp / "encoder")
    (tmp / "encoder" / "meta.json").write_text('{"method": "random", "arch": ')
    return (*_head(segment.main, ws, "rsna", tmp / "out", encoder=tmp / "encoder"), {})


def _report_with(value):
    def setup(ws, tmp):
        runs = tmp / "runs"
        write_result(runs, {"method": "random", "dataset": "rsna", "task": "classification", "fraction": 100,
                            "seed": 0, "metric": "auroc", "value": value, "data_kind": "phantom", "profile": "smoke",
                            "lm": None, "backend": "native", "status": "ok"})
        write_result(runs, {"method": "random", "dataset": "rsna", "task": "classification", "fraction": 100,
                            "seed": 1, "metric": "auroc", "value": 0.7, "data_kind": "phantom", "profile": "smoke",
                            "lm": None, "backend": "native", "status": "ok"})
        return report.main, ["--results", str(runs), "--out", str(tmp / "report")], {}
    return setup


def _nan_is_marked(tmp: Path, facts: dict) -> None:
    assert "NaN (1 of 2 runs)" in (tmp / "report" / "leaderboard.md").read_text()


def _probe_ran_with_clean_counts(tmp: Path, facts: dict) -> None:
    record = json.loads(next((tmp / "out").glob("*__f100__*.json")).read_text())
    assert record["n"]["test"] > 0 and record["status"] == "ok"


def pretrain_diverging(ws, tmp):
    store, text = tmp / "mimic-store", tmp / "text"
    assert prepare.main(["--dataset", "mimic", "--root", str(ws / "raw" / "mimic"), "--out", str(store),
                         "--profile", "smoke"]) == 0
    assert embed.main(["--store", str(store), "--out", str(text), "--cache", str(tmp / "cache"), "--profile",
                       "smoke"]) == 0
    path = _params(tmp, "pretrain", "lr", 1.0e300)  # float64 overflows within the first steps
    return pretrain.main, ["--method", "mflag", "--store", str(store), "--text", str(text), "--out",
                           str(tmp / "model"), "--params", str(path), "--profile", "smoke"], {}


def supervised_without_masks(ws, tmp):
    raw, store = tmp / "mimic", tmp / "mimic-store"
    shutil.copytree(ws / "raw" / "mimic", raw)
    shutil.rmtree(raw / FINDING_MASKS)  # as on the real dataset
    assert prepare.main(["--dataset", "mimic", "--root", str(raw), "--out", str(store), "--profile", "smoke"]) == 0
    return pretrain.main, ["--method", "supervised", "--store", str(store), "--text", str(tmp / "text"), "--out",
                           str(tmp / "model"), "--profile", "smoke"], {}


# ---------------------------------------------------------------- the corpus

CSV = r"/mgca\.csv"
CASES: tuple[Case, ...] = (
    # split manifests, checked on every read
    Case("manifest-test-id-also-train", "probe", "a test id listed again as train (checksum consistent)",
         _probe_with_manifest(_test_id_also_train),
         Error(CSV + r", row \d+: id '.+' listed twice \(first on row \d+, as 'test'\): an id belongs to one split")),
    Case("manifest-split-typo", "probe", "split 'Test' (capital T)", _probe_with_manifest(_set("test", "split", "Test")),
         Error(CSV + r", row \d+: split must be one of train, valid, test, got 'Test'")),
    Case("manifest-fraction-word", "probe", "min_fraction 'ten'", _probe_with_manifest(_set("train", "min_fraction", "ten")),
         Error(CSV + r", row \d+: a training row needs min_fraction, an integer in 1\.\.100, got 'ten'")),
    Case("manifest-fraction-150", "probe", "min_fraction 150", _probe_with_manifest(_set("train", "min_fraction", "150")),
         Error(CSV + r", row \d+: a training row needs min_fraction, an integer in 1\.\.100, got '150'")),
    Case("manifest-fraction-on-test-row", "probe", "a test row with a min_fraction",
         _probe_with_manifest(_set("test", "min_fraction", "10")),
         Error(CSV + r", row \d+: only training rows have a min_fraction \(test row has '10'\)")),
    Case("manifest-empty-id", "probe", "an empty id", _probe_with_manifest(_set("valid", "id", "")),
         Error(CSV + r", row \d+: empty id")),
    Case("manifest-wrong-columns", "probe", "header id,set,min_fraction",
         _probe_with_manifest(lambda f: f.rename(columns={"split": "set"})),
         Error(CSV + r": split manifest columns must be id,split,min_fraction \(got id,set,min_fraction\)")),
    Case("manifest-unknown-id", "probe", "an id that is not in the store",
         _probe_with_manifest(_set("valid", "id", "train/not-in-the-store.png")),
         Error(CSV + r": 1 ids are not in the store .+ \(e\.g\. 'train/not-in-the-store\.png'\)")),
    Case("manifest-edited-by-hand", "probe", "a test row turned into train by hand (checksum from before)",
         _probe_with_manifest(_set("test", "split", "train"), checksum="keep"),
         Error(CSV + r": split manifest changed since it was written \(SHA-256 differs")),
    Case("manifest-cut-at-a-line", "probe", "the manifest cut after its first 20 lines (checksum from before)",
         _probe_with_manifest(lambda f: f.iloc[:19], checksum="keep"),
         Error(CSV + r": split manifest changed since it was written")),
    Case("manifest-without-checksum", "probe", "a manifest written by hand, no checksum beside it",
         _probe_with_manifest(lambda f: f, checksum="drop"),
         Error(CSV + r": no checksum recorded for this manifest \(mgca\.csv\.sha256 missing\)")),
    Case("manifest-byte-order-mark", "probe", "a manifest starting with a UTF-8 byte-order mark (checksum consistent)",
         lambda ws, tmp: (*_probe(ws, tmp, splits_dir=_manifest(ws, tmp, lambda t: "\ufeff" + t)[0]), {}),
         Handled(_probe_ran_with_clean_counts, "the mark is removed before parsing; the probe runs on the same rows")),
    # outputs that would replace inputs or other stages' outputs
    Case("prepare-out-is-root", "prepare", "--out is the raw dataset itself", prepare_out_is_root,
         Error(r": output is the input .+; it would be replaced as a whole")),
    Case("prepare-out-is-another-dataset", "prepare", "--out is another dataset's raw folder",
         prepare_out_is_another_dataset, Error(r"/covidx: exists and is not a store written by this stage \(holds ")),
    Case("prepare-out-inside-root", "prepare", "--out inside the raw dataset", prepare_out_inside_root,
         Error(r"/rsna/store: output lies inside the input")),
    Case("features-out-is-stores", "features", "--out is the folder of stores", features_out_is_stores,
         Error(r"/stores: output is the input")),
    Case("embed-out-is-store", "embed", "--out is the store it reads", embed_out_is_store,
         Error(r"/stores/rsna: output is the input")),
    Case("pretrain-out-in-store", "pretrain", "--out inside the store it reads", pretrain_out_is_store,
         Error(r"/stores/rsna/model: output lies inside the input")),
    Case("probe-out-is-features", "probe", "--out is the features folder it reads", probe_out_is_features,
         Error(r"/features: output is the input")),
    Case("segment-out-is-splits", "segment", "--out is the split-manifest folder", segment_out_is_splits,
         Error(r"/splits: output is the input")),
    Case("detect-out-is-encoder", "detect", "--out is the encoder folder", detect_out_is_encoder,
         Error(r"/encoder: output is the input")),
    Case("phantom-over-a-real-dataset", "phantom", "--out holds a dataset the phantom stage did not write",
         phantom_over_a_real_dataset, Error(r"/raw/rsna: exists and is not a phantom dataset written by this stage")),
    Case("code-cards-over-a-store", "code_cards", "--out is a store (a mistyped data/code)", code_cards_over_a_store,
         Error(r"/stores/rsna: exists and is not a code-card folder written by this stage \(holds ")),
    Case("splits-out-is-root", "splits", "write-all --out is the raw root", splits_out_is_root,
         Error(r"/raw: output is the input")),
    Case("splits-over-label-file", "splits", "write --out is the dataset's label file", splits_over_label_file,
         Error(r"/stage_2_train_labels\.csv: output is the input")),
    Case("report-plots-over-results", "report", "--out/plots is the results folder", report_plots_over_results,
         Error(r"/plots: output is the input")),
    # command-line values and profile settings, checked before any work
    Case("prepare-size-negative", "prepare", "--size -5", prepare_size("-5"),
         Error(r"<input>: --size -5: the store's images need at least 16 px")),
    Case("prepare-size-zero", "prepare", "--size 0 (was silently replaced by the profile's size)", prepare_size("0"),
         Error(r"<input>: --size 0: the store's images need at least 16 px")),
    Case("profile-typo", "probe", "a key spelt max_epocs", _probe_with_params("probe", "max_epocs", 5),
         Error(r"params\.yaml: profiles\.smoke\.probe\.max_epocs: unknown key \(did you mean 'max_epochs'\?\)")),
    Case("profile-fraction-0", "probe", "fractions: [0]", _probe_with_params("probe", "fractions", [0]),
         Error(r"params\.yaml: profiles\.smoke\.probe\.fractions\.0: input should be greater than or equal to 1")),
    Case("profile-fraction-150", "probe", "fractions: [150] (wrote f150 results)",
         _probe_with_params("probe", "fractions", [150]),
         Error(r"profiles\.smoke\.probe\.fractions\.0: input should be less than or equal to 100")),
    Case("profile-batch-0", "probe", "batch_size: 0", _probe_with_params("probe", "batch_size", 0),
         Error(r"profiles\.smoke\.probe\.batch_size: input should be greater than or equal to 1")),
    Case("profile-negative-lr", "probe", "lr: -0.05", _probe_with_params("probe", "lr", -0.05),
         Error(r"profiles\.smoke\.probe\.lr: input should be greater than 0")),
    Case("profile-seeds-as-strings", "probe", "seeds: ['0']", _probe_with_params("probe", "seeds", ["0"]),
         Error(r"profiles\.smoke\.probe\.seeds\.0: input should be a valid integer, got '0'")),
    Case("profile-lr-yaml-string", "probe", "lr: 1e-3 (YAML reads it as a string)", _probe_with_params("probe", "lr", "1e-3"),
         Error(r"profiles\.smoke\.probe\.lr: input should be a valid number, got '1e-3'")),
    Case("profile-max-epochs-0", "probe", "max_epochs: 0", _probe_with_params("probe", "max_epochs", 0),
         Error(r"profiles\.smoke\.probe\.max_epochs: input should be greater than or equal to 1")),
    Case("profile-unknown-precision", "probe", "precision: float16", _probe_with_params("", "precision", "float16"),
         Error(r"profiles\.smoke\.precision: input should be 'float32' or 'float64'")),
    # training that fails, damaged intermediate files, results
    Case("probe-diverging", "probe", "AdamW probe at lr 1e308 (no finite validation loss)", probe_diverging,
         Error(r"<input>: linear probe: no epoch gave a finite validation loss .+ the run diverged, lower the learning rate")),
    Case("pretrain-diverging", "pretrain", "M-FLAG pre-training at lr 1e300", pretrain_diverging,
         Error(r"<input>: pretrain mflag: the loss is not finite at step \d+ .+ lower the learning rate")),
    Case("supervised-without-masks", "pretrain", "the positive control's finding masks asked for, the store has none",
         supervised_without_masks,
         Error(r"/mimic-store/store\.json: method 'supervised' trains on finding masks \(option dense_weight\) that this store does not have")),
    Case("truncated-features-json", "probe", "features.json cut after 40 bytes", truncated_features_json,
         Error(r"/features\.json: unreadable feature description \(")),
    Case("truncated-encoder-meta", "segment", "the encoder's meta.json cut mid-object", truncated_encoder_meta,
         Error(r"/meta\.json: unreadable (encoder meta\.json|description) \(")),
    Case("result-percentage", "report", "a result value of 62.0 (a percentage where a fraction belongs)",
         _report_with(62.0), Error(r"\.json: value 62\.0 is not a score in \[0, 1\]")),
    Case("result-nan", "report", "a result value of NaN for one seed", _report_with(float("nan")),
         Handled(_nan_is_marked, "the cell says 'NaN (1 of 2 runs)' (benchmark.compare fails on it)")),
    Case("prepare-full-disk", "prepare", "no space left for the store's arrays", prepare_full_disk,
         Error(r"/images\.npy: cannot reserve \d+ MiB for the store \(No space left on device\)")),
)


def fill(pattern: str, facts: dict) -> str:
    return re.sub(r"<(\w+)>", lambda m: re.escape(str(facts[m.group(1)])) if m.group(1) in facts else m.group(0),
                  pattern)


def doc_table() -> str:
    lines = ["| case | stage | outcome |", "| --- | --- | --- |"]
    for case in CASES:
        out = case.outcome
        text = f"error: `{out.pattern.replace(chr(92), '')}`" if isinstance(out, Error) else f"handled: {out.doc}"
        cells = (f"{case.what} (`{case.id}`)", case.stage, text)
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def test_the_corpus_has_a_hundred_cases_with_the_readers():
    from test_bad_inputs import CASES as READER_CASES

    assert len(CASES) + len(READER_CASES) >= 100 and len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_stage_input(case: Case, ws, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(os, "posix_fallocate", os.posix_fallocate)  # a case may replace it; put back afterwards
    before = _tree_digest(ws)
    main, argv, facts = case.setup(ws, tmp_path)
    capsys.readouterr()
    if isinstance(case.outcome, Error):
        with pytest.raises(SystemExit) as exit_info:
            run_cli(main, argv)
        err = capsys.readouterr().err
        assert exit_info.value.code == 2, err
        assert "Traceback" not in err
        lines = [line for line in re.split(r"[\r\n]", err) if line.strip()]
        assert [line for line in lines if line.startswith("error:")] == [lines[-1]], err
        assert re.search(fill(case.outcome.pattern, facts), lines[-1]), f"\n{lines[-1]}\ndoes not match\n{case.outcome.pattern}"
    else:
        run_cli_code = main(argv)
        assert run_cli_code == 0
        case.outcome.check(tmp_path, facts)
    assert _tree_digest(ws) == before  # nothing of the shared inputs changed


def test_documented_outcomes_match_the_corpus():
    doc = (REPO / "docs" / "bad_inputs.md").read_text()
    assert doc_table() in doc, "docs/bad_inputs.md is out of date: regenerate it (see its first lines)"
