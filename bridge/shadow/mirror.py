"""Shadow mode's picture of one symbol: its bars and its mirrored streams.

The OCaml streams must see exactly the bars the Python streams saw, from the
same first bar, or indicators with unbounded memory (EMA, RSI, ADX, OBV, …)
drift apart. So each symbol keeps a log of every bar since the oldest history
any of its streams was seeded with; after a server restart every stream is
re-opened from its own first bar and is bit-for-bit where it was.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain

import numpy as np
import numpy.typing as npt

from bridge import protocol as p
from engine.indicators.registry import SPECS, Tolerance
from engine.observer import IndicatorValue, Params

FloatArray = npt.NDArray[np.float64]
#: The values served for one bar: flat slots, or (name, params, value) per stream.
Served = Sequence[float | None] | Sequence[tuple[str, Params, IndicatorValue]]
FIELDS = p.FIELDS  # high, low, close, volume: the log's columns
_NAN = float("nan")


class BarLog:
    """Bars (high, low, close, volume) of one symbol, by global index, in chunks.

    Keeps at least ``capacity`` bars; older whole chunks are dropped, and
    ``since`` then returns None for a start that is gone.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.first = 0  # global index of the oldest retained bar
        self.end = 0  # global index after the newest bar
        self._chunks: list[FloatArray] = []

    def extend(self, rows: FloatArray) -> None:
        """Append an (n, 4) array of bars."""
        if len(rows):
            self._chunks.append(rows)
            self.end += len(rows)
        while self._chunks and self.end - self.first - len(self._chunks[0]) >= self.capacity:
            self.first += len(self._chunks.pop(0))

    def since(self, start: int) -> FloatArray | None:
        """Bars from global index ``start`` to the newest, or None if trimmed away."""
        if start < self.first:
            return None
        rows = np.concatenate(self._chunks) if self._chunks else np.empty((0, 4))
        if len(self._chunks) > 1:
            self._chunks = [rows]
        return rows[start - self.first :]

    def last(self) -> FloatArray | None:
        """The newest bar, or None when empty."""
        return self._chunks[-1][-1] if self._chunks else None


def history_rows(history: Mapping[str, FloatArray]) -> FloatArray:
    """The (n, 4) bar array of an IndicatorApi history mapping."""
    return np.column_stack([np.asarray(history[f], dtype=np.float64) for f in FIELDS])


@dataclass(slots=True, eq=False)
class MirrorStream:
    """One Python stream and its OCaml twin."""

    name: str
    params: Params
    outputs: tuple[str, ...]
    kind: Tolerance
    fields: tuple[int, ...]  # its input columns in the log
    start: int  # global log index of its first history bar
    field_max: FloatArray  # max |input| per column since ``start`` (scale of the bound)
    stream_id: int | None = None  # on the current server; None while not open there
    dead: str | None = None  # why it is no longer checked

    @property
    def label(self) -> str:
        """E.g. ``macd(12, 26, 9)``."""
        return f"{self.name}({', '.join(str(x) for x in self.params)})"

    @property
    def width(self) -> int:
        """Number of outputs."""
        return len(self.outputs)

    def scale(self) -> float:
        """``max(1, max|input|)`` of everything it has seen (docs/design.md §3)."""
        return max(1.0, float(self.field_max[list(self.fields)].max()))


def new_stream(name: str, params: Params, rows: FloatArray, start: int) -> MirrorStream:
    """A mirror of ``name(params)`` seeded with ``rows`` starting at log index ``start``."""
    spec = SPECS[name]
    fields = tuple(FIELDS.index(f) for f in spec.inputs)
    field_max = np.abs(rows).max(axis=0) if len(rows) else np.zeros(4)
    return MirrorStream(
        name, params, spec.outputs, spec.tolerance, fields, start, field_max
    )


def open_frame(stream: MirrorStream, rows: FloatArray, request_id: int) -> bytes:
    """An OPEN_STREAM request seeding ``stream`` with ``rows`` (only its inputs)."""
    series: list[FloatArray | None] = [None] * 4
    for f in stream.fields:
        series[f] = np.ascontiguousarray(rows[:, f], dtype=p.F64)
    job = p.Job(stream.name, tuple(float(x) for x in stream.params))
    parts = p.encode_series_request(p.Kind.OPEN_STREAM, request_id, series, [job])
    return b"".join(parts)


def flatten(value: IndicatorValue, width: int) -> list[float]:
    """A served value as ``width`` floats (NaN for no value)."""
    if value is None:
        return [_NAN] * width
    if isinstance(value, tuple):
        return [_NAN if x is None else x for x in value]
    return [value]


