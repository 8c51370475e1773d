"""A sweep's result: the ranking, and how it is shown (table, JSON, HTML).

``result`` builds one JSON-ready dict — the object ``--json`` prints, the
``sweeps.summary`` the journal keeps, and what the table and the HTML page are drawn
from. Ranking: runs with a defined objective, highest first (ties: grid order),
then finished runs whose objective is undefined (e.g. no trade), then failed runs.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any, TextIO

from engine.sweep.heatmap import heatmap_svg
from engine.sweep.walkforward import Row

#: (statistic, header) of the table's columns after the objective.
COLUMNS = (("return_pct", "Return %"), ("sharpe_ratio", "Sharpe"),
           ("max_drawdown_pct", "Max DD %"), ("trades", "Trades"),
           ("win_rate_pct", "Win %"), ("profit_factor", "PF"))
TABLE_ROWS = 20
HTML_ROWS = 500


def ranked(rows: Sequence[Row], objective: str) -> list[Row]:
    """``rows`` in rank order (module docstring)."""
    def key(r: Row) -> tuple[int, float, int]:
        value = r.objective(objective)
        group = 0 if value is not None else (1 if r.status == "finished" else 2)
        return group, -(value or 0.0), r.task.index
    return sorted(rows, key=key)


def row_json(rank: int, r: Row, objective: str) -> dict[str, Any]:
    """One ranked run as JSON."""
    return {"rank": rank, "symbol": r.task.symbol, "params": dict(r.task.params),
            "segment": r.task.segment, "status": r.status, "error": r.error,
            "objective": r.objective(objective), "run_id": r.run_id,
            "statistics": None if r.statistics is None else dict(r.statistics)}


def result(
    *, sweep_id: int, status: str, objective: str, maximize: str, rows: Sequence[Row],
    axes: Sequence[str], ran: int, skipped: int, rejected_bars: int,
    walk_forward: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The sweep's result object (see the module docstring)."""
    grid_rows = [r for r in rows if not r.task.out_of_sample]
    order = ranked(grid_rows, objective)
    runs = [row_json(i + 1, r, objective) for i, r in enumerate(order)]
    best = runs[0] if runs and runs[0]["objective"] is not None else None
    failed = sum(1 for r in rows if r.status != "finished")
    note = None
    if best is None:
        note = (f"the objective {maximize} ({objective}) is undefined for every run "
                "(e.g. no trade, or every run failed): nothing to rank")
    return {"sweep_id": sweep_id, "status": status, "maximize": maximize,
            "objective": objective, "axes": list(axes), "tasks": len(rows), "ran": ran,
            "skipped": skipped, "failed": failed, "rejected_bars": rejected_bars,
            "best": best, "note": note, "runs": runs, "walk_forward": walk_forward}


def _fmt(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1e6 else f"{value:,.0f}"
    return str(value)


def _params_text(params: Mapping[str, object]) -> str:
    return " ".join(f"{k}={v}" for k, v in params.items())


def render_table(res: Mapping[str, Any], file: TextIO | None = None) -> None:
    """The ranked table (top TABLE_ROWS) and the walk-forward folds, with rich."""
    from rich.console import Console
    from rich.table import Table

    out = file or sys.stdout
    console = Console(file=out, width=None if out.isatty() else 160)
    table = Table(title=f"sweep {res['sweep_id']}: {res['tasks']} runs ranked by "
                        f"{res['maximize']} ({res['status']})")
    columns = [(k, h) for k, h in COLUMNS if k != res["objective"]]
    for header in ("#", "params", "symbol", res["maximize"], *(h for _, h in columns), "status"):
        table.add_column(header, justify="left" if header in ("params", "symbol") else "right")
    for run in res["runs"][:TABLE_ROWS]:
        stats = run["statistics"] or {}
        seg = "" if run["segment"] is None else f" [seg {run['segment']}]"
        status = run["status"] if run["error"] is None else f"{run['status']}: {run['error'][:60]}"
        table.add_row(str(run["rank"]), _params_text(run["params"]) + seg, run["symbol"],
                      _fmt(run["objective"]), *(_fmt(stats.get(k)) for k, _ in columns), status)
    console.print(table)
    if len(res["runs"]) > TABLE_ROWS:
        console.print(f"… {len(res['runs']) - TABLE_ROWS} more (--json or --html for all)")
    console.print(f"ran {res['ran']}, already done {res['skipped']}, failed {res['failed']}")
    if res["note"]:
        console.print(f"[bold red]note:[/] {res['note']}")
    if res["walk_forward"]:
        _render_folds(console, res)


def _render_folds(console: Any, res: Mapping[str, Any]) -> None:
    from rich.table import Table

    obj = res["objective"]
    for symbol, wf in res["walk_forward"].items():
        table = Table(title=f"walk-forward {symbol}: in-sample vs out-of-sample {obj}")
        for header in ("fold", "bars in / out", "params", f"IS {obj}", f"OOS {obj}",
                       "IS return %", "OOS return %"):
            table.add_column(header, justify="right")
        for f in wf["folds"]:
            ins, oos = f["in_sample"] or {}, f["out_of_sample"] or {}
            bars = "{}-{} / {}-{}".format(*f["in_sample_bars"], *f["out_of_sample_bars"])
            table.add_row(str(f["fold"]), bars, _params_text(f["params"] or {}),
                          _fmt(ins.get(obj)), _fmt(oos.get(obj)), _fmt(ins.get("return_pct")),
                          _fmt(oos.get("return_pct")))
        console.print(table)
        console.print(f"stitched out-of-sample return: {_fmt(wf['stitched_return_pct'])} %")


CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
STYLE = """body{font:14px system-ui,sans-serif;margin:24px;color:#222}
table{border-collapse:collapse;margin:12px 0}td,th{padding:3px 8px;border-bottom:1px solid #ddd;
text-align:right}th{background:#f4f4f4}td.l,th.l{text-align:left}.note{color:#b00}
svg text{font:11px sans-serif}svg .axis{font-weight:bold}"""


def html_page(res: Mapping[str, Any], x: str | None, y: str | None) -> str:
    """The sweep's self-contained HTML page: heatmap, ranked runs, walk-forward."""
    obj = res["objective"]
    body = [f"<h1>Tandem sweep {res['sweep_id']}</h1>",
            f"<p>{res['tasks']} runs ranked by {escape(res['maximize'])} ({obj}); status "
            f"{escape(res['status'])}; failed {res['failed']}.</p>"]
    if res["note"]:
        body.append(f'<p class="note">{escape(res["note"])}</p>')
    if x is not None and y is not None:
        points = [({**r["params"], "symbol": r["symbol"]}, r["objective"]) for r in res["runs"]]
        body.append(f"<h2>{escape(obj)} over {escape(x)} and {escape(y)}</h2>")
        body.append(heatmap_svg(points, x, y, obj))
    body.append(_runs_table(res))
    if res["walk_forward"]:
        body.append(_folds_html(res))
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'>"
            f"<meta http-equiv='Content-Security-Policy' content=\"{CSP}\">"
            f"<title>Tandem sweep {res['sweep_id']}</title><style>{STYLE}</style></head>"
            f"<body>{''.join(body)}</body></html>")


