"""Cross-checks of every indicator implementation, and ``python -m engine verify``.

Five implementations compute the same indicators: Python batch
(``engine.indicators``), Python streaming (``engine.indicators.streaming``),
OCaml batch and OCaml streaming (``bridge.OcamlIndicators``) and TA-Lib 0.7.1
(``talib.func``; never ``talib.stream``, whose wrapper ≤ 0.7.1 is wrong). Each is
wrapped as an ``Implementation`` that turns a list of ``Job``s into ``Run``s (all
jobs of one call share a round trip where the implementation allows it);
``crosscheck`` compares every pair with ``engine.indicators.contract``.
``verify/`` drives this with hypothesis; ``verify_main`` with one data set.
"""

from __future__ import annotations

import argparse
import difflib
import itertools
import json
import math
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import numpy as np
import numpy.typing as npt

from engine.errors import ConfigError, FeedError
from engine.indicators.contract import Report, compare

FloatArray = npt.NDArray[np.float64]
Params = tuple[int | float, ...]
Data = Mapping[str, FloatArray]
Outputs = tuple[FloatArray, ...]
STREAM_FIELDS = ("high", "low", "close", "volume")

EXIT_OK = 0
EXIT_CONTRACT = 1

#: TA-Lib twin of each indicator: function, keyword names in our parameter order,
#: fixed keywords (SMA smoothing for BBANDS and STOCH, as docs/design.md §3 says).
TALIB_TWINS: Mapping[str, tuple[str, tuple[str, ...], Mapping[str, int]]] = {
    "sma": ("SMA", ("timeperiod",), {}),
    "ema": ("EMA", ("timeperiod",), {}),
    "wma": ("WMA", ("timeperiod",), {}),
    "rsi": ("RSI", ("timeperiod",), {}),
    "macd": ("MACD", ("fastperiod", "slowperiod", "signalperiod"), {}),
    "bollinger": ("BBANDS", ("timeperiod", "nbdevup", "nbdevdn"), {"matype": 0}),
    "atr": ("ATR", ("timeperiod",), {}),
    "stoch": (
        "STOCH",
        ("fastk_period", "slowk_period", "slowd_period"),
        {"slowk_matype": 0, "slowd_matype": 0},
    ),
    "willr": ("WILLR", ("timeperiod",), {}),
    "cci": ("CCI", ("timeperiod",), {}),
    "adx": ("ADX", ("timeperiod",), {}),
    "mfi": ("MFI", ("timeperiod",), {}),
    "obv": ("OBV", (), {}),
    "roc": ("ROC", ("timeperiod",), {}),
    "mom": ("MOM", ("timeperiod",), {}),
}


@dataclass(frozen=True, slots=True)
class Job:
    """Indicator ``name(*params)`` over ``data``; streams take ``data[:split]`` as
    history and are updated bar by bar from ``split`` on."""

    name: str
    params: Params
    data: Data
    split: int = 0

    @property
    def length(self) -> int:
        """Number of bars."""
        return int(self.data["close"].shape[0])


@dataclass(frozen=True, slots=True)
class Run:
    """One implementation's answer to one job: outputs, or the error it raised.

    Outputs before ``start`` are unknown (a seeded stream reports nothing for
    its history except the last bar's value).
    """

    outputs: Outputs | None
    error: BaseException | None = None
    start: int = 0


class Implementation(Protocol):
    """Something that computes indicators: Python, OCaml or TA-Lib."""

    @property
    def label(self) -> str:
        """Short name used in tables and messages, e.g. ``python-batch``."""
        ...

    def run_all(self, jobs: Sequence[Job]) -> list[Run]:
        """One Run per job, in order; errors are caught into ``Run.error``."""
        ...


def _spec(name: str) -> Any:
    from engine.indicators.registry import SPECS

    return SPECS[name]


def _as_outputs(value: object) -> Outputs:
    if isinstance(value, np.ndarray):
        return (value.astype(np.float64, copy=False),)
    return tuple(np.asarray(v, dtype=np.float64) for v in value)  # type: ignore[attr-defined]