@dataclass(slots=True)
class Layout:
    """How a PUSH reply for the live streams of one symbol is laid out.

    With every stream answering OK, the reply body is fixed: count, then per
    stream an 8-byte entry header and its outputs. Viewed as float64 words,
    headers and values sit at known indices, so a batch of replies decodes
    with two numpy gathers.
    """

    live: list[int]  # indices into SymbolMirror.streams (and the served values)
    widths: list[int]
    ids_bytes: bytes
    words: int  # body size in 8-byte words
    header_idx: npt.NDArray[np.intp]
    header_expected: npt.NDArray[np.uint64]
    value_idx: npt.NDArray[np.intp]
    column_stream: npt.NDArray[np.intp]  # per output column: index into ``live``
    slot_idx: npt.NDArray[np.intp]  # per output column: its slot in IndicatorApi.values


def make_layout(streams: Sequence[MirrorStream]) -> Layout:
    """The PUSH layout of the streams that are open on the server and not dead."""
    live = [i for i, s in enumerate(streams) if s.stream_id is not None and s.dead is None]
    widths = [streams[i].width for i in live]
    header_idx: list[int] = []
    expected: list[int] = []
    value_idx: list[int] = []
    column_stream: list[int] = []
    word = 1  # word 0: count, 0
    for j, w in enumerate(widths):
        header_idx.append(word)
        expected.append(w << 8 | 1 << 32)  # status 0, n_outputs w, length 1
        value_idx.extend(range(word + 1, word + 1 + w))
        column_stream.extend([j] * w)
        word += 1 + w
    slots = np.cumsum([0] + [s.width for s in streams])
    slot_idx = [int(slots[i]) + k for i in live for k in range(streams[i].width)]
    ids = [streams[i].stream_id for i in live]
    return Layout(
        live=live,
        widths=widths,
        ids_bytes=struct.pack(f"<{len(ids)}I", *ids),
        words=word,
        header_idx=np.array(header_idx, dtype=np.intp),
        header_expected=np.array(expected, dtype=np.uint64),
        value_idx=np.array(value_idx, dtype=np.intp),
        column_stream=np.array(column_stream, dtype=np.intp),
        slot_idx=np.array(slot_idx, dtype=np.intp),
    )


def python_matrix(served: Sequence[Served], layout: Layout) -> FloatArray:
    """The served values of the live streams as (bars × output columns), NaN for none.

    A bar's values come either as IndicatorApi's flat slot list (every output
    of every stream, in open order) or as (name, params, value) per stream.
    The second form is built column by column (one list comprehension per
    stream), which is several times cheaper than flattening bar by bar.
    """
    if not isinstance(served[0][0], tuple):
        matrix = _slot_matrix(served)  # type: ignore[arg-type]
        # slot_idx is increasing: as long as the matrix is wide, it is 0, 1, … (no gather)
        return matrix if matrix.shape[1] == layout.slot_idx.size else matrix[:, layout.slot_idx]
    out = np.empty((len(served), int(layout.value_idx.size)))
    col = 0
    for i, w in zip(layout.live, layout.widths, strict=True):
        values = [row[i][2] for row in served]  # type: ignore[index]
        if w == 1:
            out[:, col] = values  # None becomes NaN
        else:
            nan = (_NAN,) * w
            out[:, col : col + w] = [nan if v is None else v for v in values]
        col += w
    return out


def _slot_matrix(served: Sequence[Sequence[float | None]]) -> FloatArray:
    """Flat slot lists as a (bars × slots) matrix, None as NaN."""
    width = len(served[0])
    if len(set(map(len, served))) == 1:
        try:  # the usual case after the warm-up: floats only, read in one C loop
            flat = np.fromiter(chain.from_iterable(served), np.float64, len(served) * width)
            return flat.reshape(len(served), width)
        except TypeError:  # a None somewhere
            pass
    return np.array(served, dtype=np.float64)  # None becomes NaN


@dataclass(slots=True)
class SymbolMirror:
    """One symbol: its bar log, its streams in the order the strategy opened them."""

    symbol: str
    log: BarLog
    streams: list[MirrorStream] = field(default_factory=list)
    layout: Layout | None = None
    last_timestamp: int = 0
    sample_acc: float = 0.0

    def live_layout(self) -> Layout:
        """The (cached) layout of the streams currently open on the server."""
        if self.layout is None:
            self.layout = make_layout(self.streams)
        return self.layout

    def sampled(self, rate: float) -> bool:
        """Deterministic sampling: exactly ``rate`` of the bars, evenly spread."""
        self.sample_acc += rate
        if self.sample_acc >= 1.0 - 1e-12:
            self.sample_acc -= 1.0
            return True
        return False