def _runs_table(res: Mapping[str, Any]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in
                   ("#", "params", "symbol", res["maximize"], *(h for _, h in COLUMNS),
                    "status"))
    rows = []
    for run in res["runs"][:HTML_ROWS]:
        stats = run["statistics"] or {}
        cells = [str(run["rank"]), _params_text(run["params"]), run["symbol"],
                 _fmt(run["objective"]), *(_fmt(stats.get(k)) for k, _ in COLUMNS),
                 run["status"] + ("" if run["error"] is None else f": {run['error']}")]
        rows.append("<tr>" + "".join(
            f"<td{' class=l' if i in (1, 2, len(cells) - 1) else ''}>{escape(c)}</td>"
            for i, c in enumerate(cells)) + "</tr>")
    return f"<h2>Runs</h2><table><tr>{head}</tr>{''.join(rows)}</table>"


def _folds_html(res: Mapping[str, Any]) -> str:
    obj = res["objective"]
    out = ["<h2>Walk-forward</h2>"]
    for symbol, wf in res["walk_forward"].items():
        out.append(f"<h3>{escape(symbol)}</h3><table><tr><th>fold</th><th>in-sample bars</th>"
                   f"<th>out-of-sample bars</th><th class=l>params</th><th>IS {obj}</th>"
                   f"<th>OOS {obj}</th><th>IS return %</th><th>OOS return %</th></tr>")
        for f in wf["folds"]:
            ins, oos = f["in_sample"] or {}, f["out_of_sample"] or {}
            cells = [str(f["fold"]), "{}–{}".format(*f["in_sample_bars"]),
                     "{}–{}".format(*f["out_of_sample_bars"]), _params_text(f["params"] or {}),
                     _fmt(ins.get(obj)), _fmt(oos.get(obj)), _fmt(ins.get("return_pct")),
                     _fmt(oos.get("return_pct"))]
            out.append("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in cells) + "</tr>")
        out.append("</table>")
        out.append(f"<p>Stitched out-of-sample equity (return "
                   f"{_fmt(wf['stitched_return_pct'])} %):</p>")
        out.append(_line_svg(wf["stitched_equity"]))
    return "".join(out)


def _line_svg(values: Sequence[float], width: int = 900, height: int = 200) -> str:
    """A plain line chart of ``values`` (at most ``width`` points: every k-th is drawn)."""
    if not values:
        return "<p>(no out-of-sample run)</p>"
    step = max(1, len(values) // width)
    pts = list(values[::step]) + ([values[-1]] if (len(values) - 1) % step else [])
    lo, hi = min(pts), max(pts)
    span = hi - lo or 1.0
    xy = " ".join(f"{i * (width - 60) / max(1, len(pts) - 1) + 50:.1f},"
                  f"{(hi - v) / span * (height - 30) + 10:.1f}" for i, v in enumerate(pts))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="stitched" width="{width}" '
            f'height="{height}"><polyline fill="none" stroke="#1f77b4" points="{xy}"/>'
            f'<text x="4" y="14">{hi:,.0f}</text><text x="4" y="{height - 14}">{lo:,.0f}'
            f"</text></svg>")