def _inputs(job: Job) -> list[FloatArray]:
    return [job.data[f] for f in _spec(job.name).inputs]


def _guard(fn: Callable[[Job], Run], job: Job) -> Run:
    try:
        return fn(job)
    except Exception as exc:  # the error itself is the result being compared
        return Run(None, exc)


class PythonBatch:
    """``engine.indicators`` batch functions (numpy)."""

    label = "python-batch"

    def run_all(self, jobs: Sequence[Job]) -> list[Run]:
        """Each job through the registry's batch function."""
        return [_guard(self._one, job) for job in jobs]

    @staticmethod
    def _one(job: Job) -> Run:
        return Run(_as_outputs(_spec(job.name).batch(*_inputs(job), *job.params)))


def _stream_value_into(outs: list[FloatArray], i: int, value: object) -> None:
    if value is None:
        return
    if isinstance(value, tuple):
        for k, v in enumerate(value):
            outs[k][i] = np.nan if v is None else float(v)
    else:
        outs[0][i] = float(value)  # type: ignore[arg-type]


class PythonStream:
    """``engine.indicators.streaming``: seeded with ``data[:split]``, then per bar."""

    label = "python-stream"

    def run_all(self, jobs: Sequence[Job]) -> list[Run]:
        """Each job through ``streaming.create`` and ``update_hlcv``."""
        return [_guard(self._one, job) for job in jobs]

    @staticmethod
    def _one(job: Job) -> Run:
        from engine.indicators import streaming

        n, s = job.length, job.split
        history = {f: job.data[f][:s] for f in STREAM_FIELDS}
        stream = streaming.create(job.name, job.params, history)
        outs = [np.full(n, np.nan) for _ in _spec(job.name).outputs]
        if s > 0:
            _stream_value_into(outs, s - 1, stream.value)
        h, lo, c, v = (job.data[f][s:].tolist() for f in STREAM_FIELDS)
        if all(np.isfinite(job.data[f][s:]).all() for f in STREAM_FIELDS):
            update = stream.update_hlcv  # the runner's fast path (bars are validated)
            for i, bar in enumerate(zip(h, lo, c, v, strict=True), start=s):
                _stream_value_into(outs, i, update(*bar))
        else:  # update() validates what update_hlcv trusts
            for i, bar in enumerate(zip(h, lo, c, v, strict=True), start=s):
                _stream_value_into(outs, i, stream.update(_Bar(*bar)))
        return Run(tuple(outs), start=max(0, s - 1))


class _Bar(NamedTuple):
    high: float
    low: float
    close: float
    volume: float


class Talib:
    """TA-Lib 0.7.1's ``talib.func`` (the reference semantics)."""

    label = "talib"

    def __init__(self) -> None:
        import talib

        self._func = talib

    def run_all(self, jobs: Sequence[Job]) -> list[Run]:
        """Each job through its TA-Lib twin."""
        return [_guard(self._one, job) for job in jobs]

    def _one(self, job: Job) -> Run:
        fname, keys, fixed = TALIB_TWINS[job.name]
        kwargs: dict[str, int | float] = dict(zip(keys, job.params, strict=True))
        kwargs.update(fixed)
        inputs = _inputs(job)
        if all(x.size == 0 for x in inputs):
            # The 0.7.1 wrapper writes before its output buffer on empty input when
            # the lookback is 0 (STOCH(1,1,1), OBV): heap corruption. Check the
            # parameters on one bar instead and answer with empty outputs.
            out = getattr(self._func, fname)(*[np.ones(1) for _ in inputs], **kwargs)
            return Run(tuple(np.empty(0) for _ in _as_outputs(out)))
        return Run(_as_outputs(getattr(self._func, fname)(*inputs, **kwargs)))


def _groups(jobs: Sequence[Job], key: Callable[[Job], object]) -> list[list[int]]:
    """Indices of ``jobs`` grouped by ``key`` (first-seen order)."""
    groups: dict[object, list[int]] = {}
    for i, job in enumerate(jobs):
        groups.setdefault(key(job), []).append(i)
    return list(groups.values())


