"""Builds the weekly retraining DAG and the on-call rollback DAG for one model config.

Parse-time cost matters (the DAG processor re-imports DAG files constantly): this module
imports only the Airflow SDK, the timetable and the light config module; every task callable
imports pandas / scikit-learn / Great Expectations when it runs.
"""

from __future__ import annotations

import datetime as dt
import functools

import pendulum

from retrain.config import ModelConfig

DEFAULT_ARGS = {
    "retries": 2,  # transient S3 / scheduler hiccups; deterministic failures fail at once
    "retry_delay": dt.timedelta(seconds=30),
    "retry_exponential_backoff": True,
    "max_retry_delay": dt.timedelta(minutes=10),
    "execution_timeout": dt.timedelta(hours=2),
}

WEEKLY_DOC = """
### Weekly retraining of `{name}`

{description}

Every week the **trigger evaluator** compares the newest labeled week with the champion
(PSI per feature with a noise floor for the batch size, KS on the champion's scores,
performance on the new labels, model age). The branch either **skips** (recorded) or runs
validation → features → training → evaluation gate → promotion → smoke test, with an
automatic **rollback** when the smoke test fails. `record_outcome` writes the run's
`outcome.json` and fails the run unless it ended cleanly.

* Config: `include/models/{name}.yaml` · Objects: `{runs_uri}week=<monday>/run=<run id>/` (environment `{environment}`)
* Clearing any task re-runs it on the same keys; promotions are guarded against older weeks.
* On call: trigger `rollback_{name}` to restore the previous champion.
* `record_outcome` also sets the run's note (data week · outcome · champion · why), emails the
  weekly summary and alerts once when the gate rejects more than {max_rate} of the last
  {window} retraining runs.

{backfill}
"""

# The rollback form's checks (JSON-schema patterns; the task checks the same again).
REASON_PATTERN = r"^\s*\S[\s\S]+\S\s*$"
TO_VERSION_PATTERN = r"^(\d{4}-W\d{2}-[0-9a-f]{8})?$"

ROLLBACK_DOC = """
### On-call rollback of `{name}`

Restores a previous model version as champion: verifies the target's checksums, loads it and
replays its canary predictions **before** moving any pointer, swaps champion ← target in one
conditional write, runs the smoke test (and restores the champion from before if it fails) and
records who and why - and every refusal - in the registry's audit log. A target that failed a
smoke test before is refused unless `allow_failed_smoke_test` is ticked.
Leave `to_version` empty to roll back to the previous slot; set `dry_run` to only check.
"""


def _call(fn_name: str, model: str):
    """A picklable-by-reference callable bound to a model name (resolved when the task runs)."""
    from retrain.airflow import tasks

    return functools.partial(getattr(tasks, fn_name), model)


def _start_date(cfg: ModelConfig) -> pendulum.DateTime:
    """schedule.start_date when the scheduler catches up; otherwise a floor that lets Airflow
    create the tasks of any week's run, so a run before schedule.start_date fails loudly in its
    first task instead of succeeding with no task (retrain.core.schedule_range)."""
    if not cfg.schedule.catchup:
        from retrain.core.schedule_range import RUNS_ACCEPTED_FROM

        return pendulum.datetime(*RUNS_ACCEPTED_FROM.timetuple()[:3], tz=cfg.schedule.timezone)
    return pendulum.parse(cfg.schedule.start_date, tz=cfg.schedule.timezone)


def _deployment_doc(cfg: ModelConfig) -> dict[str, str]:
    """The DAG docs' deployment facts (bucket, prefix, environment, limits), not placeholders."""
    from retrain.airflow.notes import BACKFILL_DOC
    from retrain.config import Settings
    from retrain.keys import Keys
    from retrain.monitoring.gate_rate import MonitoringConfig

    settings, monitoring = Settings.from_env(), MonitoringConfig.from_model(cfg)
    return {
        "runs_uri": f"s3://{settings.bucket}/{Keys(cfg.name, settings.prefix)._k('runs', cfg.name)}/",
        "environment": settings.environment,
        "max_rate": f"{monitoring.gate_failure_max_rate:.0%}",
        "window": str(monitoring.gate_failure_window),
        "backfill": BACKFILL_DOC.format(timezone=cfg.schedule.timezone),
    }


