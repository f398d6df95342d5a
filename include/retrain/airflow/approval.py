"""Optional human approval between evaluation_gate and promote (`promotion.approval: required`).

Airflow's human-in-the-loop ApprovalOperator asks the approver (Required Actions in the UI, or
the HITL REST API) with the gate record as the body: challenger vs champion per metric and the
gate's reasons. "Approve" lets promote run; "Reject" or no answer within
`promotion.approval_timeout_hours` (the default option is Reject) skips promote and the smoke
test, and record_outcome records "not_approved" (run failed, alerted once, champion untouched).
Backfill runs never wait: a past week cannot promote over a newer champion anyway, so the step
records "not required (backfill)" and promote decides as usual. The decision is kept in the run's
`approval.json`.
"""

from __future__ import annotations

import datetime as dt

APPROVE, REJECT = "Approve", "Reject"


def approval_body(gate: dict) -> str:
    """Markdown for the approver: the gate's verdict, metrics side by side, and every reason."""
    challenger, champion = gate.get("challenger") or {}, gate.get("champion") or {}
    lines = [
        f"**Challenger** `{gate.get('challenger_version')}` vs **champion** `{gate.get('champion_version') or '(none)'}`"
        f" on the same holdout ({gate.get('holdout_rows')} rows), week {gate.get('week')}.",
        "",
        "| metric | challenger | champion |",
        "|---|---|---|",
    ]
    for metric in sorted(challenger):
        ch, cp = challenger.get(metric), champion.get(metric)
        lines.append(f"| {metric} | {_num(ch)} | {_num(cp)} |")
    verdict = "first deployment (absolute minimums only)" if gate.get("first_deployment") else "passed vs champion"
    lines += ["", f"Gate: **{'passed' if gate.get('passed') else 'REJECTED'}** ({verdict})."]
    lines += [f"- {r}" for r in gate.get("reasons") or []]
    return "\n".join(lines)


def _num(value) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value if value is not None else "-")


def decision_record(event: dict, timeout_hours: float) -> dict:
    """approval.json from the HITL response (a timeout answers with the default, Reject, and no user)."""
    chosen = (event.get("chosen_options") or [None])[0]
    at = event.get("responded_at")
    timed_out = bool(event.get("timedout")) or (event.get("responded_by_user") is None and chosen == REJECT)
    record = {
        "decision": "approved" if chosen == APPROVE else "rejected",
        "chosen": chosen,
        "by": event.get("responded_by_user"),
        "at": at.isoformat() if isinstance(at, dt.datetime) else at,
        "timed_out": timed_out,
    }
    if chosen != APPROVE:
        record["reason"] = (f"no answer within {timeout_hours:g} h (counts as rejected)" if timed_out
                            else f"rejected by {_user(record['by'])}")
    return record


def _user(user) -> str:
    if isinstance(user, dict):
        return str(user.get("name") or user.get("id") or user)
    return str(user)


def build_approval_operator(cfg):
    """The approval task for the weekly DAG (imports the standard provider only when required)."""
    from airflow.providers.standard.operators.hitl import ApprovalOperator

    class PromotionApprovalOperator(ApprovalOperator):
        """ApprovalOperator whose body is the run's gate record, which skips backfills and records
        the decision in approval.json."""

        def execute(self, context):
            from retrain.airflow.tasks import steps_for

            steps = steps_for(cfg.name, context)
            if "backfill" in str(getattr(context["dag_run"], "run_type", "")).lower():
                record = {"decision": "not_required", "reason": "backfill runs never wait for a human"}
                steps.store.put_json(steps.ctx.artifact("approval.json"), {**steps.ctx.describe(), **record})
                return record
            gate = steps.store.get_json(steps.ctx.artifact("gate.json"))
            self.body = approval_body(gate)
            self.subject = f"Promote {gate.get('challenger_version')} as the {cfg.name} champion?"
            return super().execute(context)

        def execute_complete(self, context, event):
            from retrain.airflow.tasks import steps_for

            steps = steps_for(cfg.name, context)
            record = decision_record(event, cfg.promotion.approval_timeout_hours) if "error" not in event else {
                "decision": "rejected", "timed_out": event.get("error_type") == "timeout",
                "reason": str(event.get("error"))}
            steps.store.put_json(steps.ctx.artifact("approval.json"), {**steps.ctx.describe(), **record})
            return super().execute_complete(context=context, event=event)

    return PromotionApprovalOperator(
        task_id="approve_promotion",
        subject=f"Promote the new {cfg.name} challenger?",
        body="(the evaluation gate record is shown when the run reaches this step)",
        defaults=REJECT,  # no answer in time = not approved
        response_timeout=dt.timedelta(hours=cfg.promotion.approval_timeout_hours),
        retries=0,
        doc_md="Human approval of the gate's pass (promotion.approval: required); Reject or no answer "
               "skips the promotion",
    )
