"""`make demo`: the real weekly DAG over a sequence of synthetic weeks, in order.

Starts a local S3 endpoint (moto) for its own lifetime, lands the scenario's weeks, then runs
`retrain_<model>` once per week with Airflow's in-process `dag.test()` on a project-local
SQLite metadata DB, and prints what each run decided, read back from the run's outcome.json.
Task logs go to .run/demo.log so the summary stays readable.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from contextlib import contextmanager

from retrain_dev.devstack import RUN_DIR, apply_airflow_env, migrate_db


@contextmanager
def _output_to(path):
    """Send everything written to fds 1/2 (Airflow's task logs) to a file; yield the real stdout."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    console = os.fdopen(os.dup(saved_out), "w", buffering=1)
    with open(path, "ab") as log_file:
        os.dup2(log_file.fileno(), 1)
        os.dup2(log_file.fileno(), 2)
        try:
            yield console
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved_out, 1)
            os.dup2(saved_err, 2)
            os.close(saved_out)
            os.close(saved_err)
            console.close()


def run_time_for(week: dt.date, cfg) -> dt.datetime:
    """When the scheduler would run the given data week: the following Monday at the configured hour."""
    import pendulum

    nxt = week + dt.timedelta(days=7)
    return pendulum.datetime(nxt.year, nxt.month, nxt.day, cfg.schedule.hour, cfg.schedule.minute,
                             tz=cfg.schedule.timezone)


def run_weeks(dag, cfg, store, weeks: list[dt.date], conf: dict | None = None) -> list[dict]:
    """Run the DAG once per data week (in order) with dag.test(); return each run's outcome record."""
    from retrain.config import Settings
    from retrain.keys import Keys
    from retrain.storage import ObjectNotFound

    keys = Keys(cfg.name, Settings.from_env().prefix)
    outcomes = []
    for week in weeks:
        run_time = run_time_for(week, cfg)
        # run_after = the scheduled time, so the run id (and so every key) is the same on every replay
        dagrun = dag.test(run_after=run_time, logical_date=run_time, run_conf=conf or {})
        try:
            outcome = store.get_json(keys.run_artifact(week, dagrun.run_id, "outcome.json"))
        except ObjectNotFound:
            outcome = {"outcome": "no outcome recorded", "ok": False, "reason": f"run state {dagrun.state}"}
        outcome["dag_run_state"] = str(dagrun.state)
        outcome["week"] = week.isoformat()
        outcomes.append(outcome)
    return outcomes


def _validation_text(v: dict | None) -> str:
    if v is None:
        return "not run (no retraining)"
    head = f"{'PASSED' if v.get('passed') else 'FAILED'}: {v.get('successful')}/{v.get('total')} checks successful"
    return head + ("" if not v.get("failures") else "; failed: " + ", ".join(v["failures"]))


def _gate_text(g: dict | None) -> str:
    if g is None:
        return "not reached"
    ch = g.get("challenger") or {}
    cp = g.get("champion") or {}
    scores = ", ".join(f"{m} {ch[m]:.3f}" + (f" vs {cp[m]:.3f}" if isinstance(cp.get(m), float) else "")
                       for m in ("roc_auc", "recall", "rmspe") if isinstance(ch.get(m), float))
    if g.get("passed"):
        verdict = "passed (first deployment: minimums only)" if g.get("first_deployment") else "passed vs champion"
    else:
        verdict = "REJECTED: " + "; ".join(g.get("reasons") or [])
    return f"{verdict}" + (f"  [challenger {scores}]" if scores else "")


def format_summary(outcomes: list[dict], notes: dict[str, str]) -> str:
    """One block per week: what the data was, what the triggers said, and what happened."""
    lines = []
    for o in outcomes:
        lines.append(f"{o['week']}  {o.get('outcome', '?').upper():<18} champion: {o.get('champion_after') or '-'}")
        lines.append(f"    data        {notes.get(o['week'], '')}")
        lines.append(f"    trigger     {o.get('trigger') or '?'}: {o.get('trigger_reason') or ''}")
        lines.append(f"    validation  {_validation_text(o.get('validation'))}")
        lines.append(f"    gate        {_gate_text(o.get('gate'))}")
        if not o.get("ok"):
            lines.append(f"    stopped     {o.get('reason')}")
    return "\n".join(lines)


def land_real(store, cfg, weeks: int, stores: int | None = None, say=print) -> tuple[list[dict], list[dt.date]]:
    """Land the reference file's weeks (all of them: the window and the features read up to two
    years back) and return them with the last `weeks` complete weeks to run."""
    import pandas as pd
    from retrain.importers import rossmann as imp

    sales_path, stores_path = imp.reference_files()  # absent -> MissingInputError saying what to do
    sales = pd.read_parquet(sales_path, filters=[("Store", "<=", stores)] if stores else None)
    plan = imp.plan_import(sales)
    for text in plan.warnings():
        say(f"warning: {text}")
    landed = imp.land_import(store, cfg, plan, imp.read_table(stores_path))
    return landed, sorted(plan.weeks)[-weeks:]


