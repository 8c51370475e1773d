"""``--watch``: hot reload of changed strategy files between bars.

The orchestrator calls ``StrategyReloader.check()`` before a bar; at most every
``interval_s`` it hashes each watched file (content, not modification time: a
same-size save within the file system's timestamp granularity must not be
missed) and, when the content changed, loads a new strategy instance for every
symbol using that file. Only when all of them load does the swap happen (positions, context and
indicator streams are kept by the runners). A version that fails to load is
logged and journaled; the old one keeps running, and the next change of the
file is tried again.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from engine.errors import TandemError
from engine.run.journal import Journal
from engine.run.runner import Strategy, SymbolRunner

log = logging.getLogger("tandem.run")

#: Builds a fresh strategy instance from ``path`` for ``symbol``.
StrategyLoader = Callable[[Path, str], Strategy]

def _digest(path: Path) -> str | None:
    """sha256 of the file's bytes; None when it cannot be read (e.g. mid-save)."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


class StrategyReloader:
    """Watches strategy files and swaps in new versions; see the module docstring."""

    def __init__(
        self,
        groups: Mapping[Path, Sequence[SymbolRunner]],
        load: StrategyLoader,
        journal: Journal,
        interval_s: float = 0.25,
    ) -> None:
        self._groups = {path: list(runners) for path, runners in groups.items()}
        self._load = load
        self._journal = journal
        self._interval = interval_s
        self._next_check = 0.0
        self._seen = {path: _digest(path) for path in self._groups}

    def check(self) -> None:
        """Reload changed files; at most once per ``interval_s`` (every call when 0)."""
        if self._interval:
            now = time.monotonic()
            if now < self._next_check:
                return
            self._next_check = now + self._interval
        for path, runners in self._groups.items():
            digest = _digest(path)
            if digest is not None and digest != self._seen[path]:
                self._seen[path] = digest
                self._reload(path, runners, digest)

    def _reload(self, path: Path, runners: Sequence[SymbolRunner], digest: str) -> None:
        if all(r.strategy.sha256 == digest for r in runners):
            return  # changed back to the running version
        try:
            fresh = [self._load(path, r.symbol) for r in runners]
        except (TandemError, OSError) as exc:
            self._failed(path, runners, exc)
            return
        for runner, strategy in zip(runners, fresh, strict=True):
            runner.replace_strategy(strategy)
        log.warning("%s: reloaded (sha256 %s) for %s", path, digest[:12], _names(runners))

    def _failed(self, path: Path, runners: Sequence[SymbolRunner], exc: Exception) -> None:
        message = f"reload of {path} failed, the previous version keeps running: {exc}"
        log.error("%s", message)
        for runner in runners:
            runner.stats.reload_errors += 1
            self._journal.record_strategy_error(runner.symbol, None, "reload", message, 0)


def _names(runners: Sequence[SymbolRunner]) -> str:
    return ", ".join(r.symbol for r in runners)
