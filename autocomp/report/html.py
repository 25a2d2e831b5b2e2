"""The run report: one self-contained HTML file, `report.html` in the run folder.

Everything in it comes from the run store, so a report can be written for any run (finished,
still running, or killed) and written again later: `autocomp report RUN`. Runs write theirs
when they end. The charts need plotly (`pip install 'autocomp[report]'`); its JavaScript is
inlined once, so the file opens offline and can be mailed. Without plotly the report keeps
every table and says how to get the charts.

All text that came from a model or a kernel (plans, errors, code) is escaped: by the template's
autoescape for the tables, and by hand for chart hover text, which plotly renders as HTML.
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import Any

import jinja2

from autocomp.evaluation.result import EvalResult, MetricKind, Outcome
from autocomp.headline import headline
from autocomp.search.schedule import lineage
from autocomp.search.strategies import LABELS, extended_items, strategy_source
from autocomp.store.runstore import UNRELIABLE, RunStore
from autocomp.targets.peak import above_peak_warning

REPORT_NAME = "report.html"
TEMPLATES = Path(__file__).parent / "templates"
PLOTLY_HINT = "pip install 'autocomp[report]'"


def write_report(run_dir: Path, out: Path | None = None) -> Path:
    """Write the report of the run in `run_dir` (to `out`, default RUN/report.html); return its path."""
    store = RunStore.open(run_dir)
    try:
        facts = run_facts(store)
    finally:
        store.close()
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined)
    env.filters.update(measure=_measure, times=lambda x: f"{x:.2f}x" if x else "-",
                       percent=lambda x: f"{x * 100:.1f}%" if x is not None else "-",
                       strategy=lambda source: LABELS.get(source, ""))
    charts, missing = _charts(facts)
    path = out or Path(run_dir) / REPORT_NAME
    code_dir = Path(os.path.relpath(Path(run_dir) / "candidates", path.resolve().parent if out else Path(run_dir)))
    # the candidates' files carry their kernel language's suffix (.c, .py, .cu; RunStore.code_suffix)
    suffix = next((p.suffix for p in sorted((Path(run_dir) / "candidates").glob("*"))), ".c")
    page = env.get_template("report.html.j2").render(**facts, charts=charts, charts_missing=missing, code_dir=code_dir.as_posix(),
                                                     code_suffix=suffix)
    path.write_text(page)
    return path


def run_facts(store: RunStore) -> dict[str, Any]:
    """What the report shows, as plain data: the run, every candidate, the leader per iteration,
    the winner's schedule and checks, duels, model usage and the machines it was measured on."""
    info = store.run_info()
    extended = {i.name for i in extended_items(store)}
    stored = store.candidates()
    ids = {r["key"]: r["id"] for r in stored}
    rows = [{**_candidate(r, extended), "repair_of": ids.get(r["key"].rsplit("/", 1)[0]) if r["origin"] == "repair" else None}
            for r in stored]
    by_id = {r["id"]: r for r in rows}
    answer = store.best()
    best = by_id.get(answer[1]["id"]) if answer else None
    leaders = [{"iteration": b["iteration"], **_leader(by_id.get(b["best_id"]))} for b in store.beams()]
    root = next((r for r in rows if r["origin"] == "initial"), None)
    if root is not None and root["speedup"] is not None:
        leaders.insert(0, {"iteration": 0, **_leader(root)})
    checks = {kind: _last_for(store.events(kind), best) for kind in ("final_validation", "cold_validation")}
    found = store.evaluation(answer[1]["code_hash"]) if answer and answer[1]["code_hash"] else None
    recheck = store.last_check("final_validation", best["id"]) if best and best["origin"] != "initial" else None
    head = headline(found[0] if found else None, recheck)
    peaks = [r["utilization"] for r in ([best] if best else []) + [c for c in checks.values() if c]]
    return {
        "headline": head.model_dump(),
        "above_peak": above_peak_warning(max((u for u in peaks if u is not None), default=None), info["target"]),
        "run": {"dir": str(store.run_dir), "problem": info["problem"], "target": info["target"], "status": store.status(),
                "created": info["created"], "finished": info["finished"], "stop_reason": info.get("stop_reason"),
                "models": info["config"].get("models", []), "search": info["config"].get("search", {}),
                "eval": info["config"].get("eval", {})},
        "machines": list({(m.get("host"), m.get("hardware")): m for m in store.events("machine")}.values()),
        "candidates": rows, "leaders": leaders, "best": best, "initial": root,
        "schedule": [step.__dict__ for step in lineage(store, best["id"])] if best else [],
        "recheck": checks["final_validation"], "cold_check": checks["cold_validation"],
        "duels": [dict(d) for d in store.duels()], "final_duels": store.events("final_duel"),
        "llm": store.llm_usage(), "best_code": answer[1]["code"] if answer else None,
        "extended_menu": [i.__dict__ for i in extended_items(store)],
    }


def _measure(value: float | None, metric: str) -> str:
    """A latency in ms or a modeled cycle count, as the tables show them."""
    return MetricKind(metric).format(value)


