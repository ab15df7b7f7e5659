"""HTML of the Roboflow view (server-rendered: it loads in the Airflow UI's iframe with no build step).

Every value is escaped; links are only the ones the pipeline itself produced (job URL) or this view's
own pages, so nothing from outside can inject markup or navigate the page elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from html import escape
from typing import Any
from urllib.parse import quote, urlencode

from include.roboflow_batch.webui.runs import STEP_TASKS, RunView
from include.roboflow_batch.webui.svg import format_value, sparkline
from include.roboflow_batch.webui.trends import pipeline_trends

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:16px;color:#1f2937}
h1{font-size:20px;margin:0 0 12px}h2{font-size:16px;margin:20px 0 6px}
table{border-collapse:collapse;width:100%;margin-bottom:8px}
th,td{border-bottom:1px solid #e5e7eb;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f3f4f6;font-weight:600}.num{text-align:right}
.state{padding:1px 6px;border-radius:8px;background:#e5e7eb}
.state-success,.state-succeeded{background:#bbf7d0}.state-failed{background:#fecaca}
.state-running{background:#bfdbfe}.muted{color:#6b7280}
.state-over-budget,.state-rejected,.state-timed-out,.state-warning{background:#fde68a}
.state-dry-run,.state-ok{background:#bbf7d0}
dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px}
dt{font-weight:600}
.trends{display:flex;gap:18px;flex-wrap:wrap;margin:4px 0 8px}
.trend{font-size:12px}.trend .latest{font-weight:600}
.notice{padding:6px 10px;border-radius:6px;background:#ede9fe}
form.repair button{font:inherit;padding:4px 12px;border:1px solid #6d28d9;border-radius:6px;
background:#8b5cf6;color:#fff;cursor:pointer}
"""


def _cell(value: Any) -> str:
    return escape("—" if value is None else str(value))


def _counts(counts: Mapping[str, int]) -> str:
    if not counts:
        return '<span class="muted">none</span>'
    return "<br>".join(f"{escape(str(kind))}: {int(n)}" for kind, n in sorted(counts.items()))


def _state(state: str) -> str:
    slug = escape(state.replace(" ", "-"))
    return f'<span class="state state-{slug}" data-state="{escape(state)}">{escape(state)}</span>'


def _safe_http(url: str | None) -> str | None:
    return url if url and url.startswith(("https://", "http://")) else None


def run_link(base: str, run: RunView) -> str:
    return f"{base}/runs/{quote(run.dag_id, safe='')}/{quote(run.run_id, safe='')}"


def _file_link(base: str, run: RunView, kind: str, label: str) -> str:
    query = urlencode({"dag_id": run.dag_id, "run_id": run.run_id})
    return f'<a class="{kind}-link" href="{escape(base)}/{kind}?{escape(query)}">{escape(label)}</a>'


def job_cell(run: RunView) -> str:
    url = _safe_http(run.job_url)
    job = (
        f'<a class="job-link" href="{escape(url)}" target="_blank" rel="noopener">{escape(run.job_id)}</a>'
        if url and run.job_id
        else _cell(run.job_id)
    )
    return job


def progress_cell(run: RunView) -> str:
    parts = [_state(run.job_state)]
    if run.progress:
        p = run.progress
        text = (
            f"stage {p.get('stage') or 'starting'}, tasks {p.get('tasks_done')}/{p.get('tasks_total')} done"
        )
        if p.get("tasks_failed"):
            text += f", {p['tasks_failed']} failed"
        parts.append(f'<div class="progress">{escape(text)}</div>')
    return "".join(parts)


def results_cells(base: str, run: RunView) -> str:
    if not run.manifest_uri:
        return '<td class="muted">—</td><td class="muted">—</td>'
    rows = f"{run.result_rows} rows" if run.result_rows is not None else "results"
    check = "" if run.reconciled else ' <span class="state state-failed">not reconciled</span>'
    return (
        f"<td>{_file_link(base, run, 'results', rows)}{check}</td>"
        f"<td>{_file_link(base, run, 'manifest', 'manifest.json')}</td>"
    )


