"""`retrain demo --model rossmann --real` says what to do when the reference data is absent,
before it starts anything."""

from __future__ import annotations

from retrain.cli import main
from retrain.importers import rossmann as imp


def test_real_demo_without_the_reference_file_says_what_to_do(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(imp, "REFERENCE_SALES", tmp_path / "absent.parquet")
    assert main(["demo", "--model", "rossmann", "--real", "--weeks", "2"]) == 1
    err = capsys.readouterr().err
    assert "the real Rossmann reference data is not here" in err and str(tmp_path / "absent.parquet") in err
    assert "../shared/reference/" in err and "retrain data import --model rossmann" in err


def test_real_demo_is_only_for_rossmann(capsys):
    assert main(["demo", "--model", "fraud", "--real"]) == 1
    assert "--real is for the Rossmann model" in capsys.readouterr().err
