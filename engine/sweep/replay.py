"""``python -m engine report --sweep [SWEEP_ID]``: a journaled sweep, rendered again.

A sweep stores its ranked result (the object ``sweep --json`` prints) in the
``sweeps`` row when it ends (engine/sweep/store.py). This reads it back, without
taking the journal's writer lock (a run may be writing the same file), and renders
it as ``sweep`` does: the ranked table, ``--json`` or ``--html`` with the heatmap.
A sweep that never ended (killed) has no stored result: re-running its command
resumes it and stores one.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from engine.errors import ConfigError
from engine.run.config import ReportConfig
from engine.sweep.command import output


def load_sweep(journal: Path, sweep_id: int) -> tuple[int, str, dict[str, Any]]:
    """(id, status, result) of sweep ``sweep_id`` of ``journal`` (0: the latest).

    ConfigError, naming what is there, for a missing journal, a journal without
    sweeps, an unknown id or a sweep whose result was never stored."""
    if not journal.is_file():
        what = "is not a file" if journal.exists() else "does not exist"
        raise ConfigError(f"--journal {journal}: the journal {what}")
    try:
        with sqlite3.connect(f"file:{journal}?mode=ro", uri=True) as db:
            ids = [int(r[0]) for r in db.execute("SELECT id FROM sweeps ORDER BY id")]
            wanted = ids[-1] if sweep_id == 0 and ids else sweep_id
            row = db.execute("SELECT status, summary FROM sweeps WHERE id = ?",
                             (wanted,)).fetchone()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            raise ConfigError(f"--journal {journal}: no sweep was ever journaled here "
                              "(run `sweep --journal` first)") from None
        raise ConfigError(f"--journal {journal}: cannot read the sweeps: {exc}") from None
    if row is None:
        known = ", ".join(map(str, ids[-10:])) or "none"
        raise ConfigError(f"--sweep {sweep_id}: no such sweep in {journal} "
                          f"(latest ids: {known})")
    status, summary = str(row[0]), row[1]
    if summary is None:
        raise ConfigError(f"--sweep {wanted}: the sweep is {status} and stored no result yet; "
                          "re-run its sweep command to resume it")
    return wanted, status, json.loads(summary)


def sweep_report_main(config: ReportConfig) -> int:
    """The ``report --sweep`` command; returns the exit code (0)."""
    assert config.sweep is not None
    sweep_id, status, res = load_sweep(config.journal, config.sweep)
    if not config.json:
        print(f"Sweep {sweep_id} · {status}")
    output(res, html=config.html, json_line=config.json)
    if config.html is not None and not config.json:
        print(f"HTML report: {config.html}")
    return 0
