"""Model config parsing: strict types, unknown keys refused, one ConfigError naming file and field."""

from __future__ import annotations

import copy
import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from retrain.config import DEFAULT_MODELS_DIR, load_all_models, load_model_config, parse_model_config
from retrain.errors import ConfigError

FRAUD = yaml.safe_load((DEFAULT_MODELS_DIR / "fraud.yaml").read_text())
ROSSMANN = yaml.safe_load((DEFAULT_MODELS_DIR / "rossmann.yaml").read_text())
PATH = Path("include/models/x.yaml")


def _with(base: dict, dotted: str, value) -> dict:
    raw = copy.deepcopy(base)
    *parents, last = dotted.split(".")
    node = raw
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return raw


_DELETE = object()


def _error(raw: dict) -> str:
    with pytest.raises(ConfigError) as info:
        parse_model_config(raw, PATH)
    return str(info.value)


def test_shipped_configs_parse_with_the_same_attributes():
    fraud, rossmann = (load_model_config(n) for n in ("fraud", "rossmann"))
    assert fraud.retrain_dag_id == "retrain_fraud" and fraud.rollback_dag_id == "rollback_fraud"
    assert fraud.data.features[:2] == ("amount", "velocity_1h") and "merchant_category" in fraud.data.features
    assert fraud.training.candidates[0].estimator == "sklearn.ensemble.HistGradientBoostingClassifier"
    assert fraud.training.candidates[1].params["n_estimators"] == 50
    assert fraud.gate.minimums == {"recall": 0.60, "roc_auc": 0.80}
    assert fraud.gate.compare == ("roc_auc", "recall", "cost_per_1k")
    assert fraud.triggers.psi_features == ("amount", "velocity_1h", "velocity_24h", "distance_from_home_km")
    assert fraud.schedule.weekday == "monday" and fraud.registry.canary_rows == 200
    assert fraud.data.extra == {}
    assert rossmann.data.extra == {
        "history_weeks": 14, "forecast_horizon_days": 7, "stores_input": {"name": "stores", "format": "csv"},
        "store_table_suite": "rossmann_store_table.json", "processed_suite": "rossmann_processed.json",
        "features_suite": "rossmann_features.json",
    }
    assert fraud.source_path.endswith("fraud.yaml")
    assert [c.name for c in load_all_models()] == ["fraud", "rossmann"]


def test_configs_are_immutable_and_replace_revalidates():
    cfg = load_model_config("fraud")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.name = "other"
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.training.cv_folds = 3
    faster = dataclasses.replace(cfg, training=dataclasses.replace(cfg.training, cv_folds=3))
    assert faster.training.cv_folds == 3 and cfg.training.cv_folds == 5
    with pytest.raises(ValueError, match="valid integer"):
        dataclasses.replace(cfg.training, cv_folds="five")


def test_psi_features_default_to_the_numeric_features():
    cfg = parse_model_config(_with(FRAUD, "triggers.psi_features", _DELETE), PATH)
    assert cfg.triggers.psi_features == cfg.data.numeric_features


def test_empty_optional_sections_mean_defaults():
    cfg = parse_model_config({**FRAUD, "schedule": None, "alerts": None}, PATH)
    assert cfg.schedule.hour == 2 and cfg.alerts == {}