def _run_grouped(
    jobs: Sequence[Job],
    key: Callable[[Job], object],
    many: Callable[[Sequence[Job]], list[Run]],
) -> list[Run]:
    """Runs each group in one call; a group that raises is re-run job by job so
    that every error lands on the job that caused it."""
    runs: list[Run | None] = [None] * len(jobs)
    for idx in _groups(jobs, key):
        group = [jobs[i] for i in idx]
        try:
            results = many(group)
        except Exception:
            results = [_guard(lambda j: many([j])[0], j) for j in group]
        for i, r in zip(idx, results, strict=True):
            runs[i] = r
    return [r for r in runs if r is not None]


class OcamlBatch:
    """The OCaml server's batch functions: jobs over the same data share one round trip."""

    label = "ocaml-batch"

    def __init__(self, client: Any) -> None:
        self._client = client

    def run_all(self, jobs: Sequence[Job]) -> list[Run]:
        """All jobs over one series in one ``batch`` request."""
        return _run_grouped(jobs, lambda j: id(j.data), self._many)

    def _many(self, jobs: Sequence[Job]) -> list[Run]:
        data = jobs[0].data
        series = {f: data[f] for f in STREAM_FIELDS}
        results = self._client.batch([(j.name, j.params) for j in jobs], **series)
        return [Run(_as_outputs(r)) for r in results]


class OcamlStream:
    """OCaml streams, opened with ``data[:split]`` as history and then pushed bar by
    bar (one round trip per bar for all streams over the same data).

    With ``max_push``, at most that many bars are pushed: the split moves to
    ``length - max_push`` if that is later (the seeding runs inside OCaml).
    """

    label = "ocaml-stream"

    def __init__(self, client: Any, max_push: int | None = None) -> None:
        self._client = client
        self._max_push = max_push

    def _split(self, job: Job) -> int:
        if self._max_push is None:
            return job.split
        return max(job.split, job.length - self._max_push)

    def run_all(self, jobs: Sequence[Job]) -> list[Run]:
        """Each job through ``open_stream`` and ``push_many``."""
        return _run_grouped(jobs, lambda j: (id(j.data), self._split(j)), self._many)

    def _many(self, jobs: Sequence[Job]) -> list[Run]:
        data, s = jobs[0].data, self._split(jobs[0])
        n = jobs[0].length
        history = {f: data[f][:s] for f in STREAM_FIELDS}
        handles = []
        try:
            for job in jobs:
                handles.append(self._client.open_stream(job.name, job.params, history))
            outs = [[np.full(n, np.nan) for _ in h.outputs] for h in handles]
            if s > 0:
                for o, h in zip(outs, handles, strict=True):
                    _stream_value_into(o, s - 1, h.initial)
            cols = [data[f].tolist() for f in STREAM_FIELDS]
            push = self._client.push_many
            for i in range(s, n):
                values = push(handles, cols[0][i], cols[1][i], cols[2][i], cols[3][i])
                for o, v in zip(outs, values, strict=True):
                    _stream_value_into(o, i, v)
        finally:
            for h in handles:
                self._client.close_stream(h)
        return [Run(tuple(o), start=max(0, s - 1)) for o in outs]


def talib_available() -> bool:
    """True when the ``talib`` wheel can be imported."""
    try:
        import talib  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class PairResult:
    """How two implementations agree on one job."""

    job: Job
    a: str
    b: str
    report: Report | None  # None when either side raised
    problem: str | None  # why the pair fails, None when it agrees

    @property
    def ok(self) -> bool:
        """True when the pair agrees."""
        return self.problem is None


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _masked(run: Run, start: int) -> Outputs:
    assert run.outputs is not None
    if start == 0:
        return run.outputs
    out = tuple(o.copy() for o in run.outputs)
    for o in out:
        o[:start] = np.nan
    return out


