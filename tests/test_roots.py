"""`python -m benchmark.roots`: real dataset roots from the environment or params, checked, linked."""

from pathlib import Path

import pytest
from support import data_error

from benchmark.data.roots import dataset_roots, link_roots
from benchmark.roots import main


def test_environment_wins_over_params(tmp_path):
    profile = {"name": "paper", "datasets": {"rsna": {"root": "data/raw/real/rsna-pneumonia"},
                                             "siim": {"root": "data/raw/real/siim"}}}
    roots = dataset_roots(profile, {"MEDVLP_ROOT_RSNA": str(tmp_path / "rsna")})
    assert roots == {"rsna": tmp_path / "rsna", "siim": Path("data/raw/real/siim")}


def test_roots_are_checked_then_linked(phantom_root, tmp_path):
    roots = {"rsna": phantom_root / "rsna", "siim": phantom_root / "siim"}
    links = link_roots(roots, tmp_path / "real")
    assert links["rsna"].is_symlink() and (links["rsna"] / "stage_2_train_labels.csv").is_file()
    assert link_roots(roots, tmp_path / "real")["siim"].resolve() == (phantom_root / "siim").resolve()  # re-link
    (tmp_path / "empty").mkdir()
    message = data_error(link_roots, {"rsna": tmp_path / "empty"}, tmp_path / "other")
    assert "stage_2_train_labels.csv" in message and not (tmp_path / "other").exists()  # nothing linked
    message = data_error(link_roots, {"chexpert": tmp_path / "missing"}, tmp_path / "other")
    assert "MEDVLP_ROOT_CHEXPERT" in message


def test_cli_uses_the_paper_profile(phantom_root, tmp_path, monkeypatch):
    for name in ("mimic", "chexpert", "rsna", "covidx", "siim", "object_cxr", "nih"):
        monkeypatch.setenv(f"MEDVLP_ROOT_{name.upper()}", str(phantom_root / name))
    assert main(["--profile", "paper", "--out", str(tmp_path / "real")]) == 0
    assert sorted(p.name for p in (tmp_path / "real").iterdir()) == sorted(
        ["mimic", "chexpert", "rsna", "covidx", "siim", "object_cxr", "nih"])
    with pytest.raises(SystemExit):
        main(["--profile", "paper", "--bogus"])