@pytest.mark.parametrize(
    ("base", "dotted", "value", "expected"),
    [
        # issue 10: wrong types that used to be accepted or raised a bare TypeError
        (FRAUD, "training.cv_folds", "five", "training.cv_folds: Input should be a valid integer"),
        (FRAUD, "gate.minimums", {"recall": "0.6"}, "gate.minimums.recall: Input should be a valid number"),
        (FRAUD, "triggers.psi_warn", "high", "triggers.psi_warn: Input should be a valid number"),
        (FRAUD, "training.cv_folds", 5.0, "training.cv_folds: Input should be a valid integer"),
        (FRAUD, "schedule.catchup", "no", "schedule.catchup: Input should be a valid boolean"),
        (FRAUD, "data.numeric_features", ["amount", 3], "data.numeric_features[1]: Input should be a valid string"),
        (FRAUD, "training.candidates.0.params", [1], "training.candidates[0].params: Input should be a valid dict"),
        # an unknown family fails at config time, naming the known ones
        (FRAUD, "family", "gradient_magic",
         "family: unknown model family 'gradient_magic'; known: ['binary_classifier', 'sales_forecast']"),
        # unknown keys are refused wherever they are
        (FRAUD, "gaet", {}, "gaet: Unexpected keyword argument"),
        (FRAUD, "data.window_week", 8, "data.window_week: Unexpected keyword argument"),
        (FRAUD, "gate.max_regression", {"roc_auc": 0.1}, "gate.max_regression: Unexpected keyword argument"),
        (ROSSMANN, "data.stores_input", {"name": "stores", "fmt": "csv"},
         "data.stores_input.fmt: Unexpected keyword argument"),
        (ROSSMANN, "data.history_weeks", "nine", "data.history_weeks: Input should be a valid integer"),
        # missing sections and fields
        (FRAUD, "training", _DELETE, "training: Field required"),
        (FRAUD, "data.label", _DELETE, "data.label: Field required"),
        # value rules
        (FRAUD, "data.format", "xlsx", "data.format: Input should be 'parquet' or 'csv'"),
        (FRAUD, "schedule.weekday", "funday", "schedule.weekday: Input should be 'monday'"),
        (FRAUD, "schedule.hour", 24, "schedule.hour: Input should be less than or equal to 23"),
        (FRAUD, "name", "Fraud", "name: 'Fraud' must be lower-case letters, digits and '_'"),
        (FRAUD, "triggers.psi_warn", 0.5, "triggers: psi_warn must not exceed psi_action"),
        (FRAUD, "triggers.performance", {"recall": 0.6}, "triggers: performance keys ['recall'] must start with"),
        (FRAUD, "training.candidates", [], "training: candidates is empty"),
        # the sklearn-only guard on estimator names
        (FRAUD, "training.candidates.0.estimator", "xgboost.XGBClassifier",
         "training.candidates[0]: candidate 'hist_gradient_boosting': only sklearn estimators are allowed"),
        (FRAUD, "training.candidates.1.name", "hist_gradient_boosting", "training: candidate names must be unique"),
        # an averaged candidate: two different fits at least, a weighting a family knows
        (ROSSMANN, "training.candidates.0.average", [{}],
         "training.candidates[0]: candidate 'hist_gradient_boosting': average needs at least two fits"),
        (ROSSMANN, "training.candidates.0.average", [{}, {"params": {}}],
         "candidate 'hist_gradient_boosting': average lists the same fit twice"),
        (ROSSMANN, "training.candidates.0.average", [{}, {"sample_weight": "inverse"}],
         "training.candidates[0].average[1].sample_weight: Input should be 'relative_error'"),
        (ROSSMANN, "training.candidates.0.average", [{}, {"weights": "relative_error"}],
         "training.candidates[0].average[1].weights: Unexpected keyword argument"),
        # the gate fails closed
        (FRAUD, "gate.minimums", {}, "gate: needs at least one absolute minimum or maximum"),
        (FRAUD, "gate.tolerance", {"roc_auc": 0.005, "recall": 0.02},
         "gate.tolerance: no value for compared metric(s) ['cost_per_1k']"),
        (FRAUD, "gate.compare", ["roc_auc", "recall"], "gate.tolerance: names ['cost_per_1k'], which gate.compare"),
        (FRAUD, "gate.tolerance.recall", -0.02, "gate.tolerance.recall: Input should be greater than or equal to 0"),
        (FRAUD, "gate.confidence", 1.5, "gate.confidence: Input should be less than 1"),
        (FRAUD, "gate.bootstrap_resamples", 10, "gate.bootstrap_resamples: at least 100 when gate.compare is set"),
    ],
)
def test_invalid_config_names_file_and_field(base, dotted, value, expected):
    message = _error(_with(base, dotted, value))
    assert message.startswith(f"{PATH}: ")
    assert expected in message


def test_every_problem_is_listed_at_once():
    raw = _with(_with(FRAUD, "training.cv_folds", "five"), "triggers.psi_warn", "high")
    lines = _error(raw).splitlines()
    assert lines == [f"{PATH}: triggers.psi_warn: Input should be a valid number",
                     f"{PATH}: training.cv_folds: Input should be a valid integer"]


def test_loader_errors_name_the_file(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: broken\nfamily: binary_classifier\n")
    message = str(pytest.raises(ConfigError, load_model_config, broken).value)
    assert f"{broken}: data: Field required" in message
    assert f"{broken}: training: Field required" in message
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("name: [unclosed\n")
    assert f"{bad_yaml}: not valid YAML" in str(pytest.raises(ConfigError, load_model_config, bad_yaml).value)
    assert "top level must be a mapping" in str(pytest.raises(ConfigError, parse_model_config, [1], PATH).value)
    assert "set by the loader" in _error({**FRAUD, "source_path": "elsewhere"})
    with pytest.raises(ConfigError, match="no model config at"):
        load_model_config(tmp_path / "missing.yaml")


def test_loading_a_config_imports_no_family_module_and_nothing_heavy():
    code = ("import sys; from retrain.config import load_all_models; load_all_models(); "
            "print(sorted(m for m in sys.modules if m.startswith('retrain.families.') "
            "or m.split('.')[0] in ('pandas', 'numpy', 'sklearn')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
