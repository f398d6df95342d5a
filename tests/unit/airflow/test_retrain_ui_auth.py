"""Every route of the plugin app refuses a request without an Airflow token (fast check; the
browser test also shows forged tokens refused by a real API server and a real login accepted)."""

from __future__ import annotations

import pytest

ROUTES = ["/", "/models/fraud", "/models/nope", "/api/models/fraud", "/api/models/fraud?on=2026-02-09"]


@pytest.fixture(scope="module")
def client():
    from fastapi.testclient import TestClient
    from retrain.airflow.ui.app import app

    return TestClient(app)


@pytest.mark.parametrize("path", ROUTES)
def test_no_token_no_page(client, path):
    for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Basic YWRtaW46YWRtaW4="}):
        resp = client.get(path, headers=headers)
        assert resp.status_code == 401, (path, headers, resp.status_code)
        assert "Model retraining" not in resp.text


def test_the_plugin_mounts_the_app_and_one_menu_entry_per_model():
    import importlib.util
    from pathlib import Path

    from retrain.airflow.ui.app import URL_PREFIX, app
    from retrain.config import load_all_models

    path = Path(__file__).resolve().parents[3] / "plugins" / "retrain_ui.py"
    spec = importlib.util.spec_from_file_location("retrain_ui_plugin", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    plugin = module.RetrainUIPlugin
    assert plugin.fastapi_apps == [{"app": app, "url_prefix": URL_PREFIX, "name": "Model retraining"}]
    assert [v["href"] for v in plugin.external_views] == [f"{URL_PREFIX}/models/{c.name}" for c in load_all_models()]
    assert {v["category"] for v in plugin.external_views} == {"browse"}
