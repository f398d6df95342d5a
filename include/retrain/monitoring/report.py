"""`retrain report`: the page's charts and tables as one HTML file for people who don't open
Airflow (same renderer, same index; no network needed to open it)."""

from __future__ import annotations

from pathlib import Path


def write_report(model: str, out: str | Path, store, airflow_url: str = "") -> Path:
    from retrain.config import Settings, load_model_config
    from retrain.keys import Keys
    from retrain.monitoring.index import index_key, load_for_page
    from retrain.monitoring.render import render_page
    from retrain.monitoring.views import gate_settings

    cfg = load_model_config(model)
    keys = Keys(cfg.name, Settings.from_env().prefix)
    index, slots = load_for_page(store, keys)
    window, limit = gate_settings(cfg)
    html = render_page(cfg.name, cfg.family, index, slots, window=window, limit=limit, airflow_url=airflow_url,
                       note=f"Static report from s3://{store.bucket}/{index_key(keys)}.")
    path = Path(out)
    path.write_text(html, encoding="utf-8")
    return path