def _candidate(row: Any, extended: set[str]) -> dict[str, Any]:
    details = json.loads(row["details_json"]) if row["details_json"] else {}
    metric, value, _ = (EvalResult(outcome=Outcome(row["outcome"]), latency_s=row["latency_s"], details=details).metric_values()
                        if row["outcome"] else (MetricKind.LATENCY, None, None))
    return {"id": row["id"], "iteration": row["iteration"], "parent_id": row["parent_id"], "origin": row["origin"],
            "menu_item": row["menu_item"], "plan_text": row["plan_text"], "plan_model": row["plan_model"],
            "strategy": strategy_source(row["menu_item"], row["plan_text"], extended),
            "code_model": row["code_model"], "outcome": row["outcome"] or ("no code" if row["code"] is None else "not evaluated"),
            "speedup": row["speedup"], "metric": metric, "value": value, "utilization": row["utilization"],
            "error": row["eval_error"] or row["error"], "caches": details.get("caches"), "has_code": row["code"] is not None,
            "unreliable": details.get(UNRELIABLE), "untimed": details.get("untimed")}


def _leader(row: dict[str, Any] | None) -> dict[str, Any]:
    return {"id": row["id"] if row else None, "speedup": row["speedup"] if row else None}


def _last_for(events: list[dict[str, Any]], best: dict[str, Any] | None) -> dict[str, Any] | None:
    """The latest check of the answer (a resumed run checks again): its result plus its metric and value."""
    mine = [e for e in events if best and e.get("candidate_id") == best["id"]]
    if not mine:
        return None
    result = mine[-1]["result"]
    metric, value, _ = EvalResult.model_validate(result).metric_values()
    return {**result, "metric": metric, "value": value}


def _charts(facts: dict[str, Any]) -> tuple[list[str], str | None]:
    """HTML fragments of the charts (plotly.js inlined in the first), or why there are none."""
    try:
        import plotly.graph_objects as go
    except ImportError:
        return [], f"charts need plotly: {PLOTLY_HINT}, then `autocomp report {facts['run']['dir']}`"
    figures = [_progress(go, facts), _outcomes(go, facts), _menu_items(go, facts)]
    return [fig.to_html(full_html=False, include_plotlyjs=(i == 0), config={"displaylogo": False})
            for i, fig in enumerate(f for f in figures if f is not None)], None


def _hover(row: dict[str, Any]) -> str:
    plan = (row["plan_text"] or "").strip().replace("\n", " ")
    plan = plan[:160] + ("…" if len(plan) > 160 else "")
    lines = [f"#{row['id']} (parent #{row['parent_id']})", f"menu item: {row['menu_item'] or '-'}",
             f"models: {row['plan_model'] or '-'} / {row['code_model'] or '-'}", f"plan: {plan or '-'}"]
    if row["error"]:
        lines.append(f"error: {row['error'][:160]}")
    return "<br>".join(html.escape(line) for line in lines)


def _progress(go: Any, facts: dict[str, Any]) -> Any:
    """Every correct candidate's speedup by iteration, and the leader's."""
    ok = [r for r in facts["candidates"] if r["speedup"]]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[r["iteration"] for r in ok], y=[r["speedup"] for r in ok], mode="markers", name="candidates",
                             text=[_hover(r) for r in ok], hovertemplate="%{text}<br>%{y:.2f}x<extra></extra>",
                             marker={"opacity": 0.6}))
    lead = [r for r in facts["leaders"] if r["speedup"]]
    fig.add_trace(go.Scatter(x=[r["iteration"] for r in lead], y=[r["speedup"] for r in lead], mode="lines+markers",
                             name="leader of the beam", line={"shape": "hv"}))
    fig.update_layout(title="Speedup over the initial code, per iteration (measured, same-process ratio)",
                      xaxis_title="iteration", yaxis_title="speedup vs initial code", yaxis_type="log", height=420)
    return fig


def _outcomes(go: Any, facts: dict[str, Any]) -> Any:
    """How the candidates of each iteration ended: ok, wrong answer, compile error, ..."""
    rows = [r for r in facts["candidates"] if r["origin"] != "initial"]
    if not rows:
        return None
    iterations = sorted({r["iteration"] for r in rows})
    fig = go.Figure()
    for outcome in sorted({r["outcome"] for r in rows}):
        counts = [sum(1 for r in rows if r["iteration"] == i and r["outcome"] == outcome) for i in iterations]
        fig.add_trace(go.Bar(x=iterations, y=counts, name=outcome))
    fig.update_layout(barmode="stack", title="Outcomes per iteration", xaxis_title="iteration", yaxis_title="candidates",
                      height=360)
    return fig


def _menu_items(go: Any, facts: dict[str, Any]) -> Any:
    """Per menu item: how often it was tried and how often its child beat its parent."""
    by_id = {r["id"]: r for r in facts["candidates"]}
    tried: dict[str, list[bool]] = {}
    for r in facts["candidates"]:
        if r["origin"] == "initial":
            continue
        parent = by_id.get(r["parent_id"])
        better = bool(r["speedup"] and parent and parent["speedup"] and r["speedup"] > parent["speedup"])
        tried.setdefault(html.escape(r["menu_item"] or "(unspecified)"), []).append(better)
    if not tried:
        return None
    names = sorted(tried, key=lambda n: -len(tried[n]))
    fig = go.Figure([go.Bar(y=names, x=[len(tried[n]) for n in names], name="tried", orientation="h"),
                     go.Bar(y=names, x=[sum(tried[n]) for n in names], name="faster than its parent", orientation="h")])
    fig.update_layout(barmode="group", title="Menu items: tried, and faster than the parent",
                      xaxis_title="candidates", height=max(300, 40 + 45 * len(names)), yaxis={"autorange": "reversed"})
    return fig
