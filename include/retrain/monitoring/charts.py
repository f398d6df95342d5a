"""Hand-built inline SVG charts (no JavaScript, no fonts or scripts from anywhere: the page and
the static report work offline). Every string from the data goes through `esc`, so a value like
`<script>` is drawn as text."""

from __future__ import annotations

from html import escape
from urllib.parse import quote

BAND_COLOURS = {"stable": "#d8f0d8", "warn": "#ffe08a", "action": "#f4a09a"}
METRIC_TITLES = {"roc_auc": "ROC-AUC (higher is better)", "recall": "recall (higher is better)",
                 "cost_per_1k": "cost per 1k transactions (lower is better)", "rmspe": "RMSPE (lower is better)"}
PASS, FAIL, LINE = "#3a9a48", "#d0433a", "#2f6fb3"


def esc(value) -> str:
    return escape("" if value is None else str(value), quote=True)


def run_href(dag_id: str | None, run_id: str | None) -> str | None:
    """The Airflow 3 UI page of a DAG run (opened in the top window, not inside the iframe)."""
    if not dag_id or not run_id:
        return None
    return f"/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"


def _link(inner: str, href: str | None) -> str:
    return f'<a href="{esc(href)}" target="_top">{inner}</a>' if href else inner


def _fmt(v) -> str:
    if v is None:
        return "n/a"
    return f"{v:.0f}" if abs(v) >= 1000 else f"{v:.3f}"