def compare_runs(job: Job, a: tuple[str, Run], b: tuple[str, Run]) -> PairResult:
    """Compare two Runs of one valid job: both must succeed and agree."""
    (la, ra), (lb, rb) = a, b
    if ra.error is not None or rb.error is not None:
        parts = [f"{lbl} raised {_error_text(r.error)}" for lbl, r in (a, b) if r.error]
        parts += [f"{lbl} returned values" for lbl, r in (a, b) if r.error is None]
        return PairResult(job, la, lb, None, "; ".join(parts))
    start = max(ra.start, rb.start)
    spec = _spec(job.name)
    report = compare(
        job.name, _masked(ra, start), _masked(rb, start), _inputs(job), outputs=spec.outputs
    )
    fail = report.first_failure
    return PairResult(job, la, lb, report, None if fail is None else fail.describe())


def crosscheck(jobs: Sequence[Job], impls: Sequence[Implementation]) -> list[list[PairResult]]:
    """Every pair of ``impls`` on every job: ``result[job][pair]``."""
    runs = [impl.run_all(jobs) for impl in impls]
    out: list[list[PairResult]] = []
    for j, job in enumerate(jobs):
        labelled = [(impl.label, runs[k][j]) for k, impl in enumerate(impls)]
        out.append([compare_runs(job, x, y) for x, y in itertools.combinations(labelled, 2)])
    return out


# --- python -m engine verify -------------------------------------------------------


def bars_to_arrays(bars: Iterable[Any]) -> dict[str, FloatArray]:
    """Columns "open", "high", "low", "close", "volume" of validated ``Bar``s."""
    cols: dict[str, list[float]] = {f: [] for f in ("open", *STREAM_FIELDS)}
    appends = [(f, cols[f].append) for f in cols]
    for bar in bars:
        for f, append in appends:
            append(getattr(bar, f))
    return {f: np.asarray(v, dtype=np.float64) for f, v in cols.items()}


def load_data(args: argparse.Namespace) -> tuple[dict[str, FloatArray], str]:
    """The verify data set: ``--data`` CSV (header or Binance kline, through CsvFeed,
    so bad rows are rejected as in a run) or ``--bars`` simulated bars (SimulatedFeed)."""
    from engine.market.feeds.csv_feed import CsvFeed
    from engine.market.feeds.simulated import SimulatedFeed

    if args.bars is not None and args.bars < 1:
        raise ConfigError(f"--bars: must be at least 1, got {args.bars}")
    if args.data:
        feed: Any = CsvFeed(args.data)  # --bars only sizes the simulated series
        data = bars_to_arrays(feed.iter_bars())
        rejected = feed.stats.rejected_bars
        source = f"{args.data}" + (f" ({rejected} rejected rows skipped)" if rejected else "")
    else:
        feed = SimulatedFeed(["BTCUSDT"], seed=args.seed, bars=args.bars)
        data, source = bars_to_arrays(feed.iter_bars()), f"simulated BTCUSDT, seed {args.seed}"
    if data["close"].size == 0:
        raise FeedError(f"{args.data}: no valid bars to verify")
    return data, source


def select_indicators(spec: str | None) -> list[str]:
    """The registry's names, or the comma-separated subset ``spec`` (validated)."""
    from engine.indicators.registry import SPECS

    if spec is None:
        return list(SPECS)
    names = [s.strip().lower() for s in spec.split(",") if s.strip()]
    for n in names:
        if n not in SPECS:
            close = difflib.get_close_matches(n, list(SPECS), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"--indicators: unknown indicator {n!r}{hint} (known: {', '.join(SPECS)})"
            )
    if not names:
        raise ConfigError("--indicators: empty list")
    return names


def default_jobs(names: Sequence[str], data: Data) -> list[Job]:
    """One job per indicator with the registry's default parameters."""
    return [Job(n, tuple(p.default for p in _spec(n).params), data) for n in names]


def _summary_rows(results: list[list[PairResult]]) -> list[dict[str, Any]]:
    rows = []
    for pairs in results:
        for pr in pairs:
            rep = pr.report
            rows.append(
                {
                    "indicator": pr.job.name,
                    "params": list(pr.job.params),
                    "pair": f"{pr.a} vs {pr.b}",
                    "compared": rep.compared if rep else 0,
                    "max_scaled_error": _finite_or_none(rep.max_scaled_error if rep else None),
                    "max_ulp": rep.max_ulp if rep else None,
                    "bit_identical": rep.bit_identical_share if rep else 0.0,
                    "ok": pr.ok,
                    "problem": pr.problem,
                }
            )
    return rows


