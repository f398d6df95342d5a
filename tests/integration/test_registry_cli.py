"""`retrain registry show|history --model fraud [--json]` against a real S3 endpoint (moto).

The registry is built through retrain.registry exactly as the DAGs build it: two promotions
(weeks 1 and 2) and one on-call rollback, so the champion is week 1 again and week 2 is previous.
The CLI runs in-process (`retrain.cli.main`) against the bucket named by RETRAIN_BUCKET.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from retrain import registry
from retrain.cli import main
from retrain.config import Settings
from retrain.keys import Keys, version_id
from retrain.registry.report import format_history, format_slots
from retrain.storage.integrity import dumps_model

pytestmark = pytest.mark.integration

MODEL = "fraud"
W1, W2 = dt.date(2026, 1, 5), dt.date(2026, 1, 12)
ROLLBACK_REASON = "on-call: fraud alerts doubled after the 2026-W03 release"


def run_id_for(week: dt.date) -> str:
    return f"scheduled__{week.isoformat()}T01:00:00+00:00"


def ship(store, keys: Keys, week: dt.date) -> str:
    run_id = run_id_for(week)
    version = version_id(week, run_id)
    files = {
        "model.joblib": dumps_model({"stand-in model for": week.isoformat()}),  # the rollback deserializes it
        "canary.parquet": b"PAR1-canary",
        "canary_predictions.json": b"[0.1, 0.9]",
        "gate.json": b'{"passed": true}',
    }
    registry.publish_version(store, keys, version, files, metadata={"week": week.isoformat(), "run_id": run_id})
    result = registry.promote(store, keys, version, week, run_id, f"weekly retrain for {week} passed the gate",
                              registry.dag_run_actor("retrain_fraud", run_id, "scheduler"))
    assert result.status == "promoted"
    return version


@pytest.fixture
def populated(store) -> dict:
    """2 promotions + 1 rollback, under the prefix the CLI reads from the environment."""
    keys = Keys(MODEL, Settings.from_env().prefix)
    v1, v2 = ship(store, keys, W1), ship(store, keys, W2)
    actor = {"type": "manual_rollback", "dag_id": "rollback_fraud", "run_id": "manual__2026-01-20T08:00:00+00:00",
             "user": "alice"}
    result = registry.rollback(store, keys, ROLLBACK_REASON, actor, run_id=actor["run_id"])
    assert result.status == "rolled_back"
    return {"keys": keys, "v1": v1, "v2": v2}


def cli(capsys, *args: str) -> str:
    capsys.readouterr()  # drop anything printed before
    assert main(["registry", *args, "--model", MODEL]) == 0
    return capsys.readouterr().out  # only the output: log lines go to stderr


def test_show_prints_the_slots(populated, store, capsys):
    v1, v2 = populated["v1"], populated["v2"]
    out = cli(capsys, "show")

    slots, _ = registry.read_slots(store, populated["keys"])
    assert out.rstrip("\n") == format_slots(slots).rstrip("\n")
    lines = out.splitlines()
    assert lines[0].split() == ["model:", "fraud", "generation:", "3"]
    champion = next(line for line in lines if line.startswith("champion"))
    previous = next(line for line in lines if line.startswith("previous"))
    assert champion.split() == ["champion", v1, W1.isoformat(), run_id_for(W1)]
    assert previous.split() == ["previous", v2, W2.isoformat(), run_id_for(W2)]
    assert f"last change: rollback {v2} -> {v1}" in out
    assert "by manual_rollback:rollback_fraud/manual__2026-01-20T08:00:00+00:00 (by alice)" in out
    assert f"reason: {ROLLBACK_REASON}" in out


def test_show_json_is_the_slots_object(populated, store, capsys):
    data = json.loads(cli(capsys, "show", "--json"))

    assert data == json.loads(store.get_bytes(populated["keys"].slots()))  # exactly what is stored
    assert data["champion"]["version"] == populated["v1"] and data["previous"]["version"] == populated["v2"]
    assert data["generation"] == 3
    assert data["updated_by"]["action"] == "rollback" and data["updated_by"]["reason"] == ROLLBACK_REASON


def test_history_prints_one_row_per_event(populated, store, capsys):
    v1, v2 = populated["v1"], populated["v2"]
    out = cli(capsys, "history")

    assert out.rstrip("\n") == format_history(registry.history(store, populated["keys"])).rstrip("\n")
    header, rule, *rows = out.rstrip("\n").splitlines()
    assert header.split()[:3] == ["GEN", "TIME", "ACTION"]
    assert set(rule.replace(" ", "")) == {"-"}
    assert len(rows) == 3
    assert rows[0].split()[0] == "0->1" and f"promote   - -> {v1}" in rows[0]
    assert rows[1].split()[0] == "1->2" and f"promote   {v1} -> {v2}" in rows[1]
    assert rows[2].split()[0] == "2->3" and f"rollback  {v2} -> {v1}" in rows[2]
    assert "weekly retrain for 2026-01-05 passed the gate" in rows[0]
    assert "dag_run:retrain_fraud/" + run_id_for(W2) + " (by scheduler)" in rows[1]
    assert "manual_rollback:rollback_fraud/manual__2026-01-20T08:00:00+00:00 (by alice)" in rows[2]
    assert "on-call: fraud alerts doubled" in rows[2]


def test_history_json_lists_every_audit_record(populated, store, capsys):
    v1, v2 = populated["v1"], populated["v2"]
    entries = json.loads(cli(capsys, "history", "--json"))

    assert entries == registry.history(store, populated["keys"])
    assert [(e["action"], e["outcome"], e["from_version"], e["to_version"]) for e in entries] == [
        ("promote", "applied", None, v1),
        ("promote", "applied", v1, v2),
        ("rollback", "applied", v2, v1),
    ]
    assert [(e["generation_before"], e["generation_after"]) for e in entries] == [(0, 1), (1, 2), (2, 3)]
    assert entries[2]["reason"] == ROLLBACK_REASON and entries[2]["actor"]["user"] == "alice"
    assert all(e.get("recorded", True) for e in entries)
    audit_objects = store.list_keys(populated["keys"].audit_prefix())
    assert len(audit_objects) == 3  # one object per event, each listed once


def test_json_stdout_of_a_real_process_is_only_json(populated, store):
    """The installed `retrain` script in its own process: Airflow's log lines (the S3 connection)
    go to stderr, so `--json` output can be piped into a JSON parser."""
    script = Path(sys.executable).parent / "retrain"
    proc = subprocess.run([str(script), "registry", "history", "--model", MODEL, "--json"],
                          capture_output=True, text=True, env=os.environ.copy(), timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == registry.history(store, populated["keys"])


def test_cli_honours_the_prefix_from_the_environment(store, capsys, monkeypatch):
    monkeypatch.setenv("RETRAIN_PREFIX", "teams/risk")
    keys = Keys(MODEL, "teams/risk")
    v1 = ship(store, keys, W1)
    assert keys.slots() == "teams/risk/registry/fraud/slots.json"

    assert json.loads(cli(capsys, "show", "--json"))["champion"]["version"] == v1
    assert [e["to_version"] for e in json.loads(cli(capsys, "history", "--json"))] == [v1]


def test_empty_registry(store, capsys):
    assert cli(capsys, "show").strip() == "no champion yet: nothing has been promoted for this model"
    assert cli(capsys, "history").strip() == "no registry events recorded for this model"
    assert json.loads(cli(capsys, "show", "--json")) is None
    assert json.loads(cli(capsys, "history", "--json")) == []


def test_unknown_model_is_a_clear_error(store, capsys):
    assert main(["registry", "show", "--model", "no_such_model"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: no model config at ") and "no_such_model.yaml" in err