RUN_HEADERS = (
    "Run", "Window", "State", "Found", "Skipped", "Staged", "Failed", "Failures by type", "Job",
    "Job state", "Spend", "Results", "Manifest",
)  # fmt: skip


def _credits(value: Any) -> str:
    return "—" if not isinstance(value, int | float) else f"{value:.4g} cr"


def _seconds(value: Any) -> str:
    return "—" if not isinstance(value, int | float) else f"{value:,.1f} s"


def spend_cell(run: RunView) -> str:
    """Estimate, ceiling and what was used, in one cell (credits: Roboflow credits)."""
    spend = run.spend
    if not spend:
        return '<td class="spend muted">—</td>'
    decision = str(spend.get("decision") or "")
    lines = [_state(decision)] if decision not in ("within-budget", "approved") else []
    if decision == "approved":
        lines.append(f'<span class="state">approved {_credits(spend.get("approved_credits"))}</span>')
    lines.append(f"est. {_credits(spend.get('estimate_credits'))}")
    if spend.get("ceiling_seconds") is not None:
        lines.append(f"ceiling {_seconds(spend.get('ceiling_seconds'))}")
    if spend.get("credits") is not None:
        lines.append(f"used {_credits(spend.get('credits'))} ({_seconds(spend.get('machine_seconds'))})")
    if spend.get("stopped_by_ceiling"):
        lines.append('<span class="state state-failed">stopped by its ceiling</span>')
    return f'<td class="spend">{"<br>".join(lines)}</td>'


def spend_section(run: RunView) -> str:
    """The run tab's spending: estimate, ceiling, measured, the budgets, and a dry run's plan."""
    spend = run.spend
    if not spend:
        return ""
    items = [
        ("Decision", _state(str(spend.get("decision")))),
        ("Objects", _cell(spend.get("objects"))),
        (
            "Estimate",
            f"{_seconds(spend.get('estimate_seconds'))} = {_credits(spend.get('estimate_credits'))} "
            f'<span class="muted">{_cell(spend.get("basis"))}</span>',
        ),
        ("Ceiling (processingTimeoutSeconds)", _seconds(spend.get("ceiling_seconds"))),
        ("Measured", f"{_seconds(spend.get('machine_seconds'))} = {_credits(spend.get('credits'))}"),
        ("Plan", _cell(spend.get("message"))),
    ]
    limits = (
        "".join(
            f'<tr class="budget"><td>{_cell(limit.get("name"))}</td>'
            + "".join(
                f'<td class="num">{_credits(limit.get(k))}</td>' for k in ("budget", "spent", "remaining")
            )
            + "</tr>"
            for limit in spend.get("limits") or []
            if limit.get("period")
        )
        or '<tr><td colspan="4" class="muted">no day or month budget set</td></tr>'
    )
    html = (
        '<h2 id="spend">Spend</h2><dl class="spend-detail">'
        + "".join(f"<dt>{escape(k)}</dt><dd>{v}</dd>" for k, v in items)
        + '</dl><table class="budgets"><thead><tr><th>Budget</th><th>Credits</th><th>Spent</th>'
        f"<th>Left</th></tr></thead><tbody>{limits}</tbody></table>"
    )
    dry = spend.get("dry_run")
    if dry:
        objects = dry.get("objects") or {}
        verdict = (
            "would start"
            if dry.get("would_start")
            else "would not start: " + ", ".join(dry.get("blocked_by") or [])
        )
        checks = "".join(
            f'<tr class="check"><td>{_cell(check.get("check"))}</td>'
            f"<td>{_state(str(check.get('status')))}</td>"
            f"<td>{_cell(check.get('message'))}</td><td>{_cell(check.get('fix'))}</td></tr>"
            for check in dry.get("checks") or []
        )
        html += (
            f'<h2 id="dry-run">Dry run: {escape(verdict)}</h2>'
            f"<p>{_cell(objects.get('count'))} {_cell(objects.get('media_type'))} to process; skipped: "
            f"{_counts(objects.get('skipped') or {})}</p>"
            '<table class="checks"><thead><tr><th>Check</th><th>Status</th><th>What it found</th><th>Fix</th>'
            f"</tr></thead><tbody>{checks}</tbody></table>"
        )
    return html