def build_weekly_dag(cfg: ModelConfig):
    from airflow.providers.standard.operators.python import PythonOperator
    from airflow.sdk import DAG, Param, TriggerRule

    from retrain.airflow.alerts import failure_notifier
    from retrain.airflow.assets import champion_alias
    from retrain.airflow.branching import PathBranchOperator
    from retrain.airflow.deadline import weekly_deadline_alert
    from retrain.timetable import WeeklyTimetable

    name = cfg.name
    with DAG(
        dag_id=cfg.retrain_dag_id,
        description=f"Weekly safe retraining of the {name} model",
        schedule=WeeklyTimetable.from_schedule(cfg.schedule),
        start_date=_start_date(cfg),
        catchup=cfg.schedule.catchup,
        max_active_runs=1,
        rerun_with_latest_version=True,  # the installed package is the only code there is (README)
        default_args={**DEFAULT_ARGS, "owner": cfg.owner},
        tags=list(cfg.tags) or [name],
        doc_md=WEEKLY_DOC.format(name=name, description=cfg.description, **_deployment_doc(cfg)),
        deadline=weekly_deadline_alert(cfg),  # finished by schedule.deadline (retrain.airflow.deadline)
        params={
            "force": Param(
                False,
                type="boolean",
                title="Force retraining",
                description="Retrain whatever the triggers say (the evaluation gate still decides promotion).",
            ),
            "data_version": Param(
                None,
                type=["null", "string"],
                title="Retrain on an earlier data version",
                description="A model version id (e.g. 2015-W23-702e3f32) or the data content hash of one "
                "(run_log.json data_window.content_hash): the run trains on exactly that version's inputs "
                "(its verified feature files and validation record) instead of this week's landing data. "
                "Empty: this week's data. The evaluation gate still decides promotion.",
            ),
        },
    ) as dag:
        evaluate = PythonOperator(task_id="evaluate_triggers", python_callable=_call("evaluate_triggers", name),
                                  doc_md="Raw-batch suite on the newest batch (every week, skip weeks too), "
                                  "then drift, score drift, performance decay and model age → decision.json")
        branch = PathBranchOperator(task_id="branch_on_decision", python_callable=_call("choose_branch", name),
                                    retries=0, doc_md="Follows the decision; skips the whole path not taken at once")
        skip = PythonOperator(task_id="skip", python_callable=_call("skip", name),
                              doc_md="Records why this week needs no retraining")
        validate = PythonOperator(task_id="validate_data", python_callable=_call("validate_data", name),
                                  doc_md="Great Expectations suite on the batch + training-window checks")
        features = PythonOperator(task_id="build_features", python_callable=_call("build_features", name))
        train = PythonOperator(task_id="train", python_callable=_call("train", name))
        gate = PythonOperator(task_id="evaluation_gate", python_callable=_call("evaluation_gate", name),
                              doc_md="Challenger vs champion on the same holdout → gate.json")
        promote = PythonOperator(task_id="promote", python_callable=_call("promote", name),
                                 outlets=[champion_alias(name)])
        smoke = PythonOperator(task_id="smoke_test", python_callable=_call("smoke_test", name))
        rollback = PythonOperator(
            task_id="rollback",
            python_callable=_call("rollback", name),
            trigger_rule=TriggerRule.ONE_FAILED,
            outlets=[champion_alias(name)],
            doc_md="Restores the previous champion when the smoke test of this run's promotion failed",
        )
        outcome = PythonOperator(
            task_id="record_outcome",
            python_callable=_call("record_outcome", name),
            trigger_rule=TriggerRule.ALL_DONE,
            on_failure_callback=failure_notifier(cfg),
            doc_md="Writes outcome.json; fails (and alerts once) unless the run ended cleanly",
        )

        evaluate >> branch >> [validate, skip]
        validate >> features >> train >> gate
        if cfg.promotion.approval == "required":  # a human approves the gate's pass (retrain.airflow.approval)
            from retrain.airflow.approval import build_approval_operator

            gate >> build_approval_operator(cfg) >> promote
        else:
            gate >> promote
        promote >> smoke >> rollback
        [skip, rollback] >> outcome
    return dag


