"""Hook-level lineage: one real weekly run of `retrain_fraud` (first deployment) and one
`score_fraud` run, with dag.test() in this process, report to Airflow's hook lineage collector
what they read and wrote in S3: the landing partitions in; the published version's files, the
slots object and the predictions out; run scratch files (decision.json, features/...) neither.

A collector is active only when a plugin registers a HookLineageReader (the OpenLineage provider
does); the test activates Airflow's real collector the same way, by answering that plugin lookup.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid

import pendulum
import pytest
from assets_db import release_champion_asset
from fast_training import fast_config
from retrain.config import Settings, load_model_config
from retrain.keys import Keys

pytestmark = [pytest.mark.integration, pytest.mark.slow]

HISTORY, WEEK = dt.date(2026, 1, 5), dt.date(2026, 1, 12)


@pytest.fixture
def collector(monkeypatch):
    """Airflow's HookLineageCollector, active as if a lineage reader plugin were installed."""
    import airflow.sdk.lineage as lineage
    import airflow.sdk.plugins_manager as plugins_manager

    monkeypatch.setattr(plugins_manager, "get_hook_lineage_readers_plugins", lambda: [lineage.HookLineageReader])
    lineage.get_hook_lineage_collector.cache_clear()
    try:
        collector = lineage.get_hook_lineage_collector()
        assert type(collector) is lineage.HookLineageCollector
        yield collector
    finally:
        lineage.get_hook_lineage_collector.cache_clear()


def test_one_weekly_run_and_its_consumer_report_inputs_and_outputs(moto_server, airflow_db, collector,
                                                                    monkeypatch):
    import retrain.airflow.tasks
    from airflow.dag_processing.dagbag import DagBag
    from retrain import registry
    from retrain.storage import S3Store
    from retrain_dev.datagen.landing import land_weeks
    from retrain_dev.demo import run_weeks

    bucket = f"retrain-lineage-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("RETRAIN_BUCKET", bucket)
    monkeypatch.setattr(retrain.airflow.tasks, "load_model_config", fast_config)
    store = S3Store(Settings(bucket=bucket))
    store.ensure_bucket()
    cfg = load_model_config("fraud")
    land_weeks(store, cfg, start=WEEK, weeks=1, scenario="stable", rows=1500, history_weeks=1)
    keys = Keys("fraud", "")
    before = {a.asset.uri for a in collector.collected_assets.inputs + collector.collected_assets.outputs}
    assert not {u for u in before if bucket in u}

    from airflow.utils.session import create_session

    with create_session() as session:
        release_champion_asset("fraud", session)  # see assets_db: one bucket per test module
    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    outcome = run_weeks(bag.dags["retrain_fraud"], cfg, store, [WEEK])[0]
    assert outcome["outcome"] == "promoted", outcome
    version = outcome["champion_after"]
    when = pendulum.datetime(2026, 1, 20, 9, tz="UTC")
    assert str(bag.dags["score_fraud"].test(run_after=when, logical_date=when).state) == "success"

    lineage = collector.collected_assets
    inputs = {a.asset.uri for a in lineage.inputs if bucket in a.asset.uri}
    outputs = {a.asset.uri for a in lineage.outputs if bucket in a.asset.uri}

    def uri(key: str) -> str:
        return f"s3://{bucket}/{key}"

    assert inputs == {uri(keys.landing(w, cfg.data.format)) for w in (HISTORY, WEEK)}
    version_files = {uri(keys.version_file(version, name))
                     for name in registry.read_manifest(store, keys, version)["files"]}
    assert version_files <= outputs
    assert uri(keys.version_file(version, "manifest.json")) in outputs
    assert uri(keys.slots()) in outputs
    assert {uri(keys.predictions(WEEK, version, n)) for n in ("predictions.parquet", "manifest.json")} <= outputs
    assert not {u for u in outputs if "/runs/" in u or "/audit/" in u}  # scratch and audit stay out
    # every entry names the S3 hook that did the I/O, as S3Hook's own methods do
    assert all(type(a.context).__name__ == "S3Hook" for a in lineage.inputs + lineage.outputs if bucket in a.asset.uri)