def run_row(base: str, run: RunView) -> str:
    window = f"{run.window_start or '…'} → {run.window_end or '…'}"
    return (
        f'<tr class="run" data-run-id="{escape(run.run_id)}">'
        f'<td><a class="run-link" href="{escape(run_link(base, run))}">{escape(run.run_id)}</a></td>'
        f"<td>{escape(window)}</td><td>{_state(run.state)}</td>"
        f'<td class="num found">{_cell(run.found)}</td><td class="num skipped">{_cell(run.skipped)}</td>'
        f'<td class="num staged">{_cell(run.staged)}</td><td class="num failed">{_cell(run.failed)}</td>'
        f'<td class="failed-by-type">{_counts(run.failed_by_type)}</td>'
        f'<td class="job">{job_cell(run)}</td><td class="job-state">{progress_cell(run)}</td>'
        f"{spend_cell(run)}{results_cells(base, run)}</tr>"
    )


def page(title: str, body: str, style: str = "") -> str:
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
        f"<style>{STYLE}{style}</style></head><body>{body}</body></html>"
    )


def overview_page(
    base: str,
    pipelines: Mapping[str, list[RunView]],
    notifications: list[dict[str, Any]],
    elapsed_ms: float,
    trends: bool = True,
) -> str:
    """Every pipeline's recent runs, with its trend charts unless ``trends`` is off."""
    head = "".join(f"<th>{h}</th>" for h in RUN_HEADERS)
    sections = []
    for dag_id, runs in pipelines.items():
        rows = "".join(run_row(base, run) for run in runs) or (
            f'<tr><td colspan="{len(RUN_HEADERS)}" class="muted">no runs yet</td></tr>'
        )
        sections.append(
            f'<section class="pipeline" data-dag-id="{escape(dag_id)}"><h2>{escape(dag_id)}</h2>'
            f"{trend_strip(runs) if trends else ''}"
            f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></section>"
        )
    if not sections:
        sections.append('<p class="muted">No Roboflow pipelines you may read.</p>')
    body = (
        "<h1>Roboflow pipelines</h1>"
        + "".join(sections)
        + notifications_table(notifications)
        + f'<p class="muted">Rendered in {elapsed_ms:.0f} ms.</p>'
    )
    return page("Roboflow pipelines", body)


def trend_strip(runs: list[RunView]) -> str:
    """Small charts of the pipeline's runs shown (oldest left), with the latest value of each."""
    figures = "".join(
        f'<figure class="trend" data-series="{escape(series.key)}">{sparkline(series)}'
        f"<figcaption>{escape(series.label)}: "
        f'<span class="latest">{escape(format_value(series.latest, series.unit))}</span>'
        "</figcaption></figure>"
        for series in pipeline_trends(runs)
    )
    return f'<div class="trends">{figures}</div>' if figures else ""


def notifications_table(notifications: Iterable[Mapping[str, Any]]) -> str:
    rows = (
        "".join(
            f'<tr class="notification"><td>{_cell(n.get("received_at"))}</td><td>{_cell(n.get("type"))}</td>'
            f"<td>{_cell(n.get('batch_id'))}</td><td>{_cell(n.get('job_id'))}</td>"
            f"<td>{_cell(n.get('job_state'))}</td><td>{_cell(n.get('event_id'))}</td></tr>"
            for n in notifications
        )
        or '<tr><td colspan="6" class="muted">none received</td></tr>'
    )
    return (
        '<h2 id="notifications">Webhook notifications received</h2><table class="notifications"><thead><tr>'
        "<th>Received</th><th>Type</th><th>Batch</th><th>Job</th><th>Job state</th><th>Event id</th>"
        f"</tr></thead><tbody>{rows}</tbody></table>"
    )