def build_rollback_dag(cfg: ModelConfig):
    from airflow.providers.standard.operators.python import PythonOperator
    from airflow.sdk import DAG, Param

    from retrain.airflow.alerts import failure_notifier
    from retrain.airflow.assets import champion_alias

    name = cfg.name
    with DAG(
        dag_id=cfg.rollback_dag_id,
        description=f"On-call rollback of the {name} champion",
        schedule=None,
        start_date=_start_date(cfg),
        catchup=False,
        max_active_runs=1,
        rerun_with_latest_version=True,  # the installed package is the only code there is (README)
        default_args={**DEFAULT_ARGS, "owner": cfg.owner, "retries": 1},
        tags=[*(cfg.tags or [name]), "rollback"],
        doc_md=ROLLBACK_DOC.format(name=name),
        params={
            "reason": Param(
                type="string",
                minLength=3,
                pattern=REASON_PATTERN,  # at least 3 characters once leading/trailing blanks are stripped
                title="Reason",
                description="Why the champion is rolled back (recorded in the registry's audit log; "
                "at least 3 characters besides blanks).",
            ),
            "to_version": Param(
                None,
                type=["null", "string"],
                pattern=TO_VERSION_PATTERN,
                title="Target version",
                description="Version id to restore (e.g. 2026-W05-1a2b3c4d). Empty: the previous slot.",
            ),
            "allow_failed_smoke_test": Param(
                False,
                type="boolean",
                title="Allow a version that failed a smoke test",
                description="The target is refused if the audit log shows it failed a smoke test; tick to "
                "override (recorded in the audit log). Its canary is replayed before the swap either way.",
            ),
            "dry_run": Param(
                False,
                type="boolean",
                title="Dry run",
                description="Only verify and report what would change; move no pointer.",
            ),
        },
    ) as dag:
        PythonOperator(
            task_id="rollback",
            python_callable=_call("manual_rollback", name),
            # a refusal fails at once (deterministic); a transient S3 error is retried: a re-run after
            # the swap finds "already rolled back" and changes nothing
            retries=1,
            on_failure_callback=failure_notifier(cfg),
            outlets=[champion_alias(name)],
        ) >> PythonOperator(
            task_id="smoke_test",
            python_callable=_call("manual_rollback_smoke_test", name),
            # the restored champion failing its smoke test is an incident too; a successful
            # on-call rollback is a deliberate human action and sends no alert
            on_failure_callback=failure_notifier(cfg),
        )
    return dag


SCORING_DOC = """
### Scoring with the `{name}` champion

Runs whenever the `{name}_champion` asset changes (a promotion or a rollback) and by hand.
Loads the champion as serving does (checksums verified before unpickling), scores the newest
landed batch and writes `predictions/{name}/week=<monday>/version=<version>/` with the version
that produced every row.
"""


def build_scoring_dag(cfg: ModelConfig):
    from airflow.providers.standard.operators.python import PythonOperator
    from airflow.sdk import DAG

    from retrain.airflow.alerts import failure_notifier
    from retrain.airflow.assets import champion_asset

    name = cfg.name
    with DAG(
        dag_id=cfg.scoring_dag_id,
        description=f"Scores the newest landed batch whenever the {name} champion changes",
        schedule=[champion_asset(name)],
        start_date=_start_date(cfg),
        catchup=False,
        max_active_runs=1,
        rerun_with_latest_version=True,  # the installed package is the only code there is (README)
        default_args={**DEFAULT_ARGS, "owner": cfg.owner},
        tags=[*(cfg.tags or [name]), "scoring"],
        doc_md=SCORING_DOC.format(name=name),
    ) as dag:
        PythonOperator(task_id="score", python_callable=_call("score_champion", name),
                       inlets=[champion_asset(name)], on_failure_callback=failure_notifier(cfg))
    return dag
