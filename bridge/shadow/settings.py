"""Shadow mode's settings, counters and rate-limited log (no I/O but logging)."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from engine.run.config import ShadowOptions

log = logging.getLogger("tandem.shadow")

_OPTIONS = ShadowOptions()

#: Bars kept per symbol so that streams can be re-seeded exactly after a restart.
RETAIN_BARS = 1_000_000


class MismatchSink(Protocol):
    """Where mismatches go (``engine.run.journal.Journal.record_mismatch``)."""

    def record_mismatch(
        self,
        symbol: str,
        timestamp: int,
        indicator: str,
        params: Sequence[int | float],
        output: str,
        python_value: float | None,
        ocaml_value: float | None,
        scaled_error: float | None,
        ulp_distance: int | None,
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class ShadowConfig:
    """Settings of shadow mode; the run's options (sample, timeout) default to
    ``engine.run.config.ShadowOptions``'s."""

    executable: str | None = None  # None: $TANDEM_OCAML_BIN, else the dune build output
    sample: float = _OPTIONS.sample  # share of bars compared, in (0, 1]
    timeout: float = _OPTIONS.timeout  # seconds per exchange with the server
    handshake_timeout: float = _OPTIONS.timeout
    retain_bars: int = RETAIN_BARS  # bars kept per symbol for exact re-seeding
    backoff_initial: float = 0.05
    backoff_max: float = 2.0
    max_faults: int = 5  # faults in a row (no good exchange between) before giving up
    queue_capacity: int = 50_000  # events before comparisons are dropped
    log_interval: float = 5.0  # seconds between rate-limited log lines


@dataclass(slots=True)
class ShadowStats:
    """Counters for the run summary."""

    compared: int = 0  # output values compared (NaN = NaN included)
    mismatches: int = 0  # pairs outside the contract
    errors: int = 0  # candidate faults (start, death, hang, corrupt reply, refusals)
    not_identical: int = 0  # pairs inside the contract but not bit-identical
    max_scaled_error: float = 0.0
    max_ulp: int = 0
    restarts: int = 0
    lost_streams: int = 0  # could not be re-seeded (history trimmed) or refused
    unchecked: int = 0  # bars not compared because the candidate was down
    round_trips: int = 0
    latencies: list[float] = field(default_factory=list)  # seconds per exchange
    per_request: list[float] = field(default_factory=list)  # seconds / requests in it
    worker_cpu_s: float = 0.0  # CPU time of the worker thread so far
    first_error: str | None = None


class RateLimitedLog:
    """At most one line per ``interval`` seconds per topic after the first few."""

    def __init__(self, interval: float, burst: int = 5) -> None:
        self.interval = interval
        self.burst = burst
        self._seen: dict[str, int] = {}
        self._suppressed: dict[str, int] = {}
        self._last: dict[str, float] = {}

    def warn(self, topic: str, message: str) -> None:
        """Log ``message`` unless ``topic`` has logged too much lately."""
        n = self._seen[topic] = self._seen.get(topic, 0) + 1
        now = time.monotonic()
        if n > self.burst and now - self._last.get(topic, -math.inf) < self.interval:
            self._suppressed[topic] = self._suppressed.get(topic, 0) + 1
            return
        hidden = self._suppressed.pop(topic, 0)
        suffix = f" ({hidden} similar {topic} not logged)" if hidden else ""
        self._last[topic] = now
        log.warning("%s%s", message, suffix)

    def finish(self) -> None:
        """Log how many lines were suppressed since the last one of each topic."""
        for topic, hidden in self._suppressed.items():
            log.warning("shadow: %d more %s not logged (see the journal)", hidden, topic)
        self._suppressed.clear()


def percentile(samples: Sequence[float], q: float, unit: float) -> float | None:
    """The ``q``-th percentile of ``samples`` (seconds) in ``unit`` (1e-3: ms):
    ``numpy.percentile``'s default (linear) method, in plain Python. Its first call
    in a process costs ≈ 8 ms (lazy imports), which the run's end used to wait for."""
    if not samples:
        return None
    ordered = sorted(samples)
    pos = (len(ordered) - 1) * (q / 100.0)  # numpy's order of operations
    k = math.floor(pos)
    a, b = ordered[k], ordered[min(k + 1, len(ordered) - 1)]
    t = pos - k
    # numpy's lerp: from the nearer end, so that t = 1 gives b exactly
    value = b - (b - a) * (1.0 - t) if t >= 0.5 else a + (b - a) * t
    return value / unit

