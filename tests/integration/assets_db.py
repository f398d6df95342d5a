"""Test isolation for the champion asset in the shared test metadata DB.

Every test module uses its own bucket, so `<model>_champion` has a different URI per module;
Airflow keeps one active asset per name, so a module's asset stays inactive (and a task that
declares it fails) while another module's is active. A deployment has one bucket: no such clash.
"""

from __future__ import annotations


def release_champion_asset(model: str, session) -> None:
    """Deactivate any `<model>_champion` so the next DAG sync activates this module's."""
    from airflow.models.asset import AssetActive
    from sqlalchemy import delete

    session.execute(delete(AssetActive).where(AssetActive.name == f"{model}_champion"))