def walk_forward_text(outcomes: list[dict], store, cfg) -> str:
    """Each week's RMSPE of the champion in place before it (the trigger's performance check,
    at the configured horizon), and pooled over the weeks' open days with Sales > 0."""
    from retrain.config import Settings
    from retrain.keys import Keys
    from retrain.storage import ObjectNotFound

    keys = Keys(cfg.name, Settings.from_env().prefix)
    lines, sq, n = ["walk-forward RMSPE (champion before each week, open days with Sales > 0):"], 0.0, 0
    for o in outcomes:
        try:
            decision = store.get_json(keys.run_artifact(dt.date.fromisoformat(o["week"]), o["run_id"],
                                                         "decision.json"))
        except (ObjectNotFound, KeyError):
            decision = {}
        signals = decision.get("signals") or {}
        value = ((signals.get("performance") or {}).get("metrics") or {}).get("rmspe")
        rows = signals.get("batch_rows") or 0
        if value is None:
            lines.append(f"  {o['week']}  -      (no champion yet)")
            continue
        sq, n = sq + value * value * rows, n + rows
        lines.append(f"  {o['week']}  {value:.4f}  ({rows} rows)")
    if n:
        lines.append(f"  pooled      {(sq / n) ** 0.5:.4f}  (seed document: 0.098)")
    return "\n".join(lines)


def run_demo(model: str, start: dt.date, weeks: int, scenario: str, rows: int | None = None,
             history_weeks: int = 1, real: bool = False, stores: int | None = None) -> int:
    if real:
        from retrain.importers import rossmann as imp

        if model != "rossmann":
            raise ValueError("--real is for the Rossmann model (real Rossmann sales)")
        imp.reference_files()  # fail before starting anything when the reference data is absent
    apply_airflow_env()
    from retrain.airflow.deadline import off_for_dag_test

    off_for_dag_test()
    RUN_DIR.mkdir(exist_ok=True)
    from retrain_dev.local_s3 import MotoServer, local_env

    s3 = MotoServer(pid_file=RUN_DIR / "demo-moto.pid", log_file=RUN_DIR / "demo-moto.log").start()
    log_path = RUN_DIR / "demo.log"
    try:
        os.environ.update(local_env(s3.endpoint_url, os.environ.get("RETRAIN_BUCKET", "retrain-demo")))
        print(f"local S3 endpoint {s3.endpoint_url} (moto, pid {s3.proc.pid}); bucket {os.environ['RETRAIN_BUCKET']}")
        print(f"Airflow and task logs: {log_path}", flush=True)
        with _output_to(log_path) as console:
            def say(text: str) -> None:
                print(text, file=console, flush=True)

            say("migrating the local Airflow metadata DB (SQLite) ...")
            migrate_db()

            from retrain.config import load_model_config
            from retrain.storage import S3Store

            from retrain_dev.datagen.landing import land_weeks

            cfg = load_model_config(model)
            store = S3Store.from_env()
            store.ensure_bucket()
            if real:
                landed, run_weeks_list = land_real(store, cfg, weeks, stores, say)
                say(f"landed {len(landed)} real weeks ({landed[0]['week']} .. {landed[-1]['week']})")
            else:
                landed = land_weeks(store, cfg, start=start, weeks=weeks, scenario=scenario, rows=rows,
                                    history_weeks=history_weeks)
                say(f"landed {len(landed)} weekly batches ({history_weeks} history + {weeks} scenario '{scenario}')")
                run_weeks_list = [dt.date.fromisoformat(w["week"]) for w in landed if w["scenario_week"] >= 1]
            notes = {w["week"]: w["note"] for w in landed}

            from airflow.dag_processing.dagbag import DagBag

            dagbag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
            if dagbag.import_errors:
                say(f"DAG import errors: {dagbag.import_errors}")
                return 1
            dag = dagbag.dags[cfg.retrain_dag_id]
            say(f"running {cfg.retrain_dag_id} once per week, in order, with dag.test():")
            outcomes = []
            for week in run_weeks_list:
                outcome = run_weeks(dag, cfg, store, [week])[0]
                outcomes.append(outcome)
                say(f"  {week}  {outcome.get('outcome'):<18} {outcome.get('reason', '')[:110]}")
        print()
        print(format_summary(outcomes, notes))
        print()
        if real:
            print(walk_forward_text(outcomes, store, cfg))
            print()
        from retrain import registry
        from retrain.config import Settings
        from retrain.keys import Keys
        from retrain.registry.report import format_history, format_slots

        keys = Keys(cfg.name, Settings.from_env().prefix)
        print(format_slots(registry.read_slots(store, keys)[0]))
        print()
        print(format_history(registry.history(store, keys)))
        unexpected = [o for o in outcomes if o.get("outcome") in ("failed", "incomplete", "no outcome recorded")]
        return 1 if unexpected else 0
    finally:
        s3.stop()
        print(f"stopped the local S3 endpoint (pid {s3.proc.pid})")