def repair_section(base: str, run: RunView, may_trigger: bool) -> str:
    """The run's "Repair" action: re-process only the window's objects without a result.

    A POST form (the login cookie is SameSite=Lax, so another site cannot submit it), shown to users
    who may trigger the pipeline, for a run whose window was exported with objects left unprocessed.
    """
    parts = ['<h2 id="repair">Repair</h2>']
    if run.repair:
        repair = run.repair
        parts.append(
            f'<p class="repair-outcome">This run is repair {_cell(repair.get("number"))} of its window: '
            f"{_cell(repair.get('objects'))} object(s) taken again, {_cell(repair.get('processed', '…'))} "
            f"processed, {_cell(repair.get('still_failing', '…'))} still without a result.</p>"
        )
    if not (run.window_start and run.window_end and run.manifest_uri):
        parts.append('<p class="muted repair-note">A repair needs a window that was exported.</p>')
    elif not run.unprocessed:
        parts.append(
            '<p class="muted repair-note">Nothing to repair: every object of the window has its result.</p>'
        )
    elif not may_trigger:
        parts.append(
            f'<p class="muted repair-note">{int(run.unprocessed)} object(s) have no result; repairing them '
            "needs permission to trigger this pipeline.</p>"
        )
    else:
        action = f"{run_link(base, run)}/repair"
        parts.append(
            f'<form class="repair" method="post" action="{escape(action)}">'
            '<button type="submit">Repair</button> '
            f"<span>re-process only the {int(run.unprocessed)} object(s) of window "
            f"{escape(run.window_start)} → {escape(run.window_end)} that failed or have no result, in a "
            "child batch and job, and merge them into the window's manifest</span></form>"
        )
    return "".join(parts)


def run_page(
    base: str,
    run: RunView,
    notifications: list[dict[str, Any]],
    gallery: str = "",
    style: str = "",
    *,
    may_trigger: bool = False,
    triggered_from: str | None = None,
) -> str:
    """The run's details, its gallery (already rendered HTML), its Repair action and its notifications."""
    window = f"{run.window_start or '…'} → {run.window_end or '…'}"
    items = [
        ("Pipeline", escape(run.dag_id)),
        ("Run", f'<span class="run-id">{escape(run.run_id)}</span>'),
        ("Window", escape(window)),
        ("State", _state(run.state)),
        ("Objects found", f'<span class="found">{_cell(run.found)}</span>'),
        ("Skipped", f'<span class="skipped">{_cell(run.skipped)}</span> {_counts(run.skipped_by_reason)}'),
        ("Staged", f'<span class="staged">{_cell(run.staged)}</span>'),
        ("Failed", f'<span class="failed">{_cell(run.failed)}</span>'),
        ("Failures by type", f'<span class="failed-by-type">{_counts(run.failed_by_type)}</span>'),
        ("Roboflow job", f'<span class="job">{job_cell(run)}</span>'),
        ("Job state", f'<span class="job-state">{progress_cell(run)}</span>'),
        ("Destination", _cell(run.destination)),
    ]
    if run.manifest_uri:
        rows = f"{run.result_rows} rows" if run.result_rows is not None else "results"
        items.append(("Results", _file_link(base, run, "results", rows)))
        items.append(("Manifest", _file_link(base, run, "manifest", "manifest.json")))
        items.append(("Reconciled", _cell(run.reconciled)))
    order = {task: index for index, task in enumerate(STEP_TASKS)}
    ordered = sorted(run.task_states.items(), key=lambda item: order.get(item[0], len(order)))
    steps = "".join(f"<li>{escape(t)}: {_state(s)}</li>" for t, s in ordered)
    notice = (
        f'<p class="notice">Repair triggered from run {escape(triggered_from)}: this is the new run. The '
        "Airflow page around this view still shows the run you came from; pick the new run in its grid "
        "to follow it there.</p>"
        if triggered_from
        else ""
    )
    body = (
        f"<h1>Roboflow: {escape(run.dag_id)}</h1>{notice}<dl class='run-detail'>"
        + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in items)
        + f"</dl>{spend_section(run)}{gallery}<h2>Steps</h2><ul>{steps}</ul>"
        + repair_section(base, run, may_trigger)
        + notifications_table(notifications)
    )
    return page(f"Roboflow run {run.run_id}", body, style)


def document_page(title: str, rows: list[tuple[str, Any]], source: str) -> str:
    body = "".join(f"<tr><th>{escape(k)}</th><td>{_cell(v)}</td></tr>" for k, v in rows)
    return page(
        title,
        f"<h1>{escape(title)}</h1><p class='muted'>{escape(source)}</p><table class='doc'>{body}</table>",
    )
