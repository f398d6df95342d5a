"""One self-contained HTML document per model: the Airflow UI page and `retrain report` share it.

No external resource at all (inline CSS, inline SVG, a few lines of inline JS for the date
lookup), so it works offline and from a file. Values from the data are escaped everywhere; the
date lookup's data travels as JSON inside <script type="application/json"> with `<` escaped, and
the script writes answers with textContent, never innerHTML.
"""

from __future__ import annotations

import json

from retrain.monitoring import views
from retrain.monitoring.charts import drift_heatmap, esc, gate_chart, run_href, trend_chart

DRIFT_WEEKS = 26  # columns of the heatmap

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:16px;color:#222}
h1{font-size:20px;margin:0 0 4px} h2{font-size:16px;margin:22px 0 6px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:6px 0} td,th{border:1px solid #ddd;padding:3px 6px;text-align:left;
vertical-align:top} th{background:#f4f4f4} .chart{display:block;margin:6px 0}
.chart .title{font-weight:600;font-size:12px} .chart .tick{font-size:10px} .chart .label{font-size:10px;fill:#2f6fb3}
.bad{color:#b3261e;font-weight:600} .ok{color:#2e7d32} .muted{color:#666} code{background:#f4f4f4;padding:0 3px}
nav a{margin-right:10px} .multiples .chart{display:inline-block;margin-right:8px}
"""

LOOKUP_JS = """
(function(){
  var data = JSON.parse(document.getElementById('champion-timeline').textContent);
  var input = document.getElementById('asof'), out = document.getElementById('asof-answer');
  function answer(){
    var day = input.value, found = null;
    for (var i = 0; i < data.length; i++) {
      if (data[i].effective && data[i].effective.slice(0, 10) <= day) { found = data[i]; }
    }
    out.textContent = !day ? '' : (found
      ? 'On ' + day + ' the champion was ' + found.version + ' (' + found.action + ' effective ' +
        found.effective + '; why: ' + found.why + ')'
      : 'On ' + day + ' no model was in production.');
  }
  input.addEventListener('change', answer); input.addEventListener('input', answer); answer();
})();
"""


def _json_script(element_id: str, data) -> str:
    text = json.dumps(data, default=str).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f'<script type="application/json" id="{esc(element_id)}">{text}</script>'


def _run_link(text, dag_id, run_id) -> str:
    href = run_href(dag_id, run_id)
    return f'<a href="{esc(href)}" target="_top">{esc(text)}</a>' if href else esc(text)


def _trend_section(index: dict, metrics: tuple[str, ...]) -> str:
    t = views.trend(index, metrics)
    weeks = [r["week"] for r in views.runs(index)] or [p["week"] for p in t["points"]]
    weeks = sorted(set(weeks) | {p["week"] for p in t["points"] if p.get("week")})
    charts = "".join(trend_chart(weeks, m, t["points"], t["rollbacks"], width=460 if len(metrics) > 1 else 760)
                     for m in metrics)
    rows = "".join(
        f'<tr class="promotion"><td>{esc(p["week"])}</td><td>{_run_link(p["version"], p["dag_id"], p["run_id"])}</td>'
        f'<td class="trigger">{esc(p["trigger"])}</td><td>{esc(p["trigger_reason"])}</td>'
        + "".join(f"<td>{esc(_num(p['metrics'].get(m)))}</td>" for m in metrics) + "</tr>"
        for p in t["points"])
    rb = "".join(f'<tr class="rollback"><td>{esc(r["week"])}</td><td>{esc(r["from_version"])} &rarr; '
                 f'{esc(r["to_version"])}</td><td colspan="2">{_run_link(r["reason"], r["dag_id"], r["run_id"])}'
                 f"</td></tr>" for r in t["rollbacks"])
    head = "".join(f"<th>{esc(m)}</th>" for m in metrics)
    return (f'<h2 id="trend">Champion metric trend</h2><div class="multiples">{charts}</div><table id="promotions"><tr><th>data week</th>'
            f"<th>version (DAG run)</th><th>trigger</th><th>trigger reason</th>{head}</tr>{rows}</table>"
            + (f'<table id="rollbacks"><tr><th>week</th><th>rollback</th><th colspan="2">reason</th></tr>{rb}</table>'
               if rb else '<p class="muted">No rollbacks.</p>'))


def _num(v):
    return "n/a" if v is None else (f"{v:.0f}" if abs(v) >= 1000 else f"{v:.4f}")


def _gate_section(index: dict, window: int, limit: float) -> str:
    g = views.gate_failure_rate(index, window, limit)
    if g["rate"] is None:
        return '<h2 id="gate">Gate failure rate</h2><p class="muted">No run has reached the gate yet.</p>'
    cls = "bad" if g["above_limit"] else "ok"
    rej = "".join(f'<li>{_run_link(r["week"], r["dag_id"], r["run_id"])}: {esc("; ".join(r["reasons"]))}</li>'
                  for r in g["recent_rejections"])
    return (f'<h2 id="gate">Gate failure rate</h2><p id="gate-rate" class="{cls}" data-rate="{g["rate"]:.6f}">'
            f'{g["rejected"]} of {g["runs"]} gated runs rejected = {g["rate"]:.0%} (limit {g["limit"]:.0%}'
            f'{", ABOVE THE LIMIT" if g["above_limit"] else ""})</p>{gate_chart(g)}'
            f'<h3>Recent rejections</h3><ul id="rejections">{rej or "<li>none</li>"}</ul>')


def _drift_section(index: dict) -> str:
    d = views.drift(index)
    if not d["weeks"]:
        return '<h2 id="drift">Drift</h2><p class="muted">No drift measured yet (no champion to compare with).</p>'
    shown = {**d, "weeks": d["weeks"][-DRIFT_WEEKS:]}
    more = len(d["weeks"]) - len(shown["weeks"])
    return (f'<h2 id="drift">Drift (PSI per feature, KS on scores)</h2>{drift_heatmap(shown)}'
            + (f'<p class="muted">The last {DRIFT_WEEKS} weeks; {more} earlier weeks in the JSON endpoint.</p>'
               if more else ""))


def _validation_section(index: dict, weeks: int = 12) -> str:
    blocks = []
    for v in views.validation_by_week(index)[:weeks]:
        status = esc(v.get("status") or ("passed" if v.get("passed") else "FAILED"))
        rows = "".join(
            f'<tr><td>{esc(f["severity"])}</td><td>{esc(f["expectation"])}</td><td>{esc(f["column"])}</td>'
            f'<td>{esc(f["unexpected_count"])}</td><td class="values">{esc(", ".join(str(x) for x in f["examples"]))}'
            f'</td><td>{esc(f["observed"])}</td></tr>' for f in v["failures"])
        table = (f"<table><tr><th>severity</th><th>expectation</th><th>column</th><th>unexpected</th>"
                 f"<th>offending values</th><th>observed</th></tr>{rows}</table>" if rows else "")
        blocks.append(f'<div class="validation" data-week="{esc(v["week"])}"><h3>'
                      f'{_run_link(v["week"], v["dag_id"], v["run_id"])}: {status} '
                      f'({esc(v.get("failed"))} of {esc(v.get("total"))} checks failed)</h3>{table}</div>')
    body = "".join(blocks) or '<p class="muted">No validation report yet.</p>'
    return f'<h2 id="validation">Latest validation report per week</h2>{body}'


def _registry_section(index: dict, slots: dict | None) -> str:
    champ = (slots or {}).get("champion") or {}
    prev = (slots or {}).get("previous") or {}
    timeline = views.champion_timeline(index)
    hist = "".join(f'<tr><td>{esc(c["effective"])}</td><td>{esc(c["action"])}</td><td>{esc(c["from_version"])}'
                   f'</td><td>{esc(c["version"])}</td><td>{_run_link(c["why"], c["dag_id"], c["run_id"])}</td></tr>'
                   for c in reversed(timeline))
    refused = [e for e in views.events(index) if e.get("outcome") != "applied"]
    ref = "".join(f'<tr><td>{esc(e.get("at"))}</td><td>{esc(e.get("action"))}</td><td>{esc(e.get("to_version"))}'
                  f'</td><td>{esc(e.get("message") or e.get("reason"))}</td></tr>' for e in refused[-10:])
    return (f'<h2 id="registry">Registry</h2><table id="slots"><tr><th>slot</th><th>version</th><th>week</th></tr>'
            f'<tr><td>champion</td><td id="champion">{esc(champ.get("version") or "none")}</td>'
            f'<td>{esc(champ.get("week"))}</td></tr><tr><td>previous</td><td id="previous">'
            f'{esc(prev.get("version") or "none")}</td><td>{esc(prev.get("week"))}</td></tr></table>'
            f'<p><label>What was in production on <input type="date" id="asof"></label> '
            f'<span id="asof-answer" class="answer"></span></p>'
            f'<table id="history"><tr><th>effective</th><th>change</th><th>from</th><th>to</th><th>why</th></tr>'
            f'{hist}</table>'
            + (f'<h3>Refused registry operations</h3><table><tr><th>at</th><th>action</th><th>version</th>'
               f'<th>message</th></tr>{ref}</table>' if ref else "")
            + _json_script("champion-timeline", timeline))


def render_page(model: str, family: str, index: dict, slots: dict | None, *, window: int = views.GATE_WINDOW,
                limit: float = views.GATE_LIMIT, nav: list[str] | None = None, note: str = "",
                airflow_url: str = "") -> str:
    """The whole page for one model; DAG run links are relative to the Airflow UI unless
    `airflow_url` (a static report opened from a file) says where it is."""
    metrics = views.TREND_METRICS.get(family, ())
    n_runs = len(index.get("runs") or {})
    links = "".join(f'<a href="{esc(m)}">{esc(m)}</a>' for m in nav or [])
    html = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Model retraining: {esc(model)}</title>'
        f"<style>{CSS}</style></head><body>"
        + (f"<nav>{links}</nav>" if links else "")
        + f"<h1>Model retraining: {esc(model)}</h1><p class=\"muted\">{n_runs} recorded runs. {esc(note)}</p>"
        + _trend_section(index, metrics) + _gate_section(index, window, limit) + _drift_section(index)
        + _validation_section(index) + _registry_section(index, slots)
        + f"<script>{LOOKUP_JS}</script></body></html>"
    )
    if airflow_url:
        html = html.replace('href="/dags/', f'href="{esc(airflow_url.rstrip("/"))}/dags/')
    return html
