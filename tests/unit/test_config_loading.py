"""Loading model configs: each file parsed once per process until it changes; errors name the file."""

from __future__ import annotations

import os
import shutil

import pytest
from retrain import config
from retrain.config import DEFAULT_MODELS_DIR, load_all_models, load_model_config, scan_models
from retrain.errors import ConfigError


@pytest.fixture
def models(tmp_path):
    target = tmp_path / "models"
    shutil.copytree(DEFAULT_MODELS_DIR, target)
    return target


def test_a_file_is_parsed_once_until_it_changes(models):
    path = models / "fraud.yaml"
    first = load_model_config(path)
    assert load_model_config(path) is first
    path.write_text(path.read_text().replace("window_weeks: 8", "window_weeks: 9"))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    changed = load_model_config(path)
    assert changed is not first and changed.data.window_weeks == 9


def test_the_c_yaml_loader_is_used_when_available():
    import yaml

    if not hasattr(yaml, "CSafeLoader"):
        pytest.skip("PyYAML built without libyaml")
    assert config._YAML_LOADER is yaml.CSafeLoader


def test_invalid_yaml_is_a_config_error_naming_the_file(models):
    (models / "garbled.yaml").write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="garbled.yaml: not valid YAML"):
        load_model_config(models / "garbled.yaml")


def test_scan_keeps_the_good_configs_and_names_each_broken_file(models):
    (models / "broken.yaml").write_text("name: broken\nfamily: binary_classifier\n")
    scan = scan_models(models)
    assert sorted(c.name for c in scan.configs) == sorted(p.stem for p in DEFAULT_MODELS_DIR.glob("*.yaml"))
    broken = models / "broken.yaml"
    assert scan.errors == {str(broken): "\n".join(f"{broken}: {section}: Field required"
                                                  for section in ("data", "triggers", "training", "gate"))}
    with pytest.raises(ConfigError, match="broken.yaml: data: Field required"):
        load_all_models(models)


def test_two_files_with_one_name_are_both_left_out(models):
    shutil.copy(models / "fraud.yaml", models / "fraud_copy.yaml")
    scan = scan_models(models)
    assert "fraud" not in {c.name for c in scan.configs}
    assert set(scan.errors) == {str(models / "fraud.yaml"), str(models / "fraud_copy.yaml")}
    assert all("name 'fraud' is also used by" in m for m in scan.errors.values())
