"""One bad model config never takes the others down (issue 9, section 6).

Parsed the way the DAG processor parses (a DagBag over dags/, then the same DB sync it does):
the broken file is named, with its field, under the UI's import errors, and every other
model's weekly and rollback DAGs are still there, not stale, so they run and can be triggered.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from retrain.config import DEFAULT_MODELS_DIR

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "dags"
BUNDLE = "dags-folder"
GOOD = sorted(p.stem for p in DEFAULT_MODELS_DIR.glob("*.yaml"))
GOOD_DAG_IDS = {f"{kind}_{name}" for name in GOOD for kind in ("retrain", "rollback", "score")}


@pytest.fixture
def models_dir(tmp_path, monkeypatch) -> Path:
    target = tmp_path / "models"
    shutil.copytree(DEFAULT_MODELS_DIR, target)
    monkeypatch.setenv("RETRAIN_MODELS_DIR", str(target))
    return target


def _parse():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS), bundle_path=DAGS, bundle_name=BUNDLE)


def test_an_incomplete_config_is_an_import_error_and_hides_no_other_dag(models_dir):
    (models_dir / "broken.yaml").write_text("name: broken\nfamily: binary_classifier\n")
    bag = _parse()
    assert set(bag.dag_ids) == GOOD_DAG_IDS
    assert list(bag.import_errors) == ["model_configs.py"]
    message = bag.import_errors["model_configs.py"]
    assert "ConfigError" in message
    assert f"{models_dir / 'broken.yaml'}: data: Field required" in message


def test_invalid_yaml_a_bad_schedule_and_a_duplicate_name_are_each_named(models_dir):
    (models_dir / "garbled.yaml").write_text("name: [unclosed\n")
    fraud = (models_dir / "fraud.yaml").read_text()
    (models_dir / "badtz.yaml").write_text(
        fraud.replace("name: fraud", "name: badtz").replace("timezone: Europe/Berlin", "timezone: Mars/Olympus")
    )
    (models_dir / "fraud_copy.yaml").write_text(fraud)
    bag = _parse()
    # both files claiming 'fraud' are left out: neither may own that model's DAGs and registry
    assert set(bag.dag_ids) == GOOD_DAG_IDS - {"retrain_fraud", "rollback_fraud", "score_fraud"}
    message = bag.import_errors["model_configs.py"]
    assert "4 model config file(s) are broken" in message
    assert f"{models_dir / 'garbled.yaml'}: not valid YAML" in message
    assert f"{models_dir / 'badtz.yaml'}: invalid 'schedule' section" in message
    assert "name 'fraud' is also used by" in message and "fraud_copy.yaml" in message
    assert list(bag.import_errors) == ["model_configs.py"]


def test_good_configs_give_no_import_error(models_dir):
    bag = _parse()
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == GOOD_DAG_IDS


def test_the_ui_lists_the_error_and_the_other_models_stay_schedulable(models_dir, airflow_db):
    """The DB sync the DAG processor runs: ParseImportError row, good DAGs neither stale nor in error."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import sync_bag_to_db
    from airflow.models.dag import DagModel
    from airflow.models.errors import ParseImportError
    from airflow.utils.session import create_session
    from sqlalchemy import select

    DagBundlesManager().sync_bundles_to_db()
    (models_dir / "broken.yaml").write_text("name: broken\nfamily: binary_classifier\n")
    sync_bag_to_db(_parse(), BUNDLE, None)
    with create_session() as session:
        errors = {e.filename: e.stacktrace for e in session.scalars(select(ParseImportError))}
        dags = {d.dag_id: d for d in session.scalars(select(DagModel).where(DagModel.dag_id.in_(GOOD_DAG_IDS)))}
        assert list(errors) == ["model_configs.py"]
        assert "broken.yaml: data: Field required" in errors["model_configs.py"]
        assert set(dags) == GOOD_DAG_IDS
        for dag in dags.values():
            assert not dag.is_stale and not dag.has_import_errors, dag.dag_id
