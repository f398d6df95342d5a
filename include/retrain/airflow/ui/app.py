"""FastAPI app mounted by the plugin under URL_PREFIX: one HTML page and one JSON endpoint per model.

Airflow does not protect plugin apps, so every route depends on `authenticated_user`, which
validates the caller exactly as the API server's own `get_user` does (a Bearer token first, else
the UI's `_token` cookie, through the configured auth manager's `get_user_from_token`), and then
asks the auth manager whether that user may read the model's DAG. Airflow imports stay inside the
functions: the plugin module is imported by every Airflow component, the app is only served by the
API server.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.responses import HTMLResponse, JSONResponse

from retrain.monitoring import PAGE_URL_PREFIX as URL_PREFIX  # noqa: F401  (the plugin mounts the app there)


async def authenticated_user(request: Request) -> Any:
    """The Airflow user of this request, or 401/403 (mirrors airflow...security.get_user)."""
    from airflow.api_fastapi.auth.managers.base_auth_manager import COOKIE_NAME_JWT_TOKEN
    from airflow.api_fastapi.core_api.security import (
        USER_INJECTED_BY_TRUSTED_MIDDLEWARE,
        resolve_user_from_token,
    )

    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        return await resolve_user_from_token(credentials.strip() or None)
    user = getattr(request.state, "user", None)
    if user is not None and getattr(request.state, "user_authenticated_via", None) is USER_INJECTED_BY_TRUSTED_MIDDLEWARE:
        return user  # the API server's refresh middleware validated (and renewed) the cookie
    return await resolve_user_from_token(request.cookies.get(COOKIE_NAME_JWT_TOKEN))


UserDep = Annotated[Any, Depends(authenticated_user)]


def _model_config(name: str):
    from retrain.airflow.model_dags import usable_models

    for cfg in usable_models()[0]:
        if cfg.name == name:
            return cfg
    raise HTTPException(status.HTTP_404_NOT_FOUND, f"no model named {name!r}")


def _authorize(user: Any, dag_id: str) -> None:
    """The user must be allowed to read the model's weekly DAG (its runs are what the page shows)."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails

    if not get_auth_manager().is_authorized_dag(method="GET", details=DagDetails(id=dag_id), user=user):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"not allowed to read DAG {dag_id}")


def _load(cfg) -> tuple[dict, dict | None]:
    from retrain.config import Settings
    from retrain.keys import Keys
    from retrain.monitoring.index import load_for_page
    from retrain.storage import S3Store

    settings = Settings.from_env()
    return load_for_page(S3Store(settings), Keys(cfg.name, settings.prefix))


def create_app() -> FastAPI:
    app = FastAPI(title="Model retraining", docs_url=None, redoc_url=None, openapi_url=None,
                  dependencies=[Depends(authenticated_user)])

    @app.get("/", response_class=HTMLResponse)
    def models_list() -> HTMLResponse:
        from retrain.airflow.model_dags import usable_models
        from retrain.monitoring.charts import esc

        items = "".join(f'<li><a href="models/{esc(c.name)}">{esc(c.name)}</a></li>' for c in usable_models()[0])
        return HTMLResponse(f"<!doctype html><title>Model retraining</title><h1>Model retraining</h1><ul>{items}</ul>")

    @app.get("/models/{model}", response_class=HTMLResponse)
    def model_page(model: str, user: UserDep, window: int | None = None) -> HTMLResponse:
        from retrain.airflow.model_dags import usable_models
        from retrain.monitoring import views
        from retrain.monitoring.render import render_page

        cfg = _model_config(model)
        _authorize(user, cfg.retrain_dag_id)
        index, slots = _load(cfg)
        default_window, limit = views.gate_settings(cfg)
        html = render_page(cfg.name, cfg.family, index, slots, window=max(1, window or default_window),
                           limit=limit, nav=[c.name for c in usable_models()[0]])
        return HTMLResponse(html, headers={"Cache-Control": "no-store",
                                           "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                                           "script-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'self'"})

    @app.get("/api/models/{model}")
    def model_data(model: str, user: UserDep, on: dt.date | None = None) -> JSONResponse:
        """Everything the page shows, as JSON; `?on=YYYY-MM-DD` adds what was in production that day."""
        from retrain.monitoring import views

        cfg = _model_config(model)
        _authorize(user, cfg.retrain_dag_id)
        index, slots = _load(cfg)
        return JSONResponse({
            "model": cfg.name,
            "slots": slots,
            "trend": views.trend(index, views.TREND_METRICS.get(cfg.family, ())),
            "gate": views.gate_failure_rate(index, *views.gate_settings(cfg)),
            "drift": views.drift(index),
            "validation": views.validation_by_week(index),
            "champion_timeline": views.champion_timeline(index),
            **({"in_production_on": {"date": on.isoformat(), "change": views.in_production_on(index, on)}}
               if on else {}),
        })

    return app


app = create_app()
