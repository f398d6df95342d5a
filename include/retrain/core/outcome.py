"""What a weekly run amounted to, from its task states and the records its tasks wrote.

Task states say where a run stopped (records from an earlier attempt may still be in S3
after a clear, states are always current); records say why.
"""

from __future__ import annotations

PIPELINE = (
    "evaluate_triggers",
    "validate_data",
    "build_features",
    "train",
    "evaluation_gate",
    "promote",
    "smoke_test",
    "rollback",
)
FAILED = {"failed", "upstream_failed"}


def _validation_summary(v: dict | None) -> dict | None:
    if not v:
        return None
    failures = [r for r in v.get("results", []) if not r.get("success")]
    return {
        "passed": v.get("passed"),
        "total": v.get("total"),
        "successful": v.get("successful"),
        "failed": v.get("failed"),
        "failures": [
            f"[{r.get('severity')}] {r.get('expectation_type') or r.get('name')}"
            + (f" ({r['column']})" if r.get("column") else "")
            for r in failures
        ],
    }


def _gate_summary(g: dict | None) -> dict | None:
    if not g:
        return None
    return {
        "passed": g.get("passed"),
        "first_deployment": g.get("first_deployment"),
        "reasons": g.get("reasons", []),
        "challenger": g.get("challenger"),
        "champion": g.get("champion"),
    }


def summarise(task_states: dict[str, str | None], records: dict[str, dict | None], version: str) -> dict:
    decision = records.get("decision") or {}
    out = {
        "trigger": decision.get("trigger"),
        "trigger_reason": decision.get("reason"),
        "validation": _validation_summary(records.get("validation")),
        "gate": _gate_summary(records.get("gate")),
        "challenger_version": version,
        "batch_check": decision.get("batch_check"),  # the newest batch's raw-batch suite, every week
        "batch_warnings": (decision.get("batch_check") or {}).get("warnings", []),
    }
    failed = [t for t in PIPELINE if task_states.get(t) == "failed"]
    if failed:
        step = failed[0]
        if step == "validate_data" and records.get("validation") and not records["validation"].get("passed"):
            v = out["validation"]
            reason = f"validation failed: {v['failed']} of {v['total']} checks failed: " + "; ".join(v["failures"])
            return {**out, "outcome": "validation_failed", "ok": False, "failed_task": step, "reason": reason}
        if step == "evaluation_gate" and records.get("gate") and not records["gate"].get("passed"):
            reason = "gate rejected the challenger: " + "; ".join(out["gate"]["reasons"])
            return {**out, "outcome": "gate_rejected", "ok": False, "failed_task": step, "reason": reason}
        if step == "smoke_test":
            rb = records.get("rollback") or {}
            smoke = records.get("smoke_test") or {}
            if smoke.get("status") == "rolled_back":  # a cleared re-run after a rollback: still red
                return {**out, "outcome": "rolled_back", "ok": False, "failed_task": step, "reason": smoke["reason"]}
            reason = f"smoke test failed ({smoke.get('reason', 'see task log')}); rollback: {rb.get('status', 'not done')}"
            outcome = "rolled_back" if rb.get("status") in ("rolled_back", "already_rolled_back") else "smoke_test_failed"
            return {**out, "outcome": outcome, "ok": False, "failed_task": step, "reason": reason}
        return {**out, "outcome": "failed", "ok": False, "failed_task": step,
                "reason": f"task {step} failed; see its log"}
    approval = records.get("approval") or {}
    if approval.get("decision") == "rejected" and task_states.get("promote") != "success":
        return {**out, "outcome": "not_approved", "ok": False, "failed_task": None,
                "reason": f"not approved: {approval.get('reason')}; champion unchanged"}
    if task_states.get("skip") == "success":
        return {**out, "outcome": "skipped", "ok": True, "reason": decision.get("reason", "")}
    promotion = records.get("promotion") or {}
    if (records.get("smoke_test") or {}).get("status") == "rolled_back":  # never green after a rollback
        return {**out, "outcome": "rolled_back", "ok": False, "failed_task": "smoke_test",
                "reason": records["smoke_test"].get("reason")}
    if task_states.get("promote") == "success" and promotion.get("status") == "superseded":
        return {**out, "outcome": "superseded", "ok": True, "reason": promotion.get("message", "")}
    if task_states.get("smoke_test") == "success":
        return {**out, "outcome": "promoted", "ok": True,
                "reason": f"{version} promoted ({promotion.get('status')}) and passed its smoke test"}
    if task_states.get("smoke_test") == "skipped" and task_states.get("promote") == "success":
        return {**out, "outcome": "superseded", "ok": True,
                "reason": (records.get("smoke_test") or {}).get("reason", "a newer champion is in place")}
    unfinished = [t for t in PIPELINE if task_states.get(t) in FAILED | {None, "none", "removed"}]
    return {**out, "outcome": "incomplete", "ok": False, "failed_task": unfinished[0] if unfinished else None,
            "reason": f"the run did not reach a final state (task states: {task_states})"}