def trend_chart(weeks: list[str], metric: str, points: list[dict], rollbacks: list[dict],
                width: int = 760, height: int = 220) -> str:
    """One metric of successive champions over the data weeks: a point per promotion, labelled with
    its trigger, linked to its DAG run; rollbacks as dashed red lines."""
    left, right, top, bottom = 60, 20, 20, 40
    vals = [p["metrics"].get(metric) for p in points if p["metrics"].get(metric) is not None]
    lo, hi = (min(vals), max(vals)) if vals else (0.0, 1.0)
    pad = (hi - lo) * 0.15 or abs(hi) * 0.05 or 0.05
    lo, hi = lo - pad, hi + pad
    xs = {w: left + (i + 0.5) * (width - left - right) / max(1, len(weeks)) for i, w in enumerate(weeks)}

    def y(v: float) -> float:
        return top + (hi - v) / (hi - lo) * (height - top - bottom)

    parts = [f'<svg class="chart" role="img" aria-label="{esc(metric)} trend" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
             f'<text x="4" y="14" class="title">{esc(METRIC_TITLES.get(metric, metric))}</text>',
             f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" stroke="#888"/>']
    for frac in (0.0, 0.5, 1.0):
        v = lo + pad + frac * (hi - lo - 2 * pad)
        parts.append(f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end" class="tick">{esc(_fmt(v))}</text>')
    every = max(1, -(-len(weeks) * 44 // (width - left - right)))  # a label needs ~44 px
    for i, w in enumerate(weeks):
        if i % every == 0:
            parts.append(f'<text x="{xs[w]:.1f}" y="{height - bottom + 14}" text-anchor="middle" '
                         f'class="tick">{esc(w[5:])}</text>')
    for rb in rollbacks:
        x = xs.get(rb.get("week") or "")
        if x is None:
            continue
        x += 6
        title = f"rollback {rb.get('from_version')} -> {rb.get('to_version')}: {rb.get('reason')}"
        parts.append(_link(f'<g class="rollback"><title>{esc(title)}</title><line x1="{x:.1f}" y1="{top}" '
                           f'x2="{x:.1f}" y2="{height - bottom}" stroke="{FAIL}" stroke-dasharray="4 3"/>'
                           f'<text x="{x + 3:.1f}" y="{top + 10}" class="tick" fill="{FAIL}">rollback</text></g>',
                           run_href(rb.get("dag_id"), rb.get("run_id"))))
    coords = [(xs[p["week"]], y(p["metrics"][metric]), p) for p in points
              if p.get("week") in xs and p["metrics"].get(metric) is not None]
    if len(coords) > 1:
        path = " ".join(f"{x:.1f},{yy:.1f}" for x, yy, _ in coords)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{LINE}" stroke-width="1.5"/>')
    for x, yy, p in coords:
        title = (f"{p['version']} ({p['week']}): {metric} {_fmt(p['metrics'][metric])}\n"
                 f"trigger {p.get('trigger')}: {p.get('trigger_reason')}")
        parts.append(_link(f'<g class="point" data-version="{esc(p["version"])}"><title>{esc(title)}</title>'
                           f'<circle cx="{x:.1f}" cy="{yy:.1f}" r="5" fill="{LINE}"/>'
                           f'<text x="{x:.1f}" y="{yy - 9:.1f}" text-anchor="middle" class="label">'
                           f'{esc(p.get("trigger"))}</text></g>', run_href(p.get("dag_id"), p.get("run_id"))))
    parts.append("</svg>")
    return "".join(parts)


def gate_chart(gate: dict, width: int = 760, height: int = 180) -> str:
    """Each gated run as a pass/reject bar, the rolling failure rate as a line, the limit dashed."""
    left, right, top, bottom = 60, 20, 20, 36
    series = gate["series"]
    n = max(1, len(series))
    step = (width - left - right) / n

    def y(v: float) -> float:
        return top + (1 - v) * (height - top - bottom)

    parts = [f'<svg class="chart" role="img" aria-label="gate failure rate" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
             f'<text x="4" y="14" class="title">gate failure rate (last {gate["window"]} gated runs)</text>']
    for v in (0.0, 0.5, 1.0):
        parts.append(f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end" class="tick">{v:.0%}</text>')
    pts = []
    for i, s in enumerate(series):
        x = left + (i + 0.5) * step
        colour = PASS if s["passed"] else FAIL
        title = f"{s['week']}: gate {'passed' if s['passed'] else 'rejected'}; rolling rate {s['rate']:.0%}"
        parts.append(_link(f'<g class="gate-run"><title>{esc(title)}</title><rect x="{x - step * 0.3:.1f}" '
                           f'y="{height - bottom - 8}" width="{step * 0.6:.1f}" height="8" fill="{colour}"/>'
                           f'<text x="{x:.1f}" y="{height - bottom + 14}" text-anchor="middle" class="tick">'
                           f'{esc(s["week"][5:])}</text></g>', run_href(s.get("dag_id"), s.get("run_id"))))
        pts.append(f"{x:.1f},{y(s['rate']):.1f}")
    if pts:
        parts.append(f'<polyline points="{" ".join(pts)}" fill="none" stroke="{LINE}" stroke-width="1.5"/>')
    ly = y(gate["limit"])
    parts.append(f'<line x1="{left}" y1="{ly:.1f}" x2="{width - right}" y2="{ly:.1f}" stroke="{FAIL}" '
                 f'stroke-dasharray="6 4"/><text x="{width - right}" y="{ly - 4:.1f}" text-anchor="end" '
                 f'class="tick" fill="{FAIL}">limit {gate["limit"]:.0%}</text>')
    parts.append("</svg>")
    return "".join(parts)


def drift_heatmap(d: dict, cell_w: int = 56, cell_h: int = 24) -> str:
    """Rows: monitored features (and KS on scores); columns: data weeks; colour: PSI band.
    A cell under its noise floor is drawn faded with a dotted border (the batch is too small to tell)."""
    left, top = 170, 34
    weeks, feats = d["weeks"], d["features"]
    width = left + cell_w * max(1, len(weeks)) + 10
    height = top + cell_h * (len(feats) + 1) + 10
    parts = [f'<svg class="chart" role="img" aria-label="PSI heatmap" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
             f'<text x="4" y="14" class="title">PSI per feature per week (warn &gt; {esc(d.get("psi_warn"))}, '
             f'action &gt; {esc(d.get("psi_action"))}; faded = under the noise floor)</text>']
    for j, w in enumerate(weeks):
        parts.append(f'<text x="{left + (j + 0.5) * cell_w:.1f}" y="{top - 4}" text-anchor="middle" '
                     f'class="tick">{esc(w[5:])}</text>')
    for i, f in enumerate(feats):
        yy = top + i * cell_h
        parts.append(f'<text x="{left - 6}" y="{yy + cell_h * 0.65:.1f}" text-anchor="end" class="tick">{esc(f)}</text>')
        for j, w in enumerate(weeks):
            cell = d["cells"].get(w, {}).get(f)
            if not cell or cell.get("psi") is None:
                continue
            under = cell.get("noise_floor") is not None and cell["psi"] <= cell["noise_floor"]
            colour = BAND_COLOURS.get(cell.get("band"), "#eee")
            style = ' opacity="0.45" stroke="#666" stroke-dasharray="2 2"' if under else ' stroke="#fff"'
            title = (f"{f} {w}: PSI {cell['psi']:.3f} ({cell.get('band')}), noise floor "
                     f"{_fmt(cell.get('noise_floor'))}")
            parts.append(f'<g class="psi-cell"><title>{esc(title)}</title><rect x="{left + j * cell_w}" y="{yy}" '
                         f'width="{cell_w}" height="{cell_h}" fill="{colour}"{style}/><text '
                         f'x="{left + (j + 0.5) * cell_w:.1f}" y="{yy + cell_h * 0.65:.1f}" text-anchor="middle" '
                         f'class="tick">{cell["psi"]:.2f}</text></g>')
    yy = top + len(feats) * cell_h
    parts.append(f'<text x="{left - 6}" y="{yy + cell_h * 0.65:.1f}" text-anchor="end" class="tick">'
                 f'KS on scores (action &gt; {esc(d.get("ks_action"))})</text>')
    for j, w in enumerate(weeks):
        ks = d["ks"].get(w)
        if ks is None:
            continue
        hot = d.get("ks_action") is not None and ks > d["ks_action"]
        parts.append(f'<rect x="{left + j * cell_w}" y="{yy}" width="{cell_w}" height="{cell_h}" '
                     f'fill="{BAND_COLOURS["action" if hot else "stable"]}" stroke="#fff"/><text '
                     f'x="{left + (j + 0.5) * cell_w:.1f}" y="{yy + cell_h * 0.65:.1f}" text-anchor="middle" '
                     f'class="tick">{ks:.2f}</text>')
    parts.append("</svg>")
    return "".join(parts)
