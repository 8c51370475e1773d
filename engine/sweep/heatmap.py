"""An SVG heatmap of a sweep's objective over two parameters.

Cell (x, y) shows the best (highest) objective of the runs with those two values —
over the other parameters and the symbols, when there are any. Colour runs from
red (lowest) through pale yellow to green (highest); a cell whose runs all failed
or had the objective undefined is grey and labelled "–". Each cell has a tooltip
(``<title>``) with its values.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from html import escape

CELL_W, CELL_H = 64, 30
LEFT, TOP, BOTTOM, RIGHT = 90, 30, 46, 20

Cell = tuple[object, object]


def cells(
    points: Sequence[tuple[Mapping[str, object], float | None]], x: str, y: str
) -> dict[Cell, float | None]:
    """(x value, y value) → the best defined objective there (None: none defined)."""
    out: dict[Cell, float | None] = {}
    for params, value in points:
        key = (params[x], params[y])
        prev = out.get(key)
        if key not in out or (value is not None and (prev is None or value > prev)):
            out[key] = value
    return out


def _colour(t: float) -> str:
    """t in [0, 1] → red (0), pale yellow (0.5), green (1)."""
    stops = ((0.0, (215, 48, 39)), (0.5, (255, 255, 191)), (1.0, (26, 152, 80)))
    for (t0, c0), (t1, c1) in itertools.pairwise(stops):
        if t <= t1:
            f = 0.0 if t1 == t0 else (t - t0) / (t1 - t0)
            r, g, b = (round(a + (b_ - a) * f) for a, b_ in zip(c0, c1, strict=True))
            return f"#{r:02x}{g:02x}{b:02x}"
    return "#1a9850"


def _sorted(values: set[object]) -> list[object]:
    try:
        return sorted(values)  # type: ignore[type-var]
    except TypeError:
        return sorted(values, key=str)


def heatmap_svg(
    points: Sequence[tuple[Mapping[str, object], float | None]], x: str, y: str, label: str
) -> str:
    """The heatmap of ``points`` ((params, objective) pairs) over params ``x`` and ``y``."""
    grid = cells(points, x, y)
    xs, ys = _sorted({k[0] for k in grid}), _sorted({k[1] for k in grid})
    defined = [v for v in grid.values() if v is not None]
    lo, hi = (min(defined), max(defined)) if defined else (0.0, 0.0)
    width, height = LEFT + CELL_W * len(xs) + RIGHT, TOP + CELL_H * len(ys) + BOTTOM
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="heatmap" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="{escape(label)} over {escape(x)} and {escape(y)}">']
    for j, yv in enumerate(reversed(ys)):
        cy = TOP + j * CELL_H
        parts.append(f'<text x="{LEFT - 6}" y="{cy + CELL_H / 2 + 4}" text-anchor="end">'
                     f'{escape(str(yv))}</text>')
        for i, xv in enumerate(xs):
            cx = LEFT + i * CELL_W
            value = grid.get((xv, yv))
            present = (xv, yv) in grid
            if value is None:
                fill, text = ("#d9d9d9" if present else "#ffffff"), ("–" if present else "")
            else:
                t = 0.5 if hi == lo else (value - lo) / (hi - lo)
                fill, text = _colour(t), f"{value:.3g}"
            tip = f"{x}={xv}, {y}={yv}: {label} {text or 'not run'}"
            parts.append(
                f'<g><title>{escape(tip)}</title><rect x="{cx}" y="{cy}" width="{CELL_W - 1}" '
                f'height="{CELL_H - 1}" fill="{fill}" data-value="{escape(text)}"/>'
                f'<text x="{cx + CELL_W / 2}" y="{cy + CELL_H / 2 + 4}" text-anchor="middle">'
                f'{escape(text)}</text></g>')
    base = TOP + CELL_H * len(ys)
    for i, xv in enumerate(xs):
        parts.append(f'<text x="{LEFT + i * CELL_W + CELL_W / 2}" y="{base + 16}" '
                     f'text-anchor="middle">{escape(str(xv))}</text>')
    parts.append(f'<text x="{LEFT + CELL_W * len(xs) / 2}" y="{base + 36}" '
                 f'text-anchor="middle" class="axis">{escape(x)}</text>')
    parts.append(f'<text x="14" y="{TOP + CELL_H * len(ys) / 2}" class="axis" '
                 f'transform="rotate(-90 14 {TOP + CELL_H * len(ys) / 2})" '
                 f'text-anchor="middle">{escape(y)}</text>')
    parts.append(f'<text x="{LEFT}" y="18" class="axis">{escape(label)} '
                 f'(best over the other parameters)</text></svg>')
    return "".join(parts)
