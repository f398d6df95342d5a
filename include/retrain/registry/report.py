"""Human and JSON renderings of the registry for the CLI (`retrain registry show|history`).

Pure functions of what `retrain.registry.read_slots` / `retrain.registry.history` return; they
accept either the `Slots` dataclass or its dict form, so they also render raw slots.json content.
"""

from __future__ import annotations

import json
from typing import Any

_MAX_CELL = 60


def _slots_dict(slots: Any) -> dict[str, Any] | None:
    if slots is None:
        return None
    if hasattr(slots, "to_dict"):
        return slots.to_dict()
    return dict(slots)


def describe_actor(actor: Any) -> str:
    """One short string for who/what acted: dag_run:<dag>/<run> (by <who>), cli:<user>, ..."""
    if not isinstance(actor, dict):
        return "-" if actor is None else str(actor)
    kind = str(actor.get("type", "?"))
    if actor.get("dag_id") or kind.endswith(("dag_run", "rollback")):
        text = f"{kind}:{actor.get('dag_id', '?')}/{actor.get('run_id', '?')}"
        who = actor.get("triggered_by") or actor.get("user")
        return f"{text} (by {who})" if who else text
    if actor.get("user"):
        return f"{kind}:{actor['user']}"
    rest = {k: v for k, v in actor.items() if k != "type" and v is not None}
    return f"{kind}:{json.dumps(rest, sort_keys=True)}" if rest else kind


def _cell(value: Any, limit: int = _MAX_CELL) -> str:
    text = "-" if value is None or value == "" else str(value)
    text = " ".join(text.split())  # one line per row
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines) + "\n"


def format_slots(slots: Any) -> str:
    """The champion/previous slots as a small table plus the last change."""
    data = _slots_dict(slots)
    if data is None:
        return "no champion yet: nothing has been promoted for this model\n"
    rows = []
    for name in ("champion", "previous"):
        slot = data.get(name) or {}
        rows.append([name, _cell(slot.get("version")), _cell(slot.get("week")), _cell(slot.get("run_id"))])
    out = f"model: {data.get('model')}   generation: {data.get('generation')}\n\n"
    out += _table(["SLOT", "VERSION", "WEEK", "TRAINED BY RUN"], rows)
    ub = data.get("updated_by") or {}
    if ub:
        out += (
            f"\nlast change: {ub.get('action', '?')} {_cell(ub.get('from_version'))} -> "
            f"{_cell(ub.get('to_version'))} at {_cell(ub.get('at'))} by {describe_actor(ub.get('actor'))}\n"
            f"reason: {_cell(ub.get('reason'), 200)}\n"
        )
    return out


def format_slots_json(slots: Any) -> str:
    return json.dumps(_slots_dict(slots), indent=2, sort_keys=True) + "\n"


def format_history(entries: list[dict[str, Any]]) -> str:
    """The audit log, oldest first: generation, time, action, from -> to, reason, actor."""
    if not entries:
        return "no registry events recorded for this model\n"
    rows = []
    for e in entries:
        gen_before, gen_after = e.get("generation_before"), e.get("generation_after")
        gen = f"{gen_before}->{gen_after}" if gen_before != gen_after else f"{gen_after} (seen)"
        action = str(e.get("action", "?"))
        if e.get("outcome") == "refused":
            action += " [refused]"
        if e.get("recorded") is False:
            action += " [not yet in audit log]"
        rows.append([
            gen,
            _cell(e.get("at")),
            action,
            f"{_cell(e.get('from_version'))} -> {_cell(e.get('to_version'))}",
            _cell(e.get("reason")),
            _cell(describe_actor(e.get("actor")), 100),
        ])
    return _table(["GEN", "TIME", "ACTION", "FROM -> TO", "REASON", "ACTOR"], rows)


def format_history_json(entries: list[dict[str, Any]]) -> str:
    return json.dumps(list(entries), indent=2, sort_keys=True) + "\n"
