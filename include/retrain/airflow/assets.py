"""The champion as an Airflow Asset: what serving schedules on, and when it changes.

`<model>_champion` is the registry's slots object (`s3://<bucket>/<prefix>/registry/<model>/slots.json`).
Tasks that may move the champion declare an AssetAlias as outlet instead of the Asset itself:
Airflow emits an event for every outlet Asset of a successful task, but an alias emits only
the events the task adds. So promote and every rollback add one event (version, generation,
reason in its extra) when they moved the pointer, and a skip, a rejection or a no-op re-run
(already_promoted, superseded, already_rolled_back, dry run) emits nothing. Consumers schedule
on the Asset; Airflow resolves the alias event to it.

Light at import (the DAG factory calls it at parse time): the SDK is imported inside functions.
"""

from __future__ import annotations

from retrain.config import Settings
from retrain.keys import Keys

CHANGES_ALIAS = "{model}_champion_changes"


def champion_uri(model: str, settings: Settings | None = None) -> str:
    settings = settings or Settings.from_env()
    return f"s3://{settings.bucket}/{Keys(model, settings.prefix).slots()}"


def champion_asset(model: str, settings: Settings | None = None):
    from airflow.sdk import Asset

    return Asset(name=f"{model}_champion", uri=champion_uri(model, settings), group="model")


def champion_alias(model: str):
    from airflow.sdk import AssetAlias

    return AssetAlias(CHANGES_ALIAS.format(model=model), group="model")


def champion_event(slots) -> dict:
    """The extra of a champion event, from the slots object the change just wrote."""
    champion, by = slots.champion, slots.updated_by or {}
    return {
        "action": by.get("action"),
        "version": champion.version,
        "week": champion.week,
        "generation": slots.generation,
        "previous": slots.previous.version if slots.previous else None,
        "reason": by.get("reason"),
        "run_id": by.get("run_id"),
        "registry_event": by.get("event"),
    }


def emit_champion_changed(context, model: str, extra: dict) -> None:
    """Add one `<model>_champion` event through the task's alias outlet."""
    context["outlet_events"][champion_alias(model)].add(champion_asset(model), extra=extra)