_SHORT = {
    "python-batch": "py-batch",
    "python-stream": "py-stream",
    "ocaml-batch": "oc-batch",
    "ocaml-stream": "oc-stream",
}


def _short_pair(pair: str) -> str:
    a, b = pair.split(" vs ")
    return f"{_SHORT.get(a, a)} / {_SHORT.get(b, b)}"


def _print_table(rows: list[dict[str, Any]], title: str, caption: str) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, caption=caption, box=box.SIMPLE_HEAD)
    table.add_column("indicator", no_wrap=True)
    table.add_column("pair", no_wrap=True)
    for col in ("compared", "max scaled err", "max ULP", "bit-identical"):
        table.add_column(col, justify="right", no_wrap=True)
    table.add_column("contract")
    previous = None
    for r in rows:
        label = f"{r['indicator']}({','.join(str(p) for p in r['params'])})"
        if previous is not None and label != previous:
            table.add_section()
        table.add_row(
            label if label != previous else "",
            _short_pair(r["pair"]),
            str(r["compared"]),
            "-" if r["max_scaled_error"] is None else f"{r['max_scaled_error']:.3g}",
            "-" if r["max_ulp"] is None else str(r["max_ulp"]),
            f"{100.0 * r['bit_identical']:.2f}%" if r["compared"] else "-",
            _verdict(r),
        )
        previous = label
    console = Console()
    if not console.is_terminal:
        console = Console(width=140)
    console.print(table)


def _verdict(row: dict[str, Any]) -> str:
    if not row["ok"]:
        return f"[bold red]FAIL[/] {row['problem']}"
    # Nothing compared proves nothing: say so rather than "ok".
    return "ok" if row["compared"] else "n/a: series shorter than the lookback"


#: The verify command pushes at most this many bars to each OCaml stream, one round
#: trip per bar (~0.1 ms); the earlier bars seed the stream inside the server.
VERIFY_MAX_PUSH = 10_000


def _implementations(ocaml: Any) -> list[Implementation]:
    impls: list[Implementation] = [PythonBatch(), PythonStream()]
    if ocaml is not None:
        impls += [OcamlBatch(ocaml), OcamlStream(ocaml, max_push=VERIFY_MAX_PUSH)]
    if talib_available():
        impls.append(Talib())
    return impls


def verify_main(args: argparse.Namespace) -> int:
    """``python -m engine verify``: 0 = contract holds, 1 = it fails (2 via TandemError)."""
    from bridge import OcamlIndicators

    names = select_indicators(args.indicators)
    data, source = load_data(args)
    jobs = default_jobs(names, data)
    with OcamlIndicators() as ocaml:
        results = crosscheck(jobs, _implementations(ocaml))
    rows = _summary_rows(results)
    ok = all(r["ok"] for r in rows)
    if args.json:
        doc = {"source": source, "bars": jobs[0].length, "ok": ok, "rows": rows}
        print(json.dumps(doc))
    else:
        caption = (
            "scaled error = |a-b| / contract bound (<= 1 passes); py = Python, oc = OCaml; "
            f"OCaml streams are pushed the last {min(VERIFY_MAX_PUSH, jobs[0].length)} bars "
            "after seeding"
        )
        _print_table(rows, f"Tandem verify: {jobs[0].length} bars, {source}", caption)
        empty = sum(1 for r in rows if not r["compared"])
        if empty:
            print(
                f"note: {empty} of {len(rows)} comparisons had no values to compare "
                f"(the {jobs[0].length}-bar series is shorter than their lookback)",
                file=sys.stderr,
            )
        print("agreement contract: " + ("holds" if ok else "FAILS"), file=sys.stdout)
    return EXIT_OK if ok else EXIT_CONTRACT


def _finite_or_none(value: float | None) -> float | None:
    """JSON has no infinity: an unbounded error is reported as null."""
    return value if value is not None and math.isfinite(value) else None
